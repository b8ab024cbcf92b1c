"""Builders for ledger and mempool tests: fixed keys, bodies, signed txs, a tiny chain.

Keys come from fixed seeds (`key_from_seed`), times are fixed UTC instants, so every
transaction id, bundle id and root is the same on every run.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pytest

from greenchain.codec import encode
from greenchain.crypto.keys import KeyPair, key_from_seed
from greenchain.crypto.smt import EMPTY_ROOT
from greenchain.errors import GreenChainError
from greenchain.ledger.blocks import BlockEnv, BuiltBlock, ChainTip, build_block
from greenchain.ledger.context import TxContext
from greenchain.ledger.invariants import iterate_state_bundles
from greenchain.ledger.transactions import apply_tx
from greenchain.ledger.view import MemoryState, Overlay, StateView
from greenchain.model.blocks import PRECOMMIT, ZERO_HASH, Commit, CommitSig, make_vote
from greenchain.model.certificates import Bundle
from greenchain.model.codes import EECS_CODE_LISTS
from greenchain.model.fields import to_fields
from greenchain.model.genesis import Genesis, IssuingBody, Party
from greenchain.model.transactions import (
    Attest,
    Body,
    Export,
    Import,
    RegisterAccount,
    RegisterDevice,
    Retire,
    Transfer,
    Tx,
    Withdraw,
    make_tx,
)

CHAIN_ID = "greenchain-test"
ISSUER = key_from_seed("issuer")
ALICE = key_from_seed("alice")
BOB = key_from_seed("bob")
CAROL = key_from_seed("carol")
GATEWAY = key_from_seed("gateway")
"""Meter gateway key of the wind farm: attests for both turbines WT1 and WT2."""
OTHER_GATEWAY = key_from_seed("gateway-2")
VALIDATOR = key_from_seed("validator_0")
SMALL_ORDER_KEY = bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000")
"""The identity point: of small order, so a signature can verify for any message."""

DAY_S = 86_400
PRODUCTION_START_S = 1_425_168_000
"""2015-03-01T00:00:00Z, a UTC midnight."""
HOUR0 = PRODUCTION_START_S
"""Start of the first UTC hour of production (alias for readability)."""
GENESIS_TIME_MS = (PRODUCTION_START_S + 2 * DAY_S) * 1000
"""2015-03-03T00:00:00Z: late enough that two days of periods are in the past."""
NOW_MS = GENESIS_TIME_MS + 1000
"""Block time of the first block in unit tests."""
CAPACITY_W = 2_050_000
WT1, WT2 = "WT1", "WT2"

OTHER_ISSUER = key_from_seed("issuer-2")
"""A second issuing body (a neighbouring registry on the same chain)."""
GENESIS = Genesis(CHAIN_ID, GENESIS_TIME_MS, (Party("validator_0", VALIDATOR.public),),
                  (IssuingBody("issuer", ISSUER.public, "FR", "GC-TEST"),
                   IssuingBody("issuer-2", OTHER_ISSUER.public, "GB", "GC-TEST-2")), None,
                  EECS_CODE_LISTS)
ISSUING_BODIES = frozenset(p.pubkey for p in GENESIS.issuing_bodies)
CODE_LISTS = GENESIS.code_lists
SHORT_EXPIRY_S = 3 * DAY_S
"""The short expiry policy of the lifecycle tests: bundles of HOUR0 expire on 2015-03-04."""

_nonces = itertools.count(1)


# --- bodies and signed transactions ---------------------------------------------------
def sign(key: KeyPair, body: Body, nonce: int | None = None) -> Tx:
    """Sign `body` with `key`; without a nonce a fresh one makes every call a new tx."""
    return make_tx(key, CHAIN_ID, body, next(_nonces) if nonce is None else nonce)


def register_account(key: KeyPair | bytes, name: str = "holder") -> RegisterAccount:
    public = key if isinstance(key, bytes) else key.public
    return RegisterAccount(public, name)


def register_device(device_id: str = WT1, owner: KeyPair = ALICE, *,
                    gateway: bytes | None = None, capacity_w: int = CAPACITY_W,
                    latitude_udeg: int = 48_449_700, longitude_udeg: int = 5_589_600,
                    production_start_s: int = PRODUCTION_START_S) -> RegisterDevice:
    return RegisterDevice(device_id, f"turbine {device_id}",
                          GATEWAY.public if gateway is None else gateway, owner.public,
                          capacity_w, "F01050100", "T020001", "FR", latitude_udeg,
                          longitude_udeg, production_start_s)


def attest(device_id: str = WT1, start: int = HOUR0, end: int = HOUR0 + 600,
           energy_wh: int = 1000, register: tuple[int, int] | None = None) -> Attest:
    if register is None:
        return Attest(device_id, start, end, energy_wh)
    return Attest(device_id, start, end, energy_wh, register[0], register[1])


def withdraw(bundle_id: bytes, reason: str = "meter data correction") -> Withdraw:
    return Withdraw(bundle_id, reason)


def export(bundle_id: bytes, amount_wh: int, registry: str = "AIB-DE",
           account: str = "DE-ACME-1") -> Export:
    return Export(bundle_id, amount_wh, registry, account)


def import_(ext_start: int = 0, ext_end: int = 500, *, owner: KeyPair = ALICE,
            registry: str = "AIB-DE", device: str = "DE-WIND-7", start: int = HOUR0,
            end: int = HOUR0 + 3600, country: str = "DE", zone: str = "DE-LU",
            energy_source: str = "F01050100", technology: str = "T020002",
            support: str = "none", purpose: str = "disclosure",
            emissions_factor: int | None = 0) -> Import:
    """Import external certificates [ext_start, ext_end) of an offshore wind farm in DE."""
    return Import(registry, device, ext_start, ext_end, owner.public, start, end,
                  energy_source, technology, country, zone, support, purpose, emissions_factor)


def transfer(bundle_id: bytes, amount_wh: int, receiver: KeyPair | bytes = BOB) -> Transfer:
    return Transfer(bundle_id, amount_wh,
                    receiver if isinstance(receiver, bytes) else receiver.public)


def retire(bundle_id: bytes, amount_wh: int, beneficiary: str = "Cambridge Estates B2",
           consumption_start: int = HOUR0, consumption_end: int = HOUR0 + 3600) -> Retire:
    return Retire(bundle_id, amount_wh, beneficiary, consumption_start, consumption_end,
                  "disclosure", "GB")


def resign(tx: Tx, signature: bytes) -> Tx:
    """Return `tx` with another signature (and the envelope bytes to match)."""
    raw = encode([tx.type, tx.chain_id, tx.signer, tx.nonce, to_fields(tx.body), signature])
    return replace(tx, signature=signature, raw=raw)


def bad_signature(tx: Tx) -> Tx:
    """Return `tx` with one bit of S flipped: a well-formed signature that does not verify."""
    sig = bytearray(tx.signature)
    sig[40] ^= 0x01
    return resign(tx, bytes(sig))


def setup_txs() -> list[Tx]:
    """Accounts alice, bob, carol; WT1 owned by alice and WT2 owned by bob (one gateway)."""
    return [
        sign(ISSUER, register_account(ALICE, "alice")),
        sign(ISSUER, register_account(BOB, "bob")),
        sign(ISSUER, register_account(CAROL, "carol")),
        sign(ISSUER, register_device(WT1, ALICE)),
        sign(ISSUER, register_device(WT2, BOB)),
    ]


# --- applying transactions directly ---------------------------------------------------
def make_ctx(height: int = 2, time_ms: int = NOW_MS, expiry_s: int | None = None) -> TxContext:
    return TxContext(CHAIN_ID, height, time_ms, ISSUING_BODIES, expiry_s,
                     code_lists=CODE_LISTS)


def commit_txs(state: MemoryState, txs: Iterable[Tx], ctx: TxContext | None = None) -> None:
    """Apply `txs` (each must pass) and fold their writes into `state`."""
    overlay = Overlay(state)
    for position, tx in enumerate(txs):
        apply_tx(overlay, tx, ctx or make_ctx(), position)
    state.apply(overlay.writes)


def base_state() -> MemoryState:
    """A state holding `setup_txs()`, registered at height 1."""
    state = MemoryState()
    commit_txs(state, setup_txs(), make_ctx(height=1))
    return state


def issue(state: MemoryState, body: Attest, key: KeyPair = GATEWAY) -> Bundle:
    """Commit one attestation into `state` and return the bundle it issued."""
    tx = sign(key, body)
    commit_txs(state, [tx])
    return next(b for b in iterate_state_bundles(state) if b.issuance_tx == tx.tx_id)


def assert_refused(overlay: Overlay, tx: Tx, error: type[GreenChainError],
                   ctx: TxContext | None = None) -> GreenChainError:
    """Assert that `tx` fails with exactly `error` and leaves `overlay` and its base as before."""
    writes_before = dict(overlay.writes)
    base = overlay.base
    base_before = dict(base.data) if isinstance(base, MemoryState) else None
    with pytest.raises(error) as info:
        apply_tx(overlay, tx, ctx or make_ctx(), 0)
    assert type(info.value) is error
    assert overlay.writes == writes_before
    if base_before is not None:
        assert isinstance(base, MemoryState) and base.data == base_before
    return info.value


def bundles(state: MemoryState | Overlay) -> dict[bytes, Bundle]:
    """Every bundle in `state` (or in an overlay's writes over a MemoryState), by id."""
    if isinstance(state, Overlay):
        merged = MemoryState(dict(_base_data(state)))
        merged.apply(state.writes)
        state = merged
    return {b.bundle_id: b for b in iterate_state_bundles(state)}


def _base_data(overlay: Overlay) -> dict[bytes, bytes]:
    base: StateView = overlay.base
    assert isinstance(base, MemoryState), "bundles() needs an overlay over a MemoryState"
    return base.data


# --- a tiny chain of blocks -----------------------------------------------------------
def genesis_tip() -> ChainTip:
    return ChainTip(0, ZERO_HASH, GENESIS_TIME_MS, EMPTY_ROOT, GENESIS.genesis_hash)


def block_env(**changes: object) -> BlockEnv:
    env = BlockEnv(CHAIN_ID, ISSUING_BODIES, None, code_lists=CODE_LISTS)
    return replace(env, **changes)  # type: ignore[arg-type]


def sign_commit(height: int, block_hash: bytes, round_: int = 0) -> Commit:
    """A commit of one precommit by validator_0 (the ledger does not count quorums)."""
    vote = make_vote(VALIDATOR, CHAIN_ID, PRECOMMIT, height, round_, block_hash)
    return Commit(height, round_, block_hash, (CommitSig(VALIDATOR.public, vote.signature),))


@dataclass
class Chain:
    """A MemoryState and its tip, advanced block by block as a node would commit."""

    state: MemoryState = field(default_factory=MemoryState)
    tip: ChainTip = field(default_factory=genesis_tip)
    env: BlockEnv = field(default_factory=block_env)
    last_commit: Commit | None = None

    def next_time_ms(self) -> int:
        return self.tip.time_ms + 1000

    def build(self, txs: Iterable[Tx], time_ms: int | None = None) -> BuiltBlock:
        """Build the next block (not committed) from `txs`, dropping failures."""
        return build_block(self.state, txs, self.tip, self.env, VALIDATOR.public, 0,
                           self.next_time_ms() if time_ms is None else time_ms,
                           self.last_commit)

    def commit(self, built: BuiltBlock) -> None:
        """Persist a built (or applied) block's writes and move the tip to it."""
        self.state.apply(built.result.writes)
        self.state.apply(dict(built.result.node_writes))
        header = built.block.header
        self.tip = ChainTip(header.height, built.block.block_hash, header.timestamp_ms,
                            header.state_root, header.app_hash)
        self.last_commit = sign_commit(header.height, built.block.block_hash)

    def extend(self, txs: Iterable[Tx], time_ms: int | None = None) -> BuiltBlock:
        """Build and commit the next block; every tx must pass."""
        built = self.build(txs, time_ms)
        assert not built.rejected, [(tx.type, exc.rule) for tx, exc in built.rejected]
        self.commit(built)
        return built

    def copy_state(self) -> MemoryState:
        return MemoryState(dict(self.state.data))


def set_up_chain() -> Chain:
    """A chain whose block 1 holds `setup_txs()`."""
    chain = Chain()
    chain.extend(setup_txs())
    return chain

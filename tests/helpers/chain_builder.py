"""Deterministic test chains: keys from fixed seeds, a genesis, blocks committed to a store.

Usage::

    chain = ChainBuilder()                 # 4 validators, genesis at 2015-03-02T00:00Z
    chain.setup_plant()                    # accounts operator/retailer/trader + device WT1
    chain.attest(DEVICE_ID, PERIOD_START, PERIOD_START + 3600, 1000)
    block = chain.seal()                   # build_block + a commit of all validators
    chain.store, chain.genesis, chain.tip  # for the code under test

Every signature is deterministic (Ed25519), every key comes from a seed, every block time
is genesis time + 1 s per height unless given, so a scenario always gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from greenchain.crypto.keys import KeyPair, key_from_seed
from greenchain.crypto.smt import EMPTY_ROOT
from greenchain.ledger.blocks import BlockEnv, BuiltBlock, ChainTip, build_block
from greenchain.model.blocks import (
    PRECOMMIT,
    ZERO_HASH,
    Block,
    Commit,
    CommitSig,
    make_vote,
)
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.codes import EECS_CODE_LISTS
from greenchain.model.genesis import Genesis, IssuingBody, Party, genesis_to_json
from greenchain.model.transactions import (
    Attest,
    Body,
    RegisterAccount,
    RegisterDevice,
    Retire,
    Transfer,
    Tx,
    make_tx,
)
from greenchain.store.chain import ChainStore
from greenchain.store.kv import KV, MemoryKV

CHAIN_ID = "greenchain-test"
GENESIS_TIME_MS = 1_425_254_400_000
"""2015-03-02T00:00:00Z: after the sample production periods of 2015-03-01."""
DAY_S = 86_400
PERIOD_START = 1_425_168_000
"""2015-03-01T00:00:00Z, the first attestable hour of the scenarios."""
DEVICE_ID = "WT1"
PRODUCTION_START_S = 1_356_998_400
"""2013-01-01T00:00:00Z."""


@cache
def key(seed: str) -> KeyPair:
    """Return the deterministic key of `seed` ('issuer', 'operator', 'validator_0', ...)."""
    return key_from_seed(seed)


def validator_keys(n: int = 4) -> list[KeyPair]:
    """Return the keys of 'validator_0'..'validator_{n-1}', ordered by public key."""
    return sorted((key(f"validator_{i}") for i in range(n)), key=lambda k: k.public)


def make_genesis(validators: Sequence[KeyPair], issuers: Sequence[KeyPair] = (),
                 chain_id: str = CHAIN_ID, time_ms: int = GENESIS_TIME_MS) -> Genesis:
    """Return a genesis with the given validators (sorted by key) and issuing bodies."""
    seeds = {k.public: f"validator_{i}" for i, k in enumerate(validators)}
    parties = sorted((Party(seeds[k.public], k.public) for k in validators),
                     key=lambda p: p.pubkey)
    bodies = tuple(IssuingBody(f"issuer_{i}", k.public, "FR", f"GC-TEST-{i}")
                   for i, k in enumerate(issuers or [key("issuer")]))
    return Genesis(chain_id, time_ms, tuple(parties), bodies, None, EECS_CODE_LISTS)


def make_commit(block: Block, keys: Iterable[KeyPair], chain_id: str = CHAIN_ID,
                round_: int = 0) -> Commit:
    """Return a commit of `block` with precommits of `keys`, sorted by validator key."""
    header = block.header
    sigs = []
    for signer in sorted(keys, key=lambda k: k.public):
        vote = make_vote(signer, chain_id, PRECOMMIT, header.height, round_, block.block_hash)
        sigs.append(CommitSig(signer.public, vote.signature))
    return Commit(header.height, round_, block.block_hash, tuple(sigs))


class ChainBuilder:
    """Builds and commits blocks into a `ChainStore`, one `seal()` per height.

    Parameters
    ----------
    validators:
        Number of validators ('validator_0'.. seeds); every seal is committed by all of them
        unless `seal(signers=...)` says otherwise.
    kv:
        Backend of the store (a fresh `MemoryKV` by default).
    chain_id:
        The chain id.
    """

    def __init__(self, validators: int = 4, kv: KV | None = None,
                 chain_id: str = CHAIN_ID) -> None:
        self.validators = validator_keys(validators)
        self.issuer = key("issuer")
        self.genesis = make_genesis(self.validators, [self.issuer], chain_id)
        self.store = ChainStore(kv if kv is not None else MemoryKV())
        self.env = BlockEnv(chain_id, frozenset({self.issuer.public}), None,
                            code_lists=self.genesis.code_lists)
        self.tip = ChainTip(0, ZERO_HASH, GENESIS_TIME_MS, EMPTY_ROOT,
                            self.genesis.genesis_hash)
        self.pending: list[Tx] = []
        self.last_commit: Commit | None = None
        self.blocks: list[Block] = []
        self._nonce = 0

    @property
    def chain_id(self) -> str:
        """The chain id."""
        return self.genesis.chain_id

    # --- transactions ---------------------------------------------------------------
    def submit(self, signer: KeyPair, body: Body) -> Tx:
        """Sign `body` with a fresh nonce, queue it for the next block and return it."""
        self._nonce += 1
        tx = make_tx(signer, self.chain_id, body, self._nonce)
        self.pending.append(tx)
        return tx

    def register_account(self, holder: KeyPair, name: str) -> Tx:
        """Queue a register_account of `holder` by the issuer."""
        return self.submit(self.issuer, RegisterAccount(holder.public, name))

    def register_device(self, device_id: str = DEVICE_ID, owner: KeyPair | None = None,
                        gateway: KeyPair | None = None, capacity_w: int = 2_050_000) -> Tx:
        """Queue a register_device (a 2.05 MW onshore wind turbine in France)."""
        owner_key = (owner or key("operator")).public
        gateway_key = (gateway or key("gateway")).public
        body = RegisterDevice(device_id, f"La Haute Borne {device_id}", gateway_key, owner_key,
                              capacity_w, "F01050100", "T020001", "FR", 48_446_900, 5_593_000,
                              PRODUCTION_START_S)
        return self.submit(self.issuer, body)

    def attest(self, device_id: str, start: int, end: int, energy_wh: int,
               gateway: KeyPair | None = None) -> Tx:
        """Queue an attestation signed by the gateway key."""
        return self.submit(gateway or key("gateway"), Attest(device_id, start, end, energy_wh))

    def transfer(self, owner: KeyPair, bundle_id: bytes, amount_wh: int,
                 receiver: KeyPair) -> Tx:
        """Queue a transfer of the low `amount_wh` serials of a bundle."""
        return self.submit(owner, Transfer(bundle_id, amount_wh, receiver.public))

    def retire(self, owner: KeyPair, bundle_id: bytes, amount_wh: int,
               beneficiary: str = "Cambridge Estates B2") -> Tx:
        """Queue a retirement of the low `amount_wh` serials for March 2015 in GB."""
        body = Retire(bundle_id, amount_wh, beneficiary, PERIOD_START, PERIOD_START + 3600,
                      "disclosure", "GB")
        return self.submit(owner, body)

    # --- blocks ---------------------------------------------------------------------
    def seal(self, *, time_ms: int | None = None, round_: int = 0,
             signers: Sequence[KeyPair] | None = None, allow_rejects: bool = False) -> Block:
        """Build a block of the pending transactions, commit it to the store, return it.

        Raises
        ------
        AssertionError
            If a transaction was rejected and `allow_rejects` is False.
        """
        built = self.build(time_ms=time_ms, round_=round_)
        if built.rejected and not allow_rejects:
            rules = [(tx.type, exc.rule) for tx, exc in built.rejected]
            raise AssertionError(f"transactions rejected: {rules}")
        commit = make_commit(built.block, self.validators if signers is None else signers,
                             self.chain_id, round_)
        self.tip = self.store.commit_block(built.block, commit, built.result)
        self.last_commit = commit
        self.pending = []
        self.blocks.append(built.block)
        return built.block

    def build(self, *, time_ms: int | None = None, round_: int = 0) -> BuiltBlock:
        """Build (but do not commit) the next block from the pending transactions."""
        height = self.tip.height + 1
        proposer = self.validators[(height + round_) % len(self.validators)].public
        when = self.tip.time_ms + 1000 if time_ms is None else time_ms
        return build_block(self.store, list(self.pending), self.tip, self.env, proposer,
                           round_, when, self.last_commit)

    # --- scenarios ------------------------------------------------------------------
    def setup_plant(self) -> Block:
        """Register accounts operator, retailer, trader and device WT1 (owner operator)."""
        for name in ("operator", "retailer", "trader"):
            self.register_account(key(name), name.capitalize())
        self.register_device()
        return self.seal()


def bundle_id(start: int, end: int, device_id: str = DEVICE_ID) -> bytes:
    """Return the id of the bundle holding serials [start, end) of a device."""
    return compute_bundle_id(device_id, start, end)


@dataclass(frozen=True, slots=True)
class Scenario:
    """The provenance scenario: a chain and the facts the tests check against it."""

    chain: ChainBuilder
    """The committed chain."""
    heights: dict[str, int]
    """Height of each named event (setup, issue, split, whole, retire, rest, same_block)."""


def provenance_scenario(kv: KV | None = None) -> Scenario:
    """Build the chain the provenance tests (and CLI tests) use.

    Device WT1 (owner operator, gateway key 'gateway'):

    - h1 setup: accounts operator, retailer, trader; device WT1;
    - h2 issue: attest 00:00-01:00 = 1000 Wh -> [0, 1000); attest 01:00-02:00 = 800 Wh ->
      [1000, 1800); and in the same block operator transfers 300 of [1000, 1800) to retailer;
    - h3 split: operator transfers 600 of [0, 1000) to retailer: [0, 600) retailer,
      [600, 1000) stays with operator;
    - h4 whole: retailer transfers all of [0, 600) to trader;
    - h5 retire: trader retires 250 of [0, 600): [0, 250) retired, [250, 600) trader;
    - h6 rest: operator transfers 100 of [600, 1000) to trader: [600, 700) trader,
      [700, 1000) stays with operator.
    """
    chain = ChainBuilder(kv=kv)
    operator, retailer, trader = key("operator"), key("retailer"), key("trader")
    heights = {"setup": chain.setup_plant().header.height}
    chain.attest(DEVICE_ID, PERIOD_START, PERIOD_START + 3600, 1000)
    chain.attest(DEVICE_ID, PERIOD_START + 3600, PERIOD_START + 7200, 800)
    chain.transfer(operator, bundle_id(1000, 1800), 300, retailer)
    heights["issue"] = heights["same_block"] = chain.seal().header.height
    chain.transfer(operator, bundle_id(0, 1000), 600, retailer)
    heights["split"] = chain.seal().header.height
    chain.transfer(retailer, bundle_id(0, 600), 600, trader)
    heights["whole"] = chain.seal().header.height
    chain.retire(trader, bundle_id(0, 600), 250)
    heights["retire"] = chain.seal().header.height
    chain.transfer(operator, bundle_id(600, 1000), 100, trader)
    heights["rest"] = chain.seal().header.height
    return Scenario(chain, heights)


VECTOR_SERIAL = 100
"""The certificate of the good proof vector: WT1:100 (issued, split, whole, retired)."""


def write_proof_vector(directory: Path) -> None:
    """Write the good proof vector of `provenance_scenario` into `directory`.

    Files: ``good_split_transfer_retire.gcproof`` (the proof) and
    ``good_split_transfer_retire.json`` (genesis, certificate, expected report).
    """
    from greenchain.proof.build import build_provenance
    from greenchain.proof.verify import verify_provenance

    chain = provenance_scenario().chain
    proof = build_provenance(chain.store, DEVICE_ID, VECTOR_SERIAL)
    report = verify_provenance(proof, chain.genesis)
    meta = {"genesis": genesis_to_json(chain.genesis),
            "certificate": f"{DEVICE_ID}:{VECTOR_SERIAL}",
            "expected_report": report.to_dict()}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "good_split_transfer_retire.gcproof").write_bytes(proof)
    (directory / "good_split_transfer_retire.json").write_text(
        json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")

"""Deterministic load for the benchmark: actors, signed transactions, committed chains.

Every key comes from a fixed seed, every attestation gets its own (device, UTC hour), so
no two overlap, and transfers and retirements only touch bundles issued in earlier blocks.
The chains use the dev genesis (`greenchain.node.devnet`), so node processes started with
`write_network` homes accept them.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from greenchain.consensus.quorum import proposer_for
from greenchain.crypto.keys import KeyPair, key_from_seed
from greenchain.crypto.smt import EMPTY_ROOT
from greenchain.ledger.blocks import BlockEnv, BuiltBlock, ChainTip, build_block
from greenchain.model.blocks import PRECOMMIT, ZERO_HASH, Block, Commit, CommitSig, make_vote
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.genesis import Genesis
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
from greenchain.node.devnet import DEV_GENESIS_TIME_MS, dev_genesis, dev_key
from greenchain.store.chain import ChainStore
from greenchain.store.kv import KV, Writes

SEED = "greenchain-bench/"
OWNERS = 8
TRADERS = 8
DEVICES_PER_GATEWAY = 10
CAPACITY_W = 2_050_000
LAST_HOUR = DEV_GENESIS_TIME_MS // 3_600_000 - 1
"""The last UTC hour attested: before the dev genesis, so every block time is later."""
PROOF_DEVICE = "BENCH-PROOF"
PROOF_TRANSFERS = 5
MIX_PATTERN = "AATAATARAT"
"""Ten slots of the 60/30/10 attest/transfer/retire mix."""


@dataclass(slots=True)
class HeldBundle:
    """A bundle the generator knows to be active, with its owner's key."""

    bundle_id: bytes
    """Id of the bundle."""
    quantity_wh: int
    """Wh it holds."""
    owner: KeyPair
    """Key of its owner account."""


def _key(name: str) -> KeyPair:
    return key_from_seed(SEED + name)


class LoadGen:
    """Signs setup, attestation, transfer and retirement transactions of the dev chain.

    Parameters
    ----------
    devices:
        Number of devices to register (ten per meter gateway).
    chain_id:
        The chain id (the dev genesis' by default).
    """

    def __init__(self, devices: int, chain_id: str | None = None) -> None:
        self.chain_id = chain_id or dev_genesis().chain_id
        self.issuer = dev_key("issuer")
        self.owners = [_key(f"owner-{i}") for i in range(OWNERS)]
        self.traders = [_key(f"trader-{i}") for i in range(TRADERS)]
        self.proof_holders = [_key(f"proof-{i}") for i in range(PROOF_TRANSFERS + 1)]
        self.gateways = [_key(f"gateway-{g}")
                         for g in range((devices + DEVICES_PER_GATEWAY - 1)
                                        // DEVICES_PER_GATEWAY)]
        self.devices = [f"BENCH-{i:05d}" for i in range(devices)]
        self.issued: dict[str, int] = dict.fromkeys(self.devices, 0)
        self.slots = self._slots()
        self.nonce = itertools.count(1)
        self.fresh: list[HeldBundle] = []
        self.ready: deque[HeldBundle] = deque()
        self.serial = itertools.count()

    def sign(self, key: KeyPair, body: Body) -> Tx:
        """Sign `body` with `key` and a fresh nonce."""
        return make_tx(key, self.chain_id, body, next(self.nonce))

    def _slots(self) -> Iterator[tuple[int, int]]:
        """Yield (device index, UTC hour): every device once per hour, going back in time."""
        for back in itertools.count():
            for index in range(len(self.devices)):
                yield index, LAST_HOUR - back

    def _device_body(self, device_id: str, gateway: KeyPair, owner: KeyPair) -> RegisterDevice:
        return RegisterDevice(device_id, device_id, gateway.public, owner.public, CAPACITY_W,
                              "F01050100", "T020001", "FR", 48_446_900, 5_593_000, 0)

    def setup_txs(self) -> list[Tx]:
        """Return the registrations: accounts, then every device (and the proof device)."""
        accounts = self.owners + self.traders + self.proof_holders
        txs = [self.sign(self.issuer, RegisterAccount(k.public, f"bench account {i}"))
               for i, k in enumerate(accounts)]
        for index, device_id in enumerate(self.devices):
            body = self._device_body(device_id, self.gateways[index // DEVICES_PER_GATEWAY],
                                     self.owners[index % OWNERS])
            txs.append(self.sign(self.issuer, body))
        proof = self._device_body(PROOF_DEVICE, self.gateways[0], self.proof_holders[0])
        txs.append(self.sign(self.issuer, proof))
        return txs

    def attest(self) -> Tx:
        """Return the next attestation (a full UTC hour of a device not attested there)."""
        index, hour = next(self.slots)
        device_id = self.devices[index]
        energy = 1_000 + next(self.serial) % 5_000
        start = self.issued[device_id]
        self.issued[device_id] = start + energy
        owner = self.owners[index % OWNERS]
        self.fresh.append(HeldBundle(compute_bundle_id(device_id, start, start + energy),
                                     energy, owner))
        gateway = self.gateways[index // DEVICES_PER_GATEWAY]
        return self.sign(gateway, Attest(device_id, hour * 3600, hour * 3600 + 3600, energy))

    def attests(self, count: int) -> list[Tx]:
        """Return `count` attestations."""
        return [self.attest() for _ in range(count)]

    def move(self, retire: bool) -> Tx:
        """Return a transfer (or retirement) of half of a bundle issued in an earlier block.

        Raises
        ------
        IndexError
            If no bundle from an earlier block is left (call `settle` after each block).
        """
        held = self.ready.popleft()
        amount = held.quantity_wh // 2
        if retire:
            body: Body = Retire(held.bundle_id, amount, "Bench Consumer Ltd",
                                LAST_HOUR * 3600, LAST_HOUR * 3600 + 3600, "disclosure", "FR")
        else:
            receiver = self.traders[next(self.serial) % TRADERS]
            body = Transfer(held.bundle_id, amount, receiver.public)
        return self.sign(held.owner, body)

    def mix(self, count: int) -> list[Tx]:
        """Return `count` transactions of the 60/30/10 attest/transfer/retire mix."""
        kinds = itertools.cycle(MIX_PATTERN)
        return [self.attest() if kind == "A" else self.move(kind == "R")
                for kind, _ in zip(kinds, range(count), strict=False)]

    def settle(self) -> None:
        """Mark the bundles issued so far as committed (movable in later blocks)."""
        self.ready.extend(self.fresh)
        self.fresh = []

    def proof_txs(self, step: int) -> list[Tx]:
        """Return step `step` of the proof story: 0 issues 1,000 Wh, 1..5 transfer part on.

        Step k >= 1 moves the low ``1000 - 100 k`` Wh from holder k-1 to holder k, so
        certificate ``BENCH-PROOF:0`` ends with 5 transfers in its history.
        """
        if step == 0:
            return [self.sign(self.gateways[0],
                              Attest(PROOF_DEVICE, LAST_HOUR * 3600, LAST_HOUR * 3600 + 3600,
                                     1_000))]
        held = 1_000 - 100 * (step - 1)
        bundle_id = compute_bundle_id(PROOF_DEVICE, 0, held)
        body = Transfer(bundle_id, held - 100, self.proof_holders[step].public)
        return [self.sign(self.proof_holders[step - 1], body)]


def validator_keys(count: int = 4) -> list[KeyPair]:
    """Return the dev validator keys ``validator-0..count-1``."""
    return [dev_key(f"validator-{i}") for i in range(count)]


def make_commit(block: Block, keys: Sequence[KeyPair], chain_id: str) -> Commit:
    """Return a round-0 commit of `block` signed by every key, sorted by validator key."""
    header = block.header
    sigs = []
    for signer in sorted(keys, key=lambda k: k.public):
        vote = make_vote(signer, chain_id, PRECOMMIT, header.height, 0, block.block_hash)
        sigs.append(CommitSig(signer.public, vote.signature))
    return Commit(header.height, 0, block.block_hash, tuple(sigs))


class ChainWriter:
    """Builds blocks with `build_block`, commits them with a full commit into a store.

    Parameters
    ----------
    store:
        The chain store to commit into (empty).
    genesis:
        The dev genesis whose validators are `validator_keys()`.
    """

    def __init__(self, store: ChainStore, genesis: Genesis) -> None:
        self.store = store
        self.genesis = genesis
        self.keys = validator_keys(len(genesis.validators))
        self.env = BlockEnv(genesis.chain_id,
                            frozenset(p.pubkey for p in genesis.issuing_bodies),
                            genesis.expiry_s)
        self.tip = ChainTip(0, ZERO_HASH, genesis.genesis_time_ms, EMPTY_ROOT,
                            genesis.genesis_hash)
        self.last_commit: Commit | None = None

    def build(self, txs: Sequence[Tx]) -> BuiltBlock:
        """Build the next block (one second after the tip) from `txs`, not committed.

        Raises
        ------
        AssertionError
            If the ledger refused any transaction (the generator has a bug).
        """
        height = self.tip.height + 1
        proposer = proposer_for(self.genesis.validator_keys, height, 0)
        built = build_block(self.store, txs, self.tip, self.env, proposer, 0,
                            self.tip.time_ms + 1000, self.last_commit)
        if built.rejected:
            rules = sorted({exc.rule for _, exc in built.rejected})
            raise AssertionError(f"{len(built.rejected)} bench transactions refused: {rules}")
        return built

    def commit(self, built: BuiltBlock) -> Block:
        """Commit a built block with precommits of every validator; return it."""
        commit = make_commit(built.block, self.keys, self.genesis.chain_id)
        self.tip = self.store.commit_block(built.block, commit, built.result)
        self.last_commit = commit
        return built.block

    def seal(self, txs: Sequence[Tx]) -> Block:
        """Build and commit the next block of `txs`."""
        return self.commit(self.build(txs))


class BufferedKV:
    """A `KV` that gathers the batches of several blocks into one write (builders only).

    Reads see the gathered writes first, then a cache of what was read or written before;
    `flush` writes the gathered batches to the wrapped store in one batch (one fsync for
    `blocks_per_flush` blocks instead of one per block). Every key and value reaches the
    store exactly as `ChainStore.commit_block` wrote it; only durability is per flush,
    which a benchmark chain builder does not need.

    Parameters
    ----------
    kv:
        The store to write through to.
    blocks_per_flush:
        Batches (one per committed block) gathered before a flush.
    cache_limit:
        Cached keys kept before the read cache is dropped (bounds memory).
    """

    def __init__(self, kv: KV, blocks_per_flush: int = 100, cache_limit: int = 200_000) -> None:
        self.kv = kv
        self.blocks_per_flush = blocks_per_flush
        self.cache_limit = cache_limit
        self.pending: dict[bytes, bytes | None] = {}
        # Always the latest value of its keys: flushed writes replace what was read.
        self.cache: dict[bytes, bytes | None] = {}
        self.batches = 0

    def get(self, key: bytes) -> bytes | None:
        """Return the gathered or cached value of `key`, else the stored one."""
        if key in self.pending:
            return self.pending[key]
        if key in self.cache:
            return self.cache[key]
        value = self.cache[key] = self.kv.get(key)
        return value

    def iterate(self, prefix: bytes, start: bytes | None = None,
                reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Flush, then iterate the wrapped store (scans are rare while building)."""
        self.flush()
        return self.kv.iterate(prefix, start, reverse)

    def write_batch(self, writes: Writes) -> None:
        """Gather `writes`; flush every `blocks_per_flush` batches."""
        self.pending.update(writes)
        self.batches += 1
        if self.batches >= self.blocks_per_flush:
            self.flush()

    def flush(self) -> None:
        """Write the gathered batches to the wrapped store in one batch."""
        if self.pending:
            self.kv.write_batch(self.pending)
        if len(self.cache) + len(self.pending) > self.cache_limit:
            self.cache = {}
        self.cache.update(self.pending)
        self.pending, self.batches = {}, 0

    def close(self) -> None:
        """Flush, then close the wrapped store."""
        self.flush()
        self.kv.close()

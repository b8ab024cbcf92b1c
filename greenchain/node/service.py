"""The node's service object: chain state, pool, and the synchronous operations on them.

Everything here runs on the event loop thread; the consensus driver and the catch-up
loop (same package) call into it, the API reads from it. Time comes from `clock`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from greenchain.consensus.quorum import proposer_for, verify_commit
from greenchain.crypto.hashing import sha256
from greenchain.crypto.smt import EMPTY_ROOT
from greenchain.errors import BadHeader, GreenChainError, SignatureError
from greenchain.ledger.blocks import (
    BlockResult,
    BuiltBlock,
    ChainTip,
    apply_block,
    block_env_from_genesis,
)
from greenchain.ledger.blocks import build_block as ledger_build_block
from greenchain.ledger.validators import get_validators
from greenchain.ledger.view import get_tx_location
from greenchain.mempool import Mempool
from greenchain.model.blocks import ZERO_HASH, Block, Commit
from greenchain.model.genesis import Genesis
from greenchain.model.transactions import decode_tx
from greenchain.params import (
    BUILD_BUDGET_S,
    MAX_BLOCK_BYTES,
    MAX_BLOCK_TXS,
    MAX_CLOCK_SKEW_S,
    MIN_BLOCK_TXS,
    REJECTED_TTL_S,
)
from greenchain.store.chain import ChainStore

RECENT_LIMIT = 200_000
BAD_SIGNATURE_LIMIT = 50_000
"""Envelopes remembered as failing signature verification (their whole bytes' hash), so a
peer re-sending forged transactions costs a hash each, not a signature check."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one submitted transaction."""

    tx_id: bytes | None
    """The id, when the bytes decoded."""
    status: str
    """``pending``, ``committed``, or ``rejected``."""
    error: GreenChainError | None = None
    """The broken rule for ``rejected``."""
    height: int | None = None
    """Height, for ``committed``."""
    position: int | None = None
    """Position in the block, for ``committed``."""
    new: bool = False
    """True if this submission admitted it (so it should be relayed)."""


def genesis_tip(genesis: Genesis) -> ChainTip:
    """Return the tip before block 1: genesis time, empty map, genesis hash."""
    return ChainTip(0, ZERO_HASH, genesis.genesis_time_ms, EMPTY_ROOT, genesis.genesis_hash)


class NodeService:
    """Chain state, pool and transaction statuses of one node.

    Parameters
    ----------
    genesis:
        The chain's genesis.
    store:
        The opened chain store.
    clock:
        Returns UTC seconds (float); injected so tests can drive time.
    """

    def __init__(self, genesis: Genesis, store: ChainStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.genesis = genesis
        self.store = store
        self.clock = clock
        self.tip = store.tip() or genesis_tip(genesis)
        self.validators = self.validators_at(self.tip.height + 1)
        """The validator set of the height being decided (tip + 1), ordered by key."""
        self.last_commit: Commit | None = store.get_commit(self.tip.height)
        self.env = block_env_from_genesis(genesis)
        self.mempool = Mempool(store, genesis.chain_id, self.env.issuing_bodies,
                               genesis.expiry_s, self.tip.height + 1,
                               genesis_validators=genesis.validator_keys,
                               code_lists=genesis.code_lists)
        self.recent: OrderedDict[bytes, tuple[str, GreenChainError, float]] = OrderedDict()
        self.bad_signatures: OrderedDict[bytes, SignatureError] = OrderedDict()
        self.results: dict[bytes, BlockResult] = {}
        self.build_rate: float | None = None
        """Transactions per second of the last block builds (EWMA), or None."""
        self.on_commit_hooks: list[Callable[[Block], None]] = []

    def validators_at(self, height: int) -> tuple[bytes, ...]:
        """Return the validator set of `height`, ordered by key (DESIGN §1, §6).

        Final for every height up to tip + 2: a change activates at least two blocks
        after the block that includes it.
        """
        return get_validators(self.store, height, self.genesis.validator_keys)

    def now_ms(self) -> int:
        """Return the node's clock in UTC milliseconds."""
        return int(self.clock() * 1000)

    # --- transactions ---------------------------------------------------------------
    def submit(self, raw: bytes) -> Verdict:
        """Decode, check and admit one transaction envelope (DESIGN §3).

        Resending a transaction the node holds or has committed answers its status.
        """
        try:
            tx = decode_tx(raw)
        except GreenChainError as exc:
            return Verdict(None, "rejected", exc)
        located = None if tx.tx_id in self.mempool else get_tx_location(self.store, tx.tx_id)
        if located is not None:
            return Verdict(tx.tx_id, "committed", None, located[0], located[1])
        # Keyed by the whole envelope, signature included: the same bytes always get the
        # same verdict, while a correctly signed copy of the same tx id is still checked.
        envelope = sha256(raw)
        known_bad = self.bad_signatures.get(envelope)
        if known_bad is not None:
            return Verdict(tx.tx_id, "rejected", known_bad)
        try:
            new = self.mempool.admit(tx, self.now_ms())
        except GreenChainError as exc:
            if isinstance(exc, SignatureError):
                self.bad_signatures[envelope] = exc
                if len(self.bad_signatures) > BAD_SIGNATURE_LIMIT:
                    self.bad_signatures.popitem(last=False)
            self._remember(tx.tx_id, "rejected", exc)
            return Verdict(tx.tx_id, "rejected", exc)
        self.recent.pop(tx.tx_id, None)
        return Verdict(tx.tx_id, "pending", new=new)

    def _remember(self, tx_id: bytes, status: str, error: GreenChainError) -> None:
        self.recent[tx_id] = (status, error, self.clock())
        self.recent.move_to_end(tx_id)
        cutoff = self.clock() - REJECTED_TTL_S
        while self.recent and (len(self.recent) > RECENT_LIMIT
                               or next(iter(self.recent.values()))[2] < cutoff):
            self.recent.popitem(last=False)

    def tx_status(self, tx_id: bytes) -> dict[str, Any]:
        """Return ``{"tx_id", "status", ...}`` for a transaction id (DESIGN §3)."""
        out: dict[str, Any] = {"tx_id": tx_id.hex()}
        if tx_id in self.mempool:
            return out | {"status": "pending"}
        located = get_tx_location(self.store, tx_id)
        if located is not None:
            return out | {"status": "committed", "height": located[0], "position": located[1]}
        if tx_id in self.recent:
            status, error, _ = self.recent[tx_id]
            return out | {"status": status, "rule": error.rule, "message": error.message}
        return out | {"status": "unknown"}

    # --- blocks ---------------------------------------------------------------------
    def block_time_ms(self) -> int:
        """Timestamp for a new block: now, but strictly after the parent."""
        return max(self.now_ms(), self.tip.time_ms + 1)

    def block_tx_limit(self) -> int:
        """Return how many transactions the next block may take.

        Sized so that building it takes about BUILD_BUDGET_S at the rate measured on the
        last blocks (validators need about as long to check it), between MIN_BLOCK_TXS
        and MAX_BLOCK_TXS: a loaded machine makes smaller blocks instead of rounds that
        time out again and again.
        """
        if self.build_rate is None:
            return MAX_BLOCK_TXS
        return max(MIN_BLOCK_TXS, min(MAX_BLOCK_TXS, int(self.build_rate * BUILD_BUDGET_S)))

    def build_block(self, round_: int, proposer: bytes) -> BuiltBlock:
        """Build the next block from the pool (the proposer's job)."""
        candidates = self.mempool.candidates(self.block_tx_limit(), MAX_BLOCK_BYTES)
        started = time.perf_counter()
        built = ledger_build_block(self.store, candidates, self.tip, self.env, proposer, round_,
                                   self.block_time_ms(), self.last_commit)
        self._measure_build(len(candidates), time.perf_counter() - started)
        for tx, error in built.rejected:
            self.mempool.pending.pop(tx.tx_id, None)
            self._remember(tx.tx_id, "rejected", error)
        self.results[built.block.block_hash] = built.result
        return built

    def _measure_build(self, count: int, seconds: float) -> None:
        if count < MIN_BLOCK_TXS or seconds <= 0:
            return
        rate = count / seconds
        self.build_rate = rate if self.build_rate is None else 0.5 * self.build_rate + 0.5 * rate

    def check_block(self, block: Block) -> BlockResult:
        """Validate a proposed block on top of the tip (DESIGN §5, §6).

        Raises
        ------
        InvalidBlock
            Naming the first rule the block breaks.
        """
        header = block.header
        validators = self.validators_at(header.height)
        if header.proposer != proposer_for(validators, header.height, header.round):
            raise BadHeader("header proposer is not the proposer of its round")
        if header.timestamp_ms > self.now_ms() + MAX_CLOCK_SKEW_S * 1000:
            raise BadHeader("block timestamp is too far in the future")
        self._verify_last_commit(block)
        env = replace(self.env, verified=self.mempool.verified)
        result = apply_block(self.store, block, self.tip, env)
        self.results[block.block_hash] = result
        return result

    def commit(self, block: Block, commit: Commit, result: BlockResult | None = None) -> None:
        """Persist a final block, then update the tip and re-check the pool."""
        if result is None:
            result = self.results.get(block.block_hash) or self.check_block(block)
        self.tip = self.store.commit_block(block, commit, result)
        self.last_commit = commit
        # Before the hooks: the consensus driver reads the next height's set from here.
        self.validators = self.validators_at(self.tip.height + 1)
        self.results.clear()
        evicted = self.mempool.on_commit(self.store, block.txs, self.tip.height + 1,
                                         self.now_ms())
        for tx, error in evicted:
            self._remember(tx.tx_id, "evicted", error)
        for hook in self.on_commit_hooks:
            hook(block)

    def apply_fetched(self, block: Block, commit: Commit) -> None:
        """Apply and commit a finalized block fetched from a peer (catch-up, DESIGN §7).

        The commit is checked against the validator set of the block's height; the
        transaction signatures were checked by the quorum that signed it.

        Raises
        ------
        InvalidBlock
            If the commit or the block does not verify.
        """
        verify_commit(self.genesis.chain_id, commit, block.block_hash, block.header.height,
                      self.validators_at(block.header.height))
        self._verify_last_commit(block)
        env = replace(self.env, check_signatures=False)
        result = apply_block(self.store, block, self.tip, env)
        self.commit(block, commit, result)

    def _verify_last_commit(self, block: Block) -> None:
        # The commit of the tip carried in the block is checked against the tip's own set,
        # unless it is the very commit this node verified (or stored) for its tip: in
        # catch-up the peer serves that one, so re-checking it would double the signature
        # work per fetched block.
        if block.last_commit is not None and block.last_commit != self.last_commit:
            verify_commit(self.genesis.chain_id, block.last_commit, self.tip.block_hash,
                          self.tip.height, self.validators_at(self.tip.height))

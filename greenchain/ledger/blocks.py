"""Applying and building blocks: a pure function of (state view, block) (DESIGN §5).

`apply_block` validates a proposed or fetched block and returns its writes and roots;
`build_block` is the proposer's version, which drops failing transactions instead of
failing the block (DESIGN §3: the first of two conflicting transfers wins).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from greenchain.crypto.hashing import sha256
from greenchain.crypto.merkle import merkle_root
from greenchain.errors import BadHeader, GreenChainError, TxFailedInBlock
from greenchain.ledger.app_hash import compute_app_hash, compute_state_root
from greenchain.ledger.checks import check_tx_static
from greenchain.ledger.context import TxContext
from greenchain.ledger.transactions import apply_tx
from greenchain.ledger.view import Overlay, StateView
from greenchain.model.blocks import ZERO_HASH, Block, Commit, Header, make_block
from greenchain.model.codes import CodeLists
from greenchain.model.genesis import Genesis
from greenchain.model.transactions import Tx


@dataclass(frozen=True, slots=True)
class ChainTip:
    """What a block builds on: the last committed header's values (or genesis)."""

    height: int
    """Height of the last committed block (0 = genesis)."""
    block_hash: bytes
    """Its hash (zeros at genesis)."""
    time_ms: int
    """Its timestamp (genesis time at genesis), UTC ms."""
    state_root: bytes
    """Its state root."""
    app_hash: bytes
    """Its app hash (the genesis hash at genesis)."""


@dataclass(frozen=True, slots=True)
class BlockEnv:
    """The outside world a block is applied in (STYLE.md §2)."""

    chain_id: str
    """This chain's id."""
    issuing_bodies: frozenset[bytes]
    """Issuing body keys from genesis."""
    expiry_s: int | None
    """Genesis expiry policy."""
    verified: Container[bytes] = field(default_factory=frozenset)
    """SHA-256 of envelopes whose signature this node already checked (admission cache)."""
    check_signatures: bool = True
    """False in catch-up: the quorum that committed the block checked them (DESIGN §7)."""
    genesis_validators: tuple[bytes, ...] = ()
    """Validator keys of genesis (the set of each height is in the state from there on)."""
    code_lists: CodeLists | None = None
    """Genesis code lists (None: codes are not checked; see `block_env_from_genesis`)."""


def block_env_from_genesis(genesis: Genesis, **changes: Any) -> BlockEnv:
    """Return the `BlockEnv` of a chain: everything genesis decides, nothing left out.

    Parameters
    ----------
    genesis:
        The parsed genesis document.
    **changes:
        Other `BlockEnv` fields (`verified`, `check_signatures`).
    """
    return BlockEnv(genesis.chain_id, frozenset(p.pubkey for p in genesis.issuing_bodies),
                    genesis.expiry_s, genesis_validators=genesis.validator_keys,
                    code_lists=genesis.code_lists, **changes)


@dataclass(frozen=True, slots=True)
class BlockResult:
    """The outcome of applying a block."""

    writes: dict[bytes, bytes | None]
    """State writes (certificate state, tx and period index) that enter the app_hash."""
    node_writes: dict[bytes, bytes]
    """New authenticated-map nodes (persisted, not in the app_hash)."""
    state_root: bytes
    """Certificate-state root after the block."""
    app_hash: bytes
    """App hash after the block."""


def compute_tx_context(env: BlockEnv, height: int, time_ms: int) -> TxContext:
    """Return the context transactions of height `height` at UTC ms `time_ms` run in.

    The mempool's admission context is this with the node's clock plus the allowed skew.
    """
    return TxContext(env.chain_id, height, time_ms, env.issuing_bodies, env.expiry_s,
                     env.genesis_validators, env.code_lists)


def check_tx_signature(tx: Tx, env: BlockEnv) -> None:
    """Run the stateless checks unless this node already verified this exact envelope."""
    if env.check_signatures and sha256(tx.raw) not in env.verified:
        check_tx_static(tx, env.chain_id)
    elif tx.chain_id != env.chain_id:
        check_tx_static(tx, env.chain_id)


def find_bad_signature(txs: Sequence[Tx], env: BlockEnv) -> tuple[int, GreenChainError | None]:
    """Return the position of the first transaction failing its stateless checks, and why.

    Returns
    -------
    tuple
        ``(position, error)``, or ``(len(txs), None)`` if every transaction passes.
    """
    for position, tx in enumerate(txs):
        try:
            check_tx_signature(tx, env)
        except GreenChainError as exc:
            return position, exc
    return len(txs), None


def _finish(view: StateView, overlay: Overlay, tip: ChainTip) -> BlockResult:
    writes = dict(overlay.writes)
    state_root, node_writes = compute_state_root(view, tip.state_root, writes)
    app_hash = compute_app_hash(tip.app_hash, state_root, writes)
    return BlockResult(writes, node_writes, state_root, app_hash)


def validate_header_link(header: Header, tip: ChainTip, env: BlockEnv,
                         last_commit: Commit | None) -> None:
    """Check chain id, height, parent hash, time order and last-commit hash.

    Raises
    ------
    BadHeader
    """
    if header.chain_id != env.chain_id:
        raise BadHeader("wrong chain id", chain_id=header.chain_id)
    if header.height != tip.height + 1:
        raise BadHeader("wrong height", height=header.height, expected=tip.height + 1)
    if header.prev_block_hash != tip.block_hash:
        raise BadHeader("prev_block_hash does not match the parent")
    # DESIGN §5: block time strictly increases.
    if header.timestamp_ms <= tip.time_ms:
        raise BadHeader("timestamp is not later than the parent's")
    expected = last_commit.commit_hash() if last_commit else ZERO_HASH
    if header.last_commit_hash != expected or (last_commit is None) != (tip.height == 0):
        raise BadHeader("last_commit_hash does not match last_commit")


def apply_block_txs(overlay: Overlay, txs: Sequence[Tx], ctx: TxContext, env: BlockEnv) -> None:
    """Check and apply a block's transactions in order; the first failure fails the block.

    Signatures are checked first, in one pass (Ed25519 runs faster back to back than
    between ledger steps); the verdict is the same as checking each before applying it:
    the first failing position, whichever rule it breaks.

    Raises
    ------
    TxFailedInBlock
        Naming the first failing position and its rule.
    """
    bad_position, bad_signature = find_bad_signature(txs, env)
    for position, tx in enumerate(txs):
        try:
            if position == bad_position and bad_signature is not None:
                raise bad_signature
            apply_tx(overlay, tx, ctx, position)
        except GreenChainError as exc:
            raise TxFailedInBlock(f"tx {position} fails: {exc.message}", position=position,
                                  tx_rule=exc.rule) from exc


def apply_block(view: StateView, block: Block, tip: ChainTip, env: BlockEnv) -> BlockResult:
    """Validate `block` on top of `tip` and return its writes and roots.

    The last commit's signatures are checked by the caller against the validator set
    (consensus.quorum.verify_commit), since the ledger knows no quorum rules.

    Raises
    ------
    BadHeader
        On a header that does not link to `tip` or whose roots do not match.
    TxFailedInBlock
        If any transaction fails against the state before it (the whole block is invalid).
    """
    header = block.header
    validate_header_link(header, tip, env, block.last_commit)
    if merkle_root([tx.raw for tx in block.txs]) != header.tx_root:
        raise BadHeader("tx_root does not match the transactions")
    overlay = Overlay(view)
    apply_block_txs(overlay, block.txs, compute_tx_context(env, header.height,
                                                           header.timestamp_ms), env)
    result = _finish(view, overlay, tip)
    if result.state_root != header.state_root or result.app_hash != header.app_hash:
        raise BadHeader("state_root or app_hash does not match the executed block")
    return result


@dataclass(frozen=True, slots=True)
class BuiltBlock:
    """A proposer's block and what it left out."""

    block: Block
    """The block, with roots filled in."""
    result: BlockResult
    """Its writes and roots."""
    rejected: tuple[tuple[Tx, GreenChainError], ...]
    """Candidates that failed, with the rule each broke."""


def build_block(view: StateView, candidates: Iterable[Tx], tip: ChainTip, env: BlockEnv,
                proposer: bytes, round_: int, time_ms: int,
                last_commit: Commit | None) -> BuiltBlock:
    """Build the next block from candidate transactions in order, skipping failures.

    Candidates are assumed signature-checked (they come from the mempool).
    """
    overlay = Overlay(view)
    ctx = compute_tx_context(env, tip.height + 1, time_ms)
    included: list[Tx] = []
    rejected: list[tuple[Tx, GreenChainError]] = []
    for tx in candidates:
        try:
            apply_tx(overlay, tx, ctx, len(included))
        except GreenChainError as exc:
            rejected.append((tx, exc))
            continue
        included.append(tx)
    result = _finish(view, overlay, tip)
    header = Header(env.chain_id, tip.height + 1, round_, time_ms, proposer, tip.block_hash,
                    merkle_root([tx.raw for tx in included]),
                    last_commit.commit_hash() if last_commit else ZERO_HASH,
                    result.state_root, result.app_hash)
    return BuiltBlock(make_block(header, tuple(included), last_commit), result,
                      tuple(rejected))

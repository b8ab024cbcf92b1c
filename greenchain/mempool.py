"""The pool of admitted, not yet committed transactions (DESIGN §3).

Admission is stateful: a transaction is checked statelessly once (signature cached by the
hash of its whole envelope) and then applied to an overlay of committed state plus every
pending transaction, so an attestation overlapping a pending one, or a transfer of Wh a
pending transfer already moves, is refused at once. After each commit the overlay is
rebuilt from the new state and the remaining transactions re-checked; failures are evicted.
"""

from __future__ import annotations

from collections.abc import Iterable

from greenchain.crypto.hashing import sha256
from greenchain.errors import GreenChainError, PoolFull
from greenchain.ledger.checks import check_tx_static
from greenchain.ledger.context import TxContext
from greenchain.ledger.transactions import apply_tx
from greenchain.ledger.view import Overlay, StateView
from greenchain.model.codes import CodeLists
from greenchain.model.transactions import Tx
from greenchain.params import MAX_CLOCK_SKEW_S, MEMPOOL_MAX_TXS


class Mempool:
    """Pending transactions in arrival order, with their pending-state overlay.

    Parameters
    ----------
    view:
        Committed state.
    chain_id, issuing_bodies, expiry_s:
        From genesis.
    next_height:
        Height of the next block.
    max_txs:
        Capacity; a full pool refuses with `PoolFull` (HTTP 429).
    genesis_validators:
        Validator keys of genesis (the ledger finds later sets in the state).
    """

    def __init__(self, view: StateView, chain_id: str, issuing_bodies: frozenset[bytes],
                 expiry_s: int | None, next_height: int, max_txs: int = MEMPOOL_MAX_TXS,
                 genesis_validators: tuple[bytes, ...] = (),
                 code_lists: CodeLists | None = None) -> None:
        self.chain_id = chain_id
        self.code_lists = code_lists
        self.genesis_validators = genesis_validators
        self.issuing_bodies = issuing_bodies
        self.expiry_s = expiry_s
        self.max_txs = max_txs
        self.next_height = next_height
        self.pending: dict[bytes, Tx] = {}
        self.verified: set[bytes] = set()
        """SHA-256 of envelopes whose signature passed the policy (DESIGN §4)."""
        self.overlay = Overlay(view)

    def __len__(self) -> int:
        return len(self.pending)

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self.pending

    def _context(self, now_ms: int) -> TxContext:
        # At admission the block time is not known: the node's clock plus the allowed skew.
        return TxContext(self.chain_id, self.next_height, now_ms + MAX_CLOCK_SKEW_S * 1000,
                         self.issuing_bodies, self.expiry_s, self.genesis_validators,
                         self.code_lists)

    def verify_once(self, tx: Tx) -> None:
        """Run the stateless checks unless this exact envelope already passed them.

        Raises
        ------
        WrongChain, SmallOrderKey, NonCanonicalSignature, BadSignature
        """
        envelope_hash = sha256(tx.raw)
        if envelope_hash in self.verified:
            return
        check_tx_static(tx, self.chain_id)
        self.verified.add(envelope_hash)

    def admit(self, tx: Tx, now_ms: int) -> bool:
        """Admit `tx` if it passes every check against committed state plus the pool.

        Returns
        -------
        bool
            True if newly admitted, False if it was already pending (a safe retry).

        Raises
        ------
        PoolFull
            If the pool is at capacity.
        GreenChainError
            The typed error of the first rule the transaction breaks.
        """
        if tx.tx_id in self.pending:
            return False
        if len(self.pending) >= self.max_txs:
            raise PoolFull("transaction pool is full, retry later", capacity=self.max_txs)
        self.verify_once(tx)
        apply_tx(self.overlay, tx, self._context(now_ms), len(self.pending))
        self.pending[tx.tx_id] = tx
        return True

    def candidates(self, max_txs: int, max_bytes: int) -> list[Tx]:
        """Return pending transactions in arrival order within the block limits."""
        out: list[Tx] = []
        size = 0
        for tx in self.pending.values():
            if len(out) >= max_txs or size + len(tx.raw) > max_bytes:
                break
            out.append(tx)
            size += len(tx.raw)
        return out

    def on_commit(self, view: StateView, included: Iterable[Tx], next_height: int,
                  now_ms: int) -> list[tuple[Tx, GreenChainError]]:
        """Drop committed transactions and re-check the rest against the new state.

        When the block holds exactly the oldest pending transactions in pool order (the
        usual case), the pending overlay already equals the new state plus the rest, so
        it is kept; otherwise every remaining transaction is re-applied on the new state.

        Returns
        -------
        list
            ``(tx, error)`` for every evicted transaction.
        """
        included = list(included)
        is_prefix = len(included) <= len(self.pending) and all(
            tx.tx_id == pending_id for tx, pending_id in zip(included, self.pending,
                                                             strict=False))
        for tx in included:
            self.pending.pop(tx.tx_id, None)
            self.verified.discard(sha256(tx.raw))
        self.next_height = next_height
        if is_prefix and self.pending:
            self.overlay.rebase(view)
            return []
        return self._recheck(view, now_ms)

    def _recheck(self, view: StateView, now_ms: int) -> list[tuple[Tx, GreenChainError]]:
        self.overlay = Overlay(view)
        ctx = self._context(now_ms)
        evicted: list[tuple[Tx, GreenChainError]] = []
        for position, tx in enumerate(list(self.pending.values())):
            try:
                apply_tx(self.overlay, tx, ctx, position)
            except GreenChainError as exc:
                del self.pending[tx.tx_id]
                evicted.append((tx, exc))
        return evicted

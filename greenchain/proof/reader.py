"""Reading committed blocks while building one proof: each block decoded once (DESIGN §8).

A provenance proof carries a few transactions spread over the chain, several of them
sometimes in one block, and each needs its block's header, the Merkle leaves (the
canonical envelopes, DESIGN §4) and the stored commit. Decoding a whole block of up to
``MAX_BLOCK_TXS`` envelopes for each of them dominated proof building; a `BlockReader`
keeps each block's header and undecoded envelopes for the life of one proof and decodes
only the transactions the proof carries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greenchain.codec import decode_trusted
from greenchain.errors import StoreCorrupt
from greenchain.ledger.view import get_tx_location
from greenchain.model.blocks import Commit, Header
from greenchain.model.transactions import Tx, decode_tx
from greenchain.store.chain import ChainStore

Located = tuple[Tx, int, int]
"""A committed transaction with its height and position in the block."""


@dataclass(frozen=True, slots=True)
class CachedBlock:
    """One committed block as a proof needs it."""

    header: Header
    """The block header."""
    envelopes: list[bytes]
    """Canonical transaction envelopes in block order: the RFC 6962 leaves."""
    txs: dict[int, Tx] = field(default_factory=dict)
    """Transactions decoded so far, by position (filled on demand)."""


class BlockReader:
    """Committed blocks, transactions and commits of one store, cached by height.

    Meant to live for the building of one proof: the cache is never invalidated
    (committed blocks do not change) and grows with the blocks the proof touches.

    Parameters
    ----------
    store:
        The node's chain store.
    """

    def __init__(self, store: ChainStore) -> None:
        self.store = store
        self._blocks: dict[int, CachedBlock] = {}

    def block(self, height: int) -> CachedBlock:
        """Return the block at `height` (header and envelopes), reading it at most once.

        Raises
        ------
        StoreCorrupt
            If the store has no block at `height`.
        """
        cached = self._blocks.get(height)
        if cached is None:
            parts = self.store.get_block_leaves(height)
            if parts is None:
                raise StoreCorrupt("a committed transaction's block is missing", height=height)
            cached = self._blocks[height] = CachedBlock(*parts)
        return cached

    def tx_at(self, height: int, position: int) -> Tx:
        """Return the transaction at `position` of block `height`, decoded strictly once.

        Raises
        ------
        StoreCorrupt
            If the block is missing or shorter than `position`.
        """
        cached = self.block(height)
        if position not in cached.txs:
            if not 0 <= position < len(cached.envelopes):
                raise StoreCorrupt("tx index points past the end of its block", height=height,
                                   position=position)
            cached.txs[position] = decode_tx(cached.envelopes[position])
        return cached.txs[position]

    def locate(self, tx_id: bytes) -> Located:
        """Return a committed transaction by id, with its height and position.

        Raises
        ------
        StoreCorrupt
            If the transaction is not in the tx index, or the index points at another.
        """
        location = get_tx_location(self.store, tx_id)
        if location is None:
            raise StoreCorrupt("a record names a transaction that is not committed",
                               tx_id=tx_id)
        height, position = location
        tx = self.tx_at(height, position)
        if tx.tx_id != tx_id:
            raise StoreCorrupt("tx index points at another transaction", tx_id=tx_id,
                               height=height, position=position)
        return tx, height, position

    def find_in_block(self, height: int,
                      matches: Callable[[list[Any]], bool]) -> Located | None:
        """Return the first transaction of block `height` whose envelope `matches`.

        Parameters
        ----------
        height:
            The block to search.
        matches:
            Predicate over an envelope's array ``[type, chain_id, signer, nonce, body,
            signature]`` (quickly decoded, unchecked); only the match is decoded strictly.

        Raises
        ------
        StoreCorrupt
            If the block is missing.
        """
        for position, envelope in enumerate(self.block(height).envelopes):
            # The node's own stored envelopes: a quick decode to look, strict on the match.
            if matches(decode_trusted(envelope)):
                return self.tx_at(height, position), height, position
        return None

    def commit(self, height: int) -> Commit:
        """Return the stored commit of `height`.

        Raises
        ------
        StoreCorrupt
            If it is missing.
        """
        commit = self.store.get_commit(height)
        if commit is None:
            raise StoreCorrupt("commit missing for a committed block", height=height)
        return commit

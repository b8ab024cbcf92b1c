"""The chain store: blocks, commits, state and query indexes over one `KV` (DESIGN §5).

`commit_block` writes a block, its commit, all its state writes, its authenticated-map
nodes, the query indexes and the new tip in ONE atomic, fsynced batch: a crash leaves
the old or the new height, never a mixture. Restart reads the tip from meta.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, get_args, get_type_hints

from greenchain.codec import decode, decode_trusted, encode
from greenchain.errors import ForeignChainData, StoreCorrupt
from greenchain.ledger.blocks import BlockResult, ChainTip
from greenchain.ledger.view import BUNDLE, bundle_key, device_key, get_bundle, get_tx_location
from greenchain.model.blocks import Block, Commit, Header, decode_block, encode_block
from greenchain.model.certificates import SPLIT, Bundle, Device
from greenchain.model.fields import from_fields, to_fields
from greenchain.model.lifecycle_txs import Export, Withdraw
from greenchain.model.transactions import Retire, Transfer, Tx, decode_tx
from greenchain.store.indexes import compute_index_writes, read_wh
from greenchain.store.kv import KV
from greenchain.store.schema import (
    BLOCK_HASH,
    BUNDLE_HISTORY,
    EVIDENCE,
    GENESIS_MARK,
    META,
    OWNER_INDEX,
    SERIAL_INDEX,
    be64,
    block_key,
    commit_key,
    device_prefix,
)

EVIDENCE_PER_VALIDATOR = 64
"""Evidence records kept per validator (the first ones; later ones add nothing)."""

HISTORY_BODIES = (Transfer, Retire, Withdraw, Export)
"""Transactions recorded in a bundle's history: every one that moves or ends a bundle."""


def _nested_record_fields(cls: type[Any]) -> tuple[tuple[int, type[Any]], ...]:
    # (index, class) of each field holding an optional nested record (Retirement, ...).
    hints = get_type_hints(cls)
    found = []
    for index, item in enumerate(dataclasses.fields(cls)):
        for option in (hints[item.name], *get_args(hints[item.name])):
            if dataclasses.is_dataclass(option) and isinstance(option, type):
                found.append((index, option))
    return tuple(found)


_BUNDLE_NESTED = _nested_record_fields(Bundle)


def bundle_from_trusted(raw: bytes) -> Bundle:
    """Return a bundle record this node's ledger wrote, without the per-field type checks.

    Only for the ledger's own canonical writes and the node's own state (on the commit
    path every written bundle is decoded); gives the same record as
    ``from_fields(Bundle, decode(raw))``, whose checks guard everything from outside.
    """
    values = decode_trusted(raw)
    for index, record_class in _BUNDLE_NESTED:
        if values[index] is not None:
            values[index] = record_class(*values[index])
    return Bundle(*values)


class ChainStore:
    """Typed access to one node's store. Also a `StateView` (``get``)."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def get(self, key: bytes) -> bytes | None:
        """Return the raw value at `key` (the ledger's StateView)."""
        return self.kv.get(key)

    def close(self) -> None:
        """Close the underlying KV."""
        self.kv.close()

    def bind_genesis(self, genesis_hash: bytes, chain_id: str) -> None:
        """Tie the data directory to one genesis, or refuse another chain's data.

        The first start records `genesis_hash`. A data directory written before this
        mark existed is judged by the chain id in its block 1 header.

        Raises
        ------
        ForeignChainData
            If the directory belongs to another genesis (a node started with the wrong
            ``genesis.json`` or ``--home``); nothing is written.
        """
        recorded = self.kv.get(GENESIS_MARK)
        first = self.get_block(1) if recorded is None else None
        if recorded is not None and recorded != genesis_hash:
            found = f"genesis {recorded.hex()[:16]}..."
        elif first is not None and first.header.chain_id != chain_id:
            found = f"chain {first.header.chain_id!r}"
        else:
            self.kv.write_batch({GENESIS_MARK: genesis_hash})
            return
        raise ForeignChainData(
            f"the data directory holds another chain ({found}), not this genesis.json "
            f"({chain_id!r}, genesis {genesis_hash.hex()[:16]}...): check --home and the "
            "genesis path, or move the data directory away to sync from peers")

    # --- reads ----------------------------------------------------------------------
    def tip(self) -> ChainTip | None:
        """Return the last committed tip, or None for an empty store."""
        raw = self.kv.get(META)
        return None if raw is None else from_fields(ChainTip, decode(raw))

    def get_block(self, height: int) -> Block | None:
        """Return the block at `height`, or None."""
        raw = self.kv.get(block_key(height))
        return None if raw is None else decode_block(raw)

    def get_block_bytes(self, height: int) -> bytes | None:
        """Return the encoded block at `height`, or None."""
        return self.kv.get(block_key(height))

    def get_commit(self, height: int) -> Commit | None:
        """Return the stored commit of `height`, or None."""
        raw = self.kv.get(commit_key(height))
        return None if raw is None else from_fields(Commit, decode(raw))

    def get_block_leaves(self, height: int) -> tuple[Header, list[bytes]] | None:
        """Return the header of the block at `height` and its transactions, undecoded.

        Cheaper than `get_block` when only one transaction or the Merkle leaves are
        needed: the envelopes (the RFC 6962 leaves, DESIGN §4) stay bytes.

        Returns
        -------
        tuple[Header, list[bytes]] | None
            The header and the canonical envelopes in block order, or None.
        """
        raw = self.kv.get(block_key(height))
        if raw is None:
            return None
        # The node's own block record, strictly decoded when it arrived.
        header_fields, envelopes, _ = decode_trusted(raw)
        return from_fields(Header, header_fields), list(envelopes)

    def get_tx(self, tx_id: bytes) -> tuple[Tx, int, int] | None:
        """Return (tx, height, position) of a committed transaction, or None.

        Only that transaction of its block is decoded (strictly).

        Raises
        ------
        StoreCorrupt
            If the tx index points at a missing block.
        """
        location = get_tx_location(self, tx_id)
        if location is None:
            return None
        height, position = location
        block = self.get_block_leaves(height)
        if block is None or position >= len(block[1]):
            raise StoreCorrupt("tx index points at a missing block", height=height)
        return decode_tx(block[1][position]), height, position

    def get_bundle(self, bundle_id: bytes) -> Bundle | None:
        """Return a bundle by id, or None."""
        return get_bundle(self, bundle_id)

    def find_leaf_bundle(self, device_id: str, serial: int) -> Bundle | None:
        """Return the leaf bundle holding certificate `device_id:serial`, or None."""
        prefix = SERIAL_INDEX + device_prefix(device_id)
        for _, bundle_id in self.kv.iterate(prefix, prefix + be64(serial), reverse=True):
            bundle = self.get_bundle(bundle_id)
            if bundle is not None and bundle.serial_start <= serial < bundle.serial_end:
                return bundle
            return None
        return None

    def bundles_of_owner(self, owner: bytes, after: bytes = b"",
                         limit: int = 100) -> list[Bundle]:
        """Return up to `limit` active bundles owned by `owner`, ordered by id after `after`."""
        prefix = OWNER_INDEX + owner
        out: list[Bundle] = []
        for key, _ in self.kv.iterate(prefix, prefix + after + b"\x00" if after else None):
            bundle = self.get_bundle(key[len(prefix):])
            if bundle is not None:
                out.append(bundle)
            if len(out) >= limit:
                break
        return out

    def bundle_history(self, bundle_id: bytes) -> list[bytes]:
        """Return ids of the txs that moved or ended `bundle_id`, in chain order.

        These are the transfers, retirements, exports and withdrawals whose body names the
        bundle (`HISTORY_BODIES`); a partial move names the parent it splits.
        """
        prefix = BUNDLE_HISTORY + bundle_id
        return [value for _, value in self.kv.iterate(prefix)]

    def iterate_bundles(self) -> Iterator[Bundle]:
        """Yield every bundle record (tests and audits)."""
        for _, raw in self.kv.iterate(BUNDLE):
            yield from_fields(Bundle, decode(raw))

    def evidence(self) -> list[Any]:
        """Return stored evidence records (decoded arrays)."""
        return [decode(raw) for _, raw in self.kv.iterate(EVIDENCE)]

    # --- writes ---------------------------------------------------------------------
    def commit_block(self, block: Block, commit: Commit, result: BlockResult) -> ChainTip:
        """Persist a decided block with everything it changes in one atomic batch.

        Returns
        -------
        ChainTip
            The new tip.
        """
        header = block.header
        tip = ChainTip(header.height, block.block_hash, header.timestamp_ms,
                       header.state_root, header.app_hash)
        batch: dict[bytes, bytes | None] = {}
        batch.update(self._index_writes(block, result))
        batch.update(result.writes)
        batch.update(result.node_writes)
        batch[block_key(header.height)] = encode_block(block)
        batch[commit_key(header.height)] = encode(to_fields(commit))
        if block.last_commit is not None:
            # The commit carried in block H becomes the canonical commit of H-1 (DESIGN §5).
            batch[commit_key(header.height - 1)] = encode(to_fields(block.last_commit))
        batch[BLOCK_HASH + block.block_hash] = be64(header.height)
        batch[META] = encode(to_fields(tip))
        self.kv.write_batch(batch)
        return tip

    def add_evidence(self, validator: bytes, digest: bytes, record: list[Any]) -> bool:
        """Store one evidence record (idempotent); return False if it was not stored.

        At most `EVIDENCE_PER_VALIDATOR` records are kept per validator: one proves the
        equivocation, and an equivocator signing without end must not fill the disk.
        """
        prefix = EVIDENCE + validator
        if self.kv.get(prefix + digest) is not None:
            return True
        held = sum(1 for _ in zip(self.kv.iterate(prefix), range(EVIDENCE_PER_VALIDATOR),
                                  strict=False))
        if held >= EVIDENCE_PER_VALIDATOR:
            return False
        self.kv.write_batch({prefix + digest: encode(record)})
        return True

    def _index_writes(self, block: Block, result: BlockResult) -> dict[bytes, bytes | None]:
        """Return the query index writes of a block (schema ``0x04``; never in the app_hash)."""
        changes = self._bundle_changes(result, block.header.height)
        owners: dict[str, bytes | None] = {}

        def device_owner(device_id: str) -> bytes | None:
            # A device may be registered in the same block as its first attestation.
            if device_id not in owners:
                raw = result.writes.get(device_key(device_id)) or self.kv.get(
                    device_key(device_id))
                owners[device_id] = (None if raw is None
                                     else from_fields(Device, decode_trusted(raw)).owner_account)
            return owners[device_id]

        writes = compute_index_writes(changes, device_owner,
                                      lambda key: read_wh(self.kv.get(key)))
        writes.update(compute_history_writes(block))
        return writes

    def _bundle_changes(self, result: BlockResult,
                        height: int) -> list[tuple[Bundle | None, Bundle]]:
        """Return (record before the block or None, record after) of each bundle written.

        Only bundles that existed before the block are read back from the store, in key
        order; those the block created (`is_created_in_block`) have no old record.
        """
        # The ledger's own writes of this block: already canonical, no need to re-check.
        news = [bundle_from_trusted(value) for key, value in result.writes.items()
                if key.startswith(BUNDLE) and value is not None]
        split_here = {new.bundle_id for new in news if new.status == SPLIT}
        existing = sorted(new.bundle_id for new in news
                          if not is_created_in_block(new, height, split_here))
        olds = {bundle_id: self._read_bundle(bundle_id) for bundle_id in existing}
        return [(olds.get(new.bundle_id), new) for new in news]

    def _read_bundle(self, bundle_id: bytes) -> Bundle | None:
        raw = self.kv.get(bundle_key(bundle_id))
        # The node's own state record, written canonical by the ledger.
        return None if raw is None else bundle_from_trusted(raw)


def is_created_in_block(bundle: Bundle, height: int, split_here: set[bytes]) -> bool:
    """Return True if the block at `height` created `bundle` (it had no record before).

    Parameters
    ----------
    bundle:
        A bundle record the block wrote.
    height:
        The block's height.
    split_here:
        Ids of the bundles the block wrote with status ``split``.

    Notes
    -----
    An issued bundle (no parent) is new if its issuance height is this block's. A split
    child is new if its parent is among `split_here`: ``split`` is final, so a split
    bundle is written in the block that splits it and never again (DESIGN §2), and a
    child's serial range is a strict part of a leaf, so its id never named a bundle before.
    """
    if not bundle.parent:
        return bundle.issuance_height == height
    return bundle.parent in split_here


def compute_history_writes(block: Block) -> dict[bytes, bytes | None]:
    """Return the bundle history entries of a block (schema ``BUNDLE_HISTORY``).

    One entry per transaction of `HISTORY_BODIES`, under the bundle its body names, keyed
    by height and position so that a bundle's history iterates in chain order.
    """
    writes: dict[bytes, bytes | None] = {}
    height = be64(block.header.height)
    for position, tx in enumerate(block.txs):
        if isinstance(tx.body, HISTORY_BODIES):
            key = BUNDLE_HISTORY + tx.body.bundle_id + height + be64(position)
            writes[key] = tx.tx_id
    return writes

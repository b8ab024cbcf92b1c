"""The chain store: blocks, commits, state and query indexes over one `KV` (DESIGN §5).

`commit_block` writes a block, its commit, all its state writes, its authenticated-map
nodes, the query indexes and the new tip in ONE atomic, fsynced batch: a crash leaves
the old or the new height, never a mixture. Restart reads the tip from meta.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from greenchain.codec import decode, decode_trusted, encode
from greenchain.errors import StoreCorrupt
from greenchain.ledger.blocks import BlockResult, ChainTip
from greenchain.ledger.view import BUNDLE, device_key, get_bundle, get_tx_location
from greenchain.model.blocks import Block, Commit, decode_block, encode_block
from greenchain.model.certificates import Bundle, Device
from greenchain.model.fields import from_fields, to_fields
from greenchain.model.transactions import Retire, Transfer, Tx
from greenchain.store.indexes import compute_index_writes, read_wh
from greenchain.store.kv import KV
from greenchain.store.schema import (
    BLOCK_HASH,
    BUNDLE_HISTORY,
    EVIDENCE,
    META,
    OWNER_INDEX,
    SERIAL_INDEX,
    be64,
    block_key,
    commit_key,
    device_prefix,
)


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

    def get_tx(self, tx_id: bytes) -> tuple[Tx, int, int] | None:
        """Return (tx, height, position) of a committed transaction, or None.

        Raises
        ------
        StoreCorrupt
            If the tx index points at a missing block.
        """
        location = get_tx_location(self, tx_id)
        if location is None:
            return None
        height, position = location
        block = self.get_block(height)
        if block is None or position >= len(block.txs):
            raise StoreCorrupt("tx index points at a missing block", height=height)
        return block.txs[position], height, position

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
        """Return ids of the transfers and retirements whose source was `bundle_id`, in order."""
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

    def add_evidence(self, validator: bytes, digest: bytes, record: list[Any]) -> None:
        """Store one evidence record (idempotent)."""
        self.kv.write_batch({EVIDENCE + validator + digest: encode(record)})

    def _index_writes(self, block: Block, result: BlockResult) -> dict[bytes, bytes | None]:
        """Return the query index writes of a block (schema ``0x04``; never in the app_hash)."""
        changes = []
        for key, value in result.writes.items():
            if not key.startswith(BUNDLE) or value is None:
                continue
            # The ledger's own writes of this block: already canonical, no need to re-check.
            new = from_fields(Bundle, decode_trusted(value))
            changes.append((self.get_bundle(new.bundle_id), new))
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
        for position, tx in enumerate(block.txs):
            if isinstance(tx.body, (Transfer, Retire)):
                key = BUNDLE_HISTORY + tx.body.bundle_id + be64(block.header.height)
                writes[key + be64(position)] = tx.tx_id
        return writes

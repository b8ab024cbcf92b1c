"""Every key prefix of the node's store (STYLE.md §11). Version byte first.

State prefixes (``0x01``) and authenticated-map nodes (``0x02``) are defined by the
ledger (`greenchain.ledger.view`); this module adds the chain data (``0x03``) and the
node-side query indexes (``0x04``), which never enter the app_hash.
"""

from __future__ import annotations

from greenchain.ledger.view import (  # re-exported: one place to look up every prefix
    ACCOUNT,
    BUNDLE,
    DEVICE,
    PERIODS,
    SMT_NODE,
    TX_INDEX,
)

CHAIN = b"\x03"
BLOCK = CHAIN + b"B"
"""BLOCK + height (8 bytes, big-endian) -> encoded block."""
COMMIT = CHAIN + b"C"
"""COMMIT + height -> encoded commit of that height (canonical once the next block has it)."""
BLOCK_HASH = CHAIN + b"H"
"""BLOCK_HASH + block hash -> height (8 bytes)."""
EVIDENCE = CHAIN + b"E"
"""EVIDENCE + validator + sha256(first || second) -> encoded evidence."""
META = CHAIN + b"M"
"""META -> encoded ChainTip of the last committed block."""

INDEX = b"\x04"
SERIAL_INDEX = INDEX + b"S"
"""SERIAL_INDEX + device_prefix(device_id) + serial_start (8 bytes) -> leaf bundle id."""
OWNER_INDEX = INDEX + b"O"
"""OWNER_INDEX + owner + bundle id -> b"" for each active bundle an account owns."""
BUNDLE_HISTORY = INDEX + b"T"
"""BUNDLE_HISTORY + bundle id + height + position -> tx id of a tx that issued or moved it."""

__all__ = [
    "ACCOUNT",
    "BUNDLE",
    "DEVICE",
    "PERIODS",
    "SMT_NODE",
    "TX_INDEX",
    "BLOCK",
    "COMMIT",
    "BLOCK_HASH",
    "EVIDENCE",
    "META",
    "SERIAL_INDEX",
    "OWNER_INDEX",
    "BUNDLE_HISTORY",
    "be64",
    "block_key",
    "commit_key",
    "device_prefix",
]


def be64(value: int) -> bytes:
    """Return `value` as 8 big-endian bytes (so byte order is numeric order)."""
    return value.to_bytes(8, "big")


def block_key(height: int) -> bytes:
    """Key of the block at `height`."""
    return BLOCK + be64(height)


def commit_key(height: int) -> bytes:
    """Key of the commit of `height`."""
    return COMMIT + be64(height)


def device_prefix(device_id: str) -> bytes:
    """Return the device id as used in index keys (length-prefixed: no prefix clashes)."""
    raw = device_id.encode()
    return len(raw).to_bytes(2, "big") + raw

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
GENESIS_MARK = CHAIN + b"G"
"""GENESIS_MARK -> hash of the genesis the data directory belongs to (32 bytes)."""

INDEX = b"\x04"
SERIAL_INDEX = INDEX + b"S"
"""SERIAL_INDEX + device_prefix(device_id) + serial_start (8 bytes) -> leaf bundle id."""
OWNER_INDEX = INDEX + b"O"
"""OWNER_INDEX + owner + bundle id -> b"" for each active bundle an account owns."""
BUNDLE_HISTORY = INDEX + b"T"
"""BUNDLE_HISTORY + bundle id + height + position -> tx id (32 bytes).

One entry per transfer, retirement, export or withdrawal whose body names the bundle (a
partial move names the parent it splits), so a bundle's history iterates in chain order.
Issuance (attest, import) is not listed: the bundle record names its issuing tx."""
DEVICE_INDEX = INDEX + b"D"
"""DEVICE_INDEX + device_prefix(device_id) + period_start (8 bytes) + bundle id -> b"".

Every bundle of a device, whatever its status (split parents included), in order of its
production period start (UTC seconds): serves queries by device and period."""
PERIOD_INDEX = INDEX + b"P"
"""PERIOD_INDEX + period_start (8 bytes) + bundle id -> b"" for every bundle (any device)."""
STATUS_INDEX = INDEX + b"Z"
"""STATUS_INDEX + text_prefix(status) + period_start (8 bytes) + bundle id -> b"".

One entry per bundle, under its current stored status (``active``, ``split``, ...)."""
RETIRED_INDEX = INDEX + b"R"
"""RETIRED_INDEX + text_prefix(beneficiary) + period_start (8 bytes) + bundle id -> b"".

Every retired bundle, under the beneficiary its retirement names (exact text)."""
BALANCE_INDEX = INDEX + b"B"
"""BALANCE_INDEX + owner + device_prefix(device_id) + month (``YYYY-MM``) -> Wh (8 bytes).

Wh of the ACTIVE bundles an account holds, by device and UTC month of production;
a key whose total falls to zero is deleted."""
DEVICE_TOTALS = INDEX + b"W"
"""DEVICE_TOTALS + device_prefix(device_id) + bucket (UTF-8) -> Wh (8 bytes).

Wh of a device's leaf bundles (not split): bucket ``status:<status>`` per stored status,
and ``moved`` for those whose owner is not the device's owner account (the first owner
of every Wh the device issues); a key whose total falls to zero is deleted."""

ACTIVE_DAY_INDEX = INDEX + b"X"
"""Stored-active Wh by UTC day of production start (expiry is judged per day).

- ``ACTIVE_DAY_INDEX + b"d" + device_prefix(device_id) + day (8 bytes) -> Wh``: the
  device's stored-active Wh (any owner) of bundles whose period starts in that day;
- ``ACTIVE_DAY_INDEX + b"o" + owner + device_prefix(device_id) + day -> Wh``: the same,
  of one owner.

``day`` is the UTC midnight (seconds) of the period start; a key whose total falls to zero
is deleted."""

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
    "GENESIS_MARK",
    "SERIAL_INDEX",
    "OWNER_INDEX",
    "BUNDLE_HISTORY",
    "DEVICE_INDEX",
    "PERIOD_INDEX",
    "STATUS_INDEX",
    "RETIRED_INDEX",
    "BALANCE_INDEX",
    "DEVICE_TOTALS",
    "ACTIVE_DAY_INDEX",
    "be64",
    "block_key",
    "commit_key",
    "device_prefix",
    "text_prefix",
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
    return text_prefix(device_id)


def text_prefix(text: str) -> bytes:
    """Return `text` as used in index keys: 2-byte big-endian length, then its UTF-8.

    The length prefix keeps one text's entries apart from those of a longer text that
    starts with it (``ACME`` and ``ACME Ltd``).
    """
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw

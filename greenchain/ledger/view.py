"""State keys, the read-only `StateView` protocol and the write `Overlay` (STYLE.md §1).

State keys (version byte 1 first, then a one-letter kind):
- ``0x01 a`` + account key -> Account
- ``0x01 d`` + device id (UTF-8) -> Device
- ``0x01 b`` + bundle id -> Bundle
- ``0x01 p`` + encode([device_id, hour]) -> sorted [[start, end], ...] attested in that UTC hour
- ``0x01 t`` + tx id -> [height, position] (the tx index)
- ``0x01 i`` + synthetic device id (UTF-8, ``ext:<registry>:<device>``) -> sorted, merged
  [[ext_start, ext_end], ...]: the external serial ranges imported from that device
- ``0x01 v`` + be64(activation height) -> [sorted validator keys, previous activation
  height (0 = genesis), tx id of the update_validators]: one record per set change
- ``0x01 V`` -> activation height of the latest change (absent: the genesis set holds);
  a change is pending while this height is above the current one
Accounts, devices and bundles are the *certificate state* behind `state_root` (DESIGN §5).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

from greenchain.codec import decode_trusted, encode_trusted
from greenchain.model.certificates import Account, Bundle, Device
from greenchain.model.fields import from_trusted_fields, to_fields

T = TypeVar("T")

STATE_VERSION = b"\x01"
ACCOUNT = STATE_VERSION + b"a"
DEVICE = STATE_VERSION + b"d"
BUNDLE = STATE_VERSION + b"b"
PERIODS = STATE_VERSION + b"p"
TX_INDEX = STATE_VERSION + b"t"
IMPORTS = STATE_VERSION + b"i"
VALSET = STATE_VERSION + b"v"
VALSET_HEAD = STATE_VERSION + b"V"
SMT_NODE = b"\x02n"
"""Prefix of authenticated-map nodes (persisted, but not part of the app_hash writes)."""
CERTIFICATE_PREFIXES = (ACCOUNT, DEVICE, BUNDLE)


class StateView(Protocol):
    """Read access to committed state: raw bytes by key."""

    def get(self, key: bytes) -> bytes | None:
        """Return the value stored at `key`, or None."""
        ...


RECORDS_LIMIT = 50_000
"""Decoded records one overlay keeps at most: a block's overlay stays below it (a 5,000-tx
block touches about 20,000 records), the pool's long-lived one stops caching there."""


class Overlay:
    """A write set over a read-only view; reads see the writes first.

    `writes` maps key -> value, or None for a deletion (tombstone). `records` keeps the
    decoded records seen at this level (written with `put_record` or read through
    `read_record`), so a record read or written again in the same block is not decoded
    again: an account is read by most transactions, a device by each of its attestations.
    """

    __slots__ = ("base", "records", "writes")

    def __init__(self, base: StateView) -> None:
        self.base = base
        self.writes: dict[bytes, bytes | None] = {}
        self.records: dict[bytes, Any] = {}
        """Key -> the decoded record its value holds at this level (valid while `base`
        stays; see `rebase`), at most `RECORDS_LIMIT` of them."""

    def get(self, key: bytes) -> bytes | None:
        """Return the overlay's value for `key`, falling back to the base view."""
        if key in self.writes:
            return self.writes[key]
        return self.base.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        """Write `value` at `key` (None deletes)."""
        self.writes[key] = value
        self.records.pop(key, None)

    def put_record(self, key: bytes, record: Any) -> None:
        """Write dataclass `record` at `key` in canonical form (and keep it decoded)."""
        self.writes[key] = encode_trusted(to_fields(record))
        self._remember(key, record)

    def read_record(self, key: bytes, cls: type[T]) -> T | None:
        """Return the record of class `cls` at `key` (None if absent), decoding it once."""
        record: T | None = self.records.get(key)
        if record is not None:
            return record
        if key in self.writes:
            record = _decode_record(self.writes[key], cls)
        elif isinstance(self.base, Overlay):
            record = self.base.read_record(key, cls)
        else:
            record = _decode_record(self.base.get(key), cls)
        if record is not None:
            self._remember(key, record)
        return record

    def _remember(self, key: bytes, record: Any) -> None:
        if len(self.records) < RECORDS_LIMIT:
            self.records[key] = record
        else:
            self.records.pop(key, None)  # full: forget it rather than keep a stale one

    def child(self) -> Overlay:
        """Return a new overlay on top of this one (for all-or-nothing steps)."""
        return Overlay(self)

    def merge(self, child: Overlay) -> None:
        """Fold the writes of `child` (made by `child()`) into this overlay."""
        self.writes.update(child.writes)
        records = self.records
        for key in child.writes:
            if key not in child.records:  # a raw write: a record decoded here is stale
                records.pop(key, None)
        # The child's records are valid here too: written there, or read through here.
        if len(records) < RECORDS_LIMIT:
            records.update(child.records)
        else:
            for key in child.records:
                records.pop(key, None)

    def rebase(self, base: StateView) -> None:
        """Put the writes on top of `base` instead (records read through are dropped)."""
        self.base = base
        self.records.clear()

    def items(self) -> Iterator[tuple[bytes, bytes | None]]:
        """Iterate over the writes."""
        return iter(self.writes.items())


class MemoryState:
    """A dict-backed StateView, for tests and genesis."""

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.data: dict[bytes, bytes] = dict(data or {})

    def get(self, key: bytes) -> bytes | None:
        """Return the value at `key`, or None."""
        return self.data.get(key)

    def apply(self, writes: dict[bytes, bytes | None]) -> None:
        """Apply a write set (None deletes)."""
        for key, value in writes.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value


def _decode_record(raw: bytes | None, cls: type[T]) -> T | None:
    # State values are the ledger's own canonical writes (DESIGN §5): no strict decoding.
    return None if raw is None else from_trusted_fields(cls, decode_trusted(raw))


def _read(view: StateView, key: bytes, cls: type[T]) -> T | None:
    if isinstance(view, Overlay):
        return view.read_record(key, cls)
    return _decode_record(view.get(key), cls)


def account_key(key: bytes) -> bytes:
    """State key of an account."""
    return ACCOUNT + key


def device_key(device_id: str) -> bytes:
    """State key of a device."""
    return DEVICE + device_id.encode()


def bundle_key(bundle_id: bytes) -> bytes:
    """State key of a bundle."""
    return BUNDLE + bundle_id


def periods_key(device_id: str, hour: int) -> bytes:
    """State key of the periods attested for `device_id` in UTC hour number `hour`."""
    return PERIODS + encode_trusted([device_id, hour])


def imports_key(device_id: str) -> bytes:
    """State key of the external ranges imported under synthetic device `device_id`."""
    return IMPORTS + device_id.encode()


def tx_index_key(tx_id: bytes) -> bytes:
    """State key of a transaction's [height, position]."""
    return TX_INDEX + tx_id


def get_account(view: StateView, key: bytes) -> Account | None:
    """Return the account with public key `key`, or None."""
    return _read(view, account_key(key), Account)


def get_device(view: StateView, device_id: str) -> Device | None:
    """Return the device `device_id`, or None."""
    return _read(view, device_key(device_id), Device)


def get_bundle(view: StateView, bundle_id: bytes) -> Bundle | None:
    """Return the bundle `bundle_id`, or None."""
    return _read(view, bundle_key(bundle_id), Bundle)


def get_periods(view: StateView, device_id: str, hour: int) -> list[list[int]]:
    """Return the sorted [start, end] periods attested for a device in one UTC hour."""
    raw = view.get(periods_key(device_id, hour))
    return [] if raw is None else list(decode_trusted(raw))


def get_imported_ranges(view: StateView, device_id: str) -> list[list[int]]:
    """Return the sorted, merged [ext_start, ext_end] ranges imported under `device_id`."""
    raw = view.get(imports_key(device_id))
    return [] if raw is None else list(decode_trusted(raw))


def get_tx_location(view: StateView, tx_id: bytes) -> tuple[int, int] | None:
    """Return (height, position) of a committed transaction, or None."""
    raw = view.get(tx_index_key(tx_id))
    if raw is None:
        return None
    height, position = decode_trusted(raw)
    return int(height), int(position)


def put_record(overlay: Overlay, key: bytes, record: Any) -> None:
    """Write a dataclass record at `key` in canonical form."""
    overlay.put_record(key, record)

"""Read-only queries over the node-side indexes (schema ``0x04``; see `greenchain.store.indexes`).

Bundles by owner, device, production period and status, retirements by beneficiary,
an account's balance and a device's totals. Lists are pages: up to `limit` bundles and
an opaque cursor (`BundlePage.next_cursor`) to pass back as `after`. A page also ends
after `MAX_SCAN` index entries, so a filter that matches little never holds the node
for long; a client follows the cursor until it is None.

Production-period filters apply to a bundle's ``period_start`` (UTC seconds): ``from``
inclusive, ``to`` exclusive. Periods never cross a UTC hour (DESIGN §3), so an hour
window selects whole hours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from greenchain.errors import Malformed
from greenchain.ledger.view import get_device
from greenchain.model.certificates import ACTIVE, RETIRED, Bundle
from greenchain.store.chain import ChainStore
from greenchain.store.indexes import MOVED, STATUS_BUCKET, read_wh
from greenchain.store.schema import (
    BALANCE_INDEX,
    DEVICE_INDEX,
    DEVICE_TOTALS,
    OWNER_INDEX,
    PERIOD_INDEX,
    RETIRED_INDEX,
    STATUS_INDEX,
    be64,
    device_prefix,
    text_prefix,
)

MAX_SCAN = 10_000
"""Most index entries one page reads; the page then ends with a cursor."""
ID_BYTES = 32
PERIOD_CURSOR_BYTES = 8 + ID_BYTES
"""A cursor into a period-ordered index: period_start (8 bytes) + bundle id."""


@dataclass(frozen=True, slots=True)
class BundleQuery:
    """Filters of a bundle listing; None means "any"."""

    owner: bytes | None = None
    """Owner account: lists its ACTIVE bundles only (ordered by bundle id)."""
    device_id: str | None = None
    """Producing device."""
    status: str | None = None
    """Stored status (``active``, ``split``, ``retired``, ...), a plain string."""
    period_from: int | None = None
    """Earliest production period start, UTC seconds (inclusive)."""
    period_to: int | None = None
    """Latest production period start, UTC seconds (exclusive)."""

    def accepts(self, bundle: Bundle) -> bool:
        """Return True if `bundle` passes every filter."""
        return ((self.owner is None or bundle.owner == self.owner)
                and (self.device_id is None or bundle.device_id == self.device_id)
                and (self.status is None or bundle.status == self.status)
                and (self.period_from is None or bundle.period_start >= self.period_from)
                and (self.period_to is None or bundle.period_start < self.period_to))


@dataclass(frozen=True, slots=True)
class BundlePage:
    """One page of a bundle listing."""

    bundles: tuple[Bundle, ...]
    """The bundles, in index order."""
    next_cursor: bytes | None
    """Pass as `after` for the next page; None when the listing is complete."""


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's active Wh, in total and broken down."""

    account: bytes
    """The account key."""
    by_device: dict[str, int] = field(default_factory=dict)
    """Device id -> Wh."""
    by_technology: dict[str, int] = field(default_factory=dict)
    """EECS technology code of the device -> Wh."""
    by_month: dict[str, int] = field(default_factory=dict)
    """UTC month of production (``YYYY-MM``) -> Wh."""

    @property
    def total_wh(self) -> int:
        """Wh of every active bundle of the account."""
        return sum(self.by_device.values())


@dataclass(frozen=True, slots=True)
class DeviceTotals:
    """Where a device's issued Wh are now."""

    device_id: str
    """The device."""
    owner_account: bytes
    """The device's owner account: the first owner of every Wh it issues."""
    issued_wh: int
    """Wh issued so far (the device's next serial)."""
    moved_wh: int
    """Wh of leaf bundles now owned by another account: transferred away."""
    by_status: dict[str, int]
    """Stored status -> Wh of the device's leaf (not split) bundles."""

    @property
    def retired_wh(self) -> int:
        """Wh retired (by anyone)."""
        return self.by_status.get(RETIRED, 0)

    @property
    def active_wh(self) -> int:
        """Wh still active (by anyone)."""
        return self.by_status.get(ACTIVE, 0)


def query_bundles(store: ChainStore, query: BundleQuery, after: bytes = b"",
                  limit: int = 100, max_scan: int = MAX_SCAN) -> BundlePage:
    """Return one page of the bundles that match `query`.

    The index read is the most selective one given: owner (ordered by bundle id), else
    device, else status, else all bundles (ordered by production period start).

    Parameters
    ----------
    store:
        The chain store.
    query:
        The filters.
    after:
        A cursor from a previous page (empty for the first page).
    limit:
        Most bundles returned (>= 1).
    max_scan:
        Most index entries read.

    Returns
    -------
    BundlePage
        The matches and the cursor of the next page.

    Raises
    ------
    Malformed
        If `after` is not a cursor of this index (rule ``malformed``, parameter ``after``).
    """
    if query.owner is not None:
        entries = _id_entries(store, OWNER_INDEX + query.owner, after)
    else:
        prefix = PERIOD_INDEX
        if query.device_id is not None:
            prefix = DEVICE_INDEX + device_prefix(query.device_id)
        elif query.status is not None:
            prefix = STATUS_INDEX + text_prefix(query.status)
        entries = _period_entries(store, prefix, query.period_from, query.period_to, after)
    return _collect(store, entries, query.accepts, limit, max_scan)


def query_retirements(store: ChainStore, beneficiary: str, period_from: int | None = None,
                      period_to: int | None = None, after: bytes = b"", limit: int = 100,
                      max_scan: int = MAX_SCAN) -> BundlePage:
    """Return one page of the bundles retired for `beneficiary` (exact text).

    Ordered by production period start; `period_from`/`period_to` bound it (UTC s).

    Raises
    ------
    Malformed
        If `after` is not a cursor of this index.
    """
    entries = _period_entries(store, RETIRED_INDEX + text_prefix(beneficiary), period_from,
                              period_to, after)
    return _collect(store, entries, lambda bundle: True, limit, max_scan)


def account_balance(store: ChainStore, account: bytes) -> Balance:
    """Return the active Wh of `account` by device, EECS technology and production month.

    Reads one counter per (device, month) the account holds, never its bundles.
    """
    balance = Balance(account)
    technologies: dict[str, str] = {}
    prefix = BALANCE_INDEX + account
    for key, value in store.kv.iterate(prefix):
        device_id, month = _split_device_key(key[len(prefix):])
        wh = read_wh(value)
        if device_id not in technologies:
            device = get_device(store, device_id)
            technologies[device_id] = device.technology if device is not None else ""
        _add(balance.by_device, device_id, wh)
        _add(balance.by_technology, technologies[device_id], wh)
        _add(balance.by_month, month, wh)
    return balance


def device_totals(store: ChainStore, device_id: str) -> DeviceTotals | None:
    """Return where the Wh of `device_id` are now, or None for an unknown device."""
    device = get_device(store, device_id)
    if device is None:
        return None
    by_status: dict[str, int] = {}
    moved = 0
    prefix = DEVICE_TOTALS + device_prefix(device_id)
    for key, value in store.kv.iterate(prefix):
        bucket = key[len(prefix):].decode()
        if bucket == MOVED:
            moved = read_wh(value)
        elif bucket.startswith(STATUS_BUCKET):
            by_status[bucket.removeprefix(STATUS_BUCKET)] = read_wh(value)
    return DeviceTotals(device_id, device.owner_account, device.issued_wh, moved, by_status)


# --- index scans ------------------------------------------------------------------------
Entries = Iterator[tuple[bytes, bytes]]
"""(cursor, bundle id) per index entry, in index order."""


def _id_entries(store: ChainStore, prefix: bytes, after: bytes) -> Entries:
    if after and len(after) != ID_BYTES:
        raise Malformed(f"query parameter after: must be a bundle id ({ID_BYTES} bytes, hex) "
                        "for this listing", parameter="after")
    for key, _ in store.kv.iterate(prefix, prefix + after + b"\x00" if after else None):
        bundle_id = key[len(prefix):]
        yield bundle_id, bundle_id


def _period_entries(store: ChainStore, prefix: bytes, period_from: int | None,
                    period_to: int | None, after: bytes) -> Entries:
    if after and len(after) != PERIOD_CURSOR_BYTES:
        raise Malformed(f"query parameter after: must be a cursor of {PERIOD_CURSOR_BYTES} "
                        "bytes (hex) as a page returned in next", parameter="after")
    start = prefix + be64(period_from or 0)
    if after:
        # Keys after the prefix have a fixed length, so cursor + 0x00 is just past it.
        start = max(start, prefix + after + b"\x00")
    for key, _ in store.kv.iterate(prefix, start):
        cursor = key[len(prefix):]
        if period_to is not None and int.from_bytes(cursor[:8], "big") >= period_to:
            return
        yield cursor, cursor[8:]


def _collect(store: ChainStore, entries: Entries, accept: Callable[[Bundle], bool],
             limit: int, max_scan: int) -> BundlePage:
    found: list[Bundle] = []
    for scanned, (cursor, bundle_id) in enumerate(entries, start=1):
        bundle = store.get_bundle(bundle_id)
        if bundle is not None and accept(bundle):
            found.append(bundle)
        if len(found) >= limit or scanned >= max_scan:
            return BundlePage(tuple(found), cursor)
    return BundlePage(tuple(found), None)


def _split_device_key(rest: bytes) -> tuple[str, str]:
    """Split ``device_prefix(device_id) + month`` into (device id, month)."""
    size = int.from_bytes(rest[:2], "big")
    return rest[2:2 + size].decode(), rest[2 + size:].decode()


def _add(totals: dict[str, int], key: str, wh: int) -> None:
    totals[key] = totals.get(key, 0) + wh

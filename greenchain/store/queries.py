"""Read-only listings over the node-side indexes (schema ``0x04``; see `greenchain.store.indexes`).

Bundles by owner, device, production period and status, and retirements by beneficiary
(an account's balance and a device's totals: `greenchain.store.balances`). Lists are
pages: up to `limit` bundles and an opaque cursor (`BundlePage.next_cursor`) to pass back
as `after`. A page also ends after `MAX_SCAN` index entries, so a filter that matches
little never holds the node for long; a client follows the cursor until it is None. A
cursor is a position in the index read, so entries a filter drops never shift a page
boundary.

Production-period filters apply to a bundle's ``period_start`` (UTC seconds): ``from``
inclusive, ``to`` exclusive. Periods never cross a UTC hour (DESIGN §3), so an hour
window selects whole hours.

Expiry is derived, never stored (DESIGN §2, docs/DESIGN.md §10): every query judges at an
`AsOf` (the tip's block time and the genesis ``expiry_s``). A bundle stored ``active``
whose period ended ``expiry_s`` or more before it is ``expired``. Costs:

- ``status=active`` / ``status=expired`` read the stored-active entries of the status (or
  device) index, ordered by period start, narrowed to the periods that can match: expired
  ones start before the cutoff ``tip_s - expiry_s``, active ones at most `MAX_PERIOD_S`
  before it. Each entry read is checked exactly, so at most one hour of periods is read
  and dropped; with an owner, the owner's active entries are read and filtered.
- Balances and device totals (`greenchain.store.balances`) split stored-active Wh at
  the cutoff with day counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from greenchain.errors import Malformed
from greenchain.model.certificates import (
    ACTIVE,
    EXPIRED,
    STORED_BUNDLE_STATUSES,
    Bundle,
    bundle_status_at,
)
from greenchain.params import MAX_PERIOD_S
from greenchain.store.chain import ChainStore
from greenchain.store.schema import (
    DEVICE_INDEX,
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
QUERY_STATUSES = STORED_BUNDLE_STATUSES | {EXPIRED}
"""Statuses a listing filters on: the stored ones and the derived ``expired``."""


@dataclass(frozen=True, slots=True)
class AsOf:
    """The moment a query judges derived statuses at (DESIGN §2: ``expired`` is derived)."""

    time_ms: int
    """The tip's block time, UTC ms (the ledger's "now" is a block time, never a clock)."""
    expiry_s: int | None
    """The genesis certificate lifetime, seconds after the period end; None = never."""

    def status_of(self, bundle: Bundle) -> str:
        """Return the status of `bundle` at `time_ms` (``expired`` derived)."""
        return bundle_status_at(bundle, self.time_ms, self.expiry_s)

    @property
    def cutoff_s(self) -> int | None:
        """The latest period end (UTC s) that has expired, or None if none can have.

        A stored-active bundle is expired iff ``period_end <= cutoff_s``: "reached" means
        ``time_ms >= (period_end + expiry_s) * 1000`` (DESIGN §2).
        """
        if self.expiry_s is None:
            return None
        cutoff = self.time_ms // 1000 - self.expiry_s
        return cutoff if cutoff > 0 else None  # every period ends after second 0


def as_of_tip(store: ChainStore, expiry_s: int | None) -> AsOf:
    """Return the `AsOf` of the store's last committed block (DESIGN §5: "now" is its time).

    Parameters
    ----------
    store:
        The chain store.
    expiry_s:
        The genesis certificate lifetime (``expiry_s``), or None (never expires).

    Returns
    -------
    AsOf
        The tip's block time (UTC ms; 0 for an empty store, which holds no bundle).
    """
    tip = store.tip()
    return AsOf(0 if tip is None else tip.time_ms, expiry_s)


@dataclass(frozen=True, slots=True)
class BundleQuery:
    """Filters of a bundle listing; None means "any"."""

    owner: bytes | None = None
    """Owner account: lists the bundles it holds, stored active (now active or expired),
    ordered by bundle id."""
    device_id: str | None = None
    """Producing device."""
    status: str | None = None
    """Status at the query's `AsOf`: a stored one (``active``, ``split``, ``retired``, ...)
    or ``expired``; ``active`` leaves out the expired bundles."""
    period_from: int | None = None
    """Earliest production period start, UTC seconds (inclusive)."""
    period_to: int | None = None
    """Latest production period start, UTC seconds (exclusive)."""

    def accepts(self, bundle: Bundle, as_of: AsOf) -> bool:
        """Return True if `bundle` passes every filter, its status judged at `as_of`."""
        return ((self.owner is None or bundle.owner == self.owner)
                and (self.device_id is None or bundle.device_id == self.device_id)
                and (self.status is None or as_of.status_of(bundle) == self.status)
                and (self.period_from is None or bundle.period_start >= self.period_from)
                and (self.period_to is None or bundle.period_start < self.period_to))


@dataclass(frozen=True, slots=True)
class BundlePage:
    """One page of a bundle listing."""

    bundles: tuple[Bundle, ...]
    """The bundles, in index order (as stored; `as_of` gives their status now)."""
    next_cursor: bytes | None
    """Pass as `after` for the next page; None when the listing is complete."""
    as_of: AsOf
    """The moment the page's statuses were judged at."""


def query_bundles(store: ChainStore, query: BundleQuery, after: bytes = b"",
                  limit: int = 100, max_scan: int = MAX_SCAN, *, as_of: AsOf) -> BundlePage:
    """Return one page of the bundles that match `query` at `as_of`.

    The index read is the most selective one given: owner (ordered by bundle id), else
    device, else status, else all bundles (ordered by production period start). Status
    ``active`` and ``expired`` read the stored-active entries, narrowed by period start
    to those that can match (module docstring: costs).

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
    as_of:
        The tip's block time and the expiry policy: judges ``status``.

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
        prefix, period_from, period_to = _period_plan(query, as_of)
        entries = _period_entries(store, prefix, period_from, period_to, after)
    return _collect(store, entries, lambda bundle: query.accepts(bundle, as_of), limit,
                    max_scan, as_of)


def query_retirements(store: ChainStore, beneficiary: str, period_from: int | None = None,
                      period_to: int | None = None, after: bytes = b"", limit: int = 100,
                      max_scan: int = MAX_SCAN, *, as_of: AsOf) -> BundlePage:
    """Return one page of the bundles retired for `beneficiary` (exact text).

    Ordered by production period start; `period_from`/`period_to` bound it (UTC s). A
    retirement is final, so `as_of` only goes with the page for rendering.

    Raises
    ------
    Malformed
        If `after` is not a cursor of this index.
    """
    entries = _period_entries(store, RETIRED_INDEX + text_prefix(beneficiary), period_from,
                              period_to, after)
    return _collect(store, entries, lambda bundle: True, limit, max_scan, as_of)


# --- index scans ------------------------------------------------------------------------
Entries = Iterator[tuple[bytes, bytes]]
"""(cursor, bundle id) per index entry, in index order."""


def _period_plan(query: BundleQuery, as_of: AsOf) -> tuple[bytes, int, int | None]:
    """Return (index prefix, period_from, period_to) to scan for a query without owner."""
    status = query.status
    if query.device_id is not None:
        prefix = DEVICE_INDEX + device_prefix(query.device_id)
    elif status is not None:
        # Expired bundles are stored active: both statuses read the active entries.
        prefix = STATUS_INDEX + text_prefix(ACTIVE if status == EXPIRED else status)
    else:
        prefix = PERIOD_INDEX
    period_from, period_to = query.period_from or 0, query.period_to
    cutoff = as_of.cutoff_s
    if status == EXPIRED:
        # Only a period that ended by the cutoff has expired, and it started before it.
        last = cutoff or 0  # no cutoff: nothing has expired, the scan reads nothing
        period_to = last if period_to is None else min(period_to, last)
    elif status == ACTIVE and cutoff is not None:
        # A period ends at most MAX_PERIOD_S after it starts (DESIGN §3): one that started
        # MAX_PERIOD_S or more before the cutoff has ended by it.
        period_from = max(period_from, cutoff - MAX_PERIOD_S + 1)
    return prefix, period_from, period_to


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
             limit: int, max_scan: int, as_of: AsOf) -> BundlePage:
    found: list[Bundle] = []
    for scanned, (cursor, bundle_id) in enumerate(entries, start=1):
        bundle = store.get_bundle(bundle_id)
        if bundle is not None and accept(bundle):
            found.append(bundle)
        # The cursor is the last entry read, matched or not: the next page goes on after it.
        if len(found) >= limit or scanned >= max_scan:
            return BundlePage(tuple(found), cursor, as_of)
    return BundlePage(tuple(found), None, as_of)

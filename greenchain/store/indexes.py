"""Node-side query indexes derived from a block's bundle writes (DESIGN §5, schema ``0x04``).

They are written in the block's one atomic batch but never enter the app_hash: they are
a node's own view for queries, rebuilt from the same writes by every node. Two kinds:

- *entries* (key -> small value): a bundle's keys in the owner, serial, device, period,
  status and retirement indexes. A bundle whose record changes loses the entries of its
  old record and gains those of its new one.
- *counters* (key -> Wh as 8 big-endian bytes): an account's active Wh by device and
  month of production, a device's leaf Wh by status and by "moved away from the
  device's owner", and the active Wh by UTC day of production (per device, and per owner
  and device: `ACTIVE_DAY_INDEX`). A change adds the new record's amounts and subtracts
  the old one's.

Expiry is derived, never stored (DESIGN §2): the counters hold *stored* statuses, and
`greenchain.store.queries` splits stored-active Wh into active and expired at the tip's
block time. The day counters let it do so without reading every bundle: a whole day is on
one side of the expiry cutoff except the one day that holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache

from greenchain.model.certificates import ACTIVE, DAY_S, RETIRED, SPLIT, Bundle
from greenchain.store.schema import (
    ACTIVE_DAY_INDEX,
    BALANCE_INDEX,
    DEVICE_INDEX,
    DEVICE_TOTALS,
    OWNER_INDEX,
    PERIOD_INDEX,
    RETIRED_INDEX,
    SERIAL_INDEX,
    STATUS_INDEX,
    be64,
    device_prefix,
    text_prefix,
)

DEVICE_DAY = ACTIVE_DAY_INDEX + b"d"
OWNER_DAY = ACTIVE_DAY_INDEX + b"o"
MOVED = "moved"
"""DEVICE_TOTALS bucket: leaf Wh whose owner is not the device's owner account."""
STATUS_BUCKET = "status:"
"""DEVICE_TOTALS bucket prefix: leaf Wh per stored status (``status:retired``)."""

BundleChange = tuple[Bundle | None, Bundle]
"""(record before the block or None for a new bundle, record after the block)."""


def production_month(period_start: int) -> str:
    """Return the UTC month (``YYYY-MM``) of a production period start (UTC seconds)."""
    return _month_of_hour(period_start // 3600)


@lru_cache(maxsize=4096)
def _month_of_hour(hour: int) -> str:
    # A block's bundles share few hours: formatting each date once keeps commits cheap.
    return datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m")


def production_day(period_start: int) -> int:
    """Return the UTC midnight (seconds) of a production period start (UTC seconds)."""
    return period_start - period_start % DAY_S


def month_bounds(month: str) -> tuple[int, int]:
    """Return the first second and the end (exclusive) of a UTC month ``YYYY-MM``, UTC s."""
    year, number = int(month[:4]), int(month[5:7])
    following = (year + 1, 1) if number == 12 else (year, number + 1)
    start = datetime(year, number, 1, tzinfo=UTC)
    return int(start.timestamp()), int(datetime(*following, 1, tzinfo=UTC).timestamp())


def device_day_key(device_id: str, day: int) -> bytes:
    """Key of a device's active Wh produced in the UTC day starting at `day` (UTC s)."""
    return DEVICE_DAY + device_prefix(device_id) + be64(day)


def owner_day_key(owner: bytes, device_id: str, day: int) -> bytes:
    """Key of an owner's active Wh of one device produced in the UTC day `day` (UTC s)."""
    return OWNER_DAY + owner + device_prefix(device_id) + be64(day)


def balance_key(owner: bytes, device_id: str, month: str) -> bytes:
    """Key of an account's active Wh of one device and one month (``YYYY-MM``)."""
    return BALANCE_INDEX + owner + device_prefix(device_id) + month.encode()


def totals_key(device_id: str, bucket: str) -> bytes:
    """Key of a device's leaf Wh in one bucket (`MOVED` or ``status:<status>``)."""
    return DEVICE_TOTALS + device_prefix(device_id) + bucket.encode()


def bundle_entries(bundle: Bundle) -> dict[bytes, bytes]:
    """Return the index entries (key -> value) that one bundle record holds.

    Parameters
    ----------
    bundle:
        A bundle record as stored.

    Returns
    -------
    dict[bytes, bytes]
        Device, period and status entries for every bundle; the owner entry while it is
        active; the serial entry (value: its id) unless split; the beneficiary entry
        once retired.
    """
    device = device_prefix(bundle.device_id)
    tail = be64(bundle.period_start) + bundle.bundle_id
    entries = {
        DEVICE_INDEX + device + tail: b"",
        PERIOD_INDEX + tail: b"",
        STATUS_INDEX + text_prefix(bundle.status) + tail: b"",
    }
    if bundle.status == ACTIVE:
        entries[OWNER_INDEX + bundle.owner + bundle.bundle_id] = b""
    if bundle.status != SPLIT:
        entries[SERIAL_INDEX + device + be64(bundle.serial_start)] = bundle.bundle_id
    if bundle.status == RETIRED and bundle.retirement is not None:
        entries[RETIRED_INDEX + text_prefix(bundle.retirement.beneficiary) + tail] = b""
    return entries


def bundle_amounts(bundle: Bundle, device_owner: bytes | None) -> dict[bytes, int]:
    """Return the counter contributions (key -> Wh) of one bundle record.

    Parameters
    ----------
    bundle:
        A bundle record as stored.
    device_owner:
        The device's owner account (first owner of all its Wh), or None if unknown.

    Returns
    -------
    dict[bytes, int]
        While active: the owner's balance key and the day keys of its production day;
        for a leaf (not split): its status bucket, and `MOVED` when its owner is not the
        device's owner.
    """
    amounts: dict[bytes, int] = {}
    wh = bundle.quantity_wh
    if bundle.status == ACTIVE:
        month = production_month(bundle.period_start)
        day = production_day(bundle.period_start)
        amounts[balance_key(bundle.owner, bundle.device_id, month)] = wh
        amounts[device_day_key(bundle.device_id, day)] = wh
        amounts[owner_day_key(bundle.owner, bundle.device_id, day)] = wh
    if bundle.status != SPLIT:
        amounts[totals_key(bundle.device_id, STATUS_BUCKET + bundle.status)] = wh
        if device_owner is not None and bundle.owner != device_owner:
            amounts[totals_key(bundle.device_id, MOVED)] = wh
    return amounts


def compute_index_writes(changes: Iterable[BundleChange],
                         device_owner: Callable[[str], bytes | None],
                         read_counter: Callable[[bytes], int]) -> dict[bytes, bytes | None]:
    """Return the index writes (key -> value, None deletes) of a block's bundle changes.

    Parameters
    ----------
    changes:
        Each bundle the block wrote: its record before the block (None if new) and after.
    device_owner:
        Returns a device's owner account (the state after the block), or None.
    read_counter:
        Returns a counter's committed value in Wh (0 when absent).

    Returns
    -------
    dict[bytes, bytes | None]
        Entries to delete and put (a put wins over a delete of the same key, e.g. the
        serial entry a split parent hands to its low child) and the new counter values;
        a counter that falls to zero or below is deleted (a store written before these
        indexes existed cannot go negative).
    """
    deletes: dict[bytes, bytes | None] = {}
    puts: dict[bytes, bytes | None] = {}
    deltas: dict[bytes, int] = {}
    for old, new in changes:
        owner = device_owner(new.device_id)
        if old is not None:
            deletes.update(dict.fromkeys(bundle_entries(old)))
            for key, wh in bundle_amounts(old, owner).items():
                deltas[key] = deltas.get(key, 0) - wh
        puts.update(bundle_entries(new))
        for key, wh in bundle_amounts(new, owner).items():
            deltas[key] = deltas.get(key, 0) + wh
    deletes.update(puts)
    for key, delta in deltas.items():
        if delta:
            total = read_counter(key) + delta
            deletes[key] = be64(total) if total > 0 else None
    return deletes


def read_wh(raw: bytes | None) -> int:
    """Return a counter value (8 big-endian bytes) as Wh; 0 when absent."""
    return 0 if raw is None else int.from_bytes(raw, "big")

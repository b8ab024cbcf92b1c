"""Balances and device totals over the index counters, with expiry derived (DESIGN §2).

The counters (`greenchain.store.indexes`) hold Wh by *stored* status. Expiry is derived,
never stored: at an `AsOf` (the tip's block time and the genesis ``expiry_s``) a
stored-active Wh whose production period ended ``expiry_s`` or more before is expired.
Both queries split stored-active Wh at the cutoff ``tip_s - expiry_s`` with the day
counters (`greenchain.store.schema.ACTIVE_DAY_INDEX`): a whole UTC day of production lies
on one side of the cutoff, except the cutoff's own day, whose bundles are read (one day
of the device index). Costs:

- a balance reads one counter per (device, month) the account holds; for each device in
  the cutoff's month, also at most a month of its day counters and the cutoff's day;
- device totals read the device's counters, the day counters of the last ``expiry_s`` of
  production (the still-active side, whatever the device's age) and the cutoff's day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from greenchain.ledger.view import get_device
from greenchain.model.certificates import ACTIVE, DAY_S, EXPIRED, RETIRED
from greenchain.store.chain import ChainStore
from greenchain.store.indexes import (
    DEVICE_DAY,
    MOVED,
    OWNER_DAY,
    STATUS_BUCKET,
    month_bounds,
    read_wh,
)
from greenchain.store.queries import AsOf
from greenchain.store.schema import (
    BALANCE_INDEX,
    DEVICE_INDEX,
    DEVICE_TOTALS,
    be64,
    device_prefix,
)


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's Wh by device, technology and month: active, and expired at `as_of`."""

    account: bytes
    """The account key."""
    as_of: AsOf
    """The moment active and expired were judged at."""
    by_device: dict[str, int] = field(default_factory=dict)
    """Device id -> active Wh."""
    by_technology: dict[str, int] = field(default_factory=dict)
    """EECS technology code of the device -> active Wh."""
    by_month: dict[str, int] = field(default_factory=dict)
    """UTC month of production (``YYYY-MM``) -> active Wh."""
    expired_by_device: dict[str, int] = field(default_factory=dict)
    """Device id -> expired Wh (stored active, past their expiry date)."""
    expired_by_technology: dict[str, int] = field(default_factory=dict)
    """EECS technology code -> expired Wh."""
    expired_by_month: dict[str, int] = field(default_factory=dict)
    """UTC month of production -> expired Wh."""

    @property
    def total_wh(self) -> int:
        """Wh of every active (not expired) bundle of the account."""
        return sum(self.by_device.values())

    @property
    def expired_wh(self) -> int:
        """Wh the account holds that expired before they were used."""
        return sum(self.expired_by_device.values())


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
    """Status at `as_of` (``expired`` derived) -> Wh of the device's leaf (not split)
    bundles; sums to `issued_wh`."""
    stored_by_status: dict[str, int]
    """Stored status -> Wh of the leaf bundles (``expired`` Wh count as ``active``)."""
    as_of: AsOf
    """The moment the statuses were judged at."""

    @property
    def retired_wh(self) -> int:
        """Wh retired (by anyone)."""
        return self.by_status.get(RETIRED, 0)

    @property
    def active_wh(self) -> int:
        """Wh still active (by anyone): not expired."""
        return self.by_status.get(ACTIVE, 0)

    @property
    def expired_wh(self) -> int:
        """Wh expired before anyone retired, withdrew or exported them."""
        return self.by_status.get(EXPIRED, 0)


def account_balance(store: ChainStore, account: bytes, *, as_of: AsOf) -> Balance:
    """Return the Wh of `account` by device, EECS technology and production month.

    Stored-active Wh count as active, or as expired once `as_of` reached their expiry
    date (DESIGN §2). Reads one counter per (device, month) the account holds, never its
    bundles, plus for each device in the month of the expiry cutoff its day counters of
    that month and the bundles of the cutoff's day.

    Parameters
    ----------
    store:
        The chain store.
    account:
        The account key (32 bytes).
    as_of:
        The tip's block time and the expiry policy.

    Returns
    -------
    Balance
        Active and expired Wh; empty for an account that holds nothing (or is unknown).
    """
    balance = Balance(account, as_of)
    technologies: dict[str, str] = {}
    prefix = BALANCE_INDEX + account
    for key, value in store.kv.iterate(prefix):
        device_id, month = _split_device_key(key[len(prefix):])
        wh = read_wh(value)
        expired = _expired_wh_of_month(store, as_of, account, device_id, month, wh)
        if device_id not in technologies:
            device = get_device(store, device_id)
            technologies[device_id] = device.technology if device is not None else ""
        technology = technologies[device_id]
        for totals, name in ((balance.by_device, device_id),
                             (balance.by_technology, technology), (balance.by_month, month)):
            _add(totals, name, wh - expired)
        for totals, name in ((balance.expired_by_device, device_id),
                             (balance.expired_by_technology, technology),
                             (balance.expired_by_month, month)):
            _add(totals, name, expired)
    return balance


def device_totals(store: ChainStore, device_id: str, *, as_of: AsOf) -> DeviceTotals | None:
    """Return where the Wh of `device_id` are at `as_of`, or None for an unknown device.

    Stored-active Wh past their expiry date count under ``expired`` (DESIGN §2). Reads the
    device's counters, its day counters from the cutoff's day on and that day's bundles.

    Parameters
    ----------
    store:
        The chain store.
    device_id:
        The device.
    as_of:
        The tip's block time and the expiry policy.

    Returns
    -------
    DeviceTotals or None
        Issued, moved and per-status Wh (``by_status`` derived, ``stored_by_status`` as
        stored); None if the device is not registered.
    """
    device = get_device(store, device_id)
    if device is None:
        return None
    stored: dict[str, int] = {}
    moved = 0
    prefix = DEVICE_TOTALS + device_prefix(device_id)
    for key, value in store.kv.iterate(prefix):
        bucket = key[len(prefix):].decode()
        if bucket == MOVED:
            moved = read_wh(value)
        elif bucket.startswith(STATUS_BUCKET):
            stored[bucket.removeprefix(STATUS_BUCKET)] = read_wh(value)
    stored_active = stored.get(ACTIVE, 0)
    expired = _expired_wh_of_device(store, as_of, device_id, stored_active)
    derived = {name: wh for name, wh in stored.items() if name != ACTIVE}
    derived |= {name: wh for name, wh in ((ACTIVE, stored_active - expired),
                                          (EXPIRED, expired)) if wh}
    return DeviceTotals(device_id, device.owner_account, device.issued_wh, moved,
                        dict(sorted(derived.items())), stored, as_of)


# --- expiry split of stored-active Wh ---------------------------------------------------
def _expired_wh_of_month(store: ChainStore, as_of: AsOf, owner: bytes, device_id: str,
                         month: str, stored_active_wh: int) -> int:
    """Return how many of an owner's stored-active Wh of one device and month expired."""
    cutoff = as_of.cutoff_s
    start, end = month_bounds(month)
    if cutoff is None or start >= cutoff:
        return 0  # every period of the month ends after its start, so after the cutoff
    if end <= cutoff:
        return stored_active_wh  # every period of the month ends by its end
    # The cutoff's month. A period never crosses a UTC hour (DESIGN §3), so it ends by the
    # end of the day it starts in: days after the cutoff's day are active, earlier ones
    # expired, and only the cutoff's own day needs its bundles read.
    day = cutoff - cutoff % DAY_S
    prefix = OWNER_DAY + owner + device_prefix(device_id)
    active = _sum_counters(store, prefix, day + DAY_S, end)
    active += _active_wh_of_day(store, as_of, device_id, day, owner)
    return _clamp(stored_active_wh - active, stored_active_wh)


def _expired_wh_of_device(store: ChainStore, as_of: AsOf, device_id: str,
                          stored_active_wh: int) -> int:
    """Return how many of a device's stored-active Wh expired (any owner)."""
    cutoff = as_of.cutoff_s
    if cutoff is None or stored_active_wh == 0:
        return 0
    day = cutoff - cutoff % DAY_S  # as in _expired_wh_of_month: only this day is split
    active = _sum_counters(store, DEVICE_DAY + device_prefix(device_id), day + DAY_S, None)
    active += _active_wh_of_day(store, as_of, device_id, day, None)
    return _clamp(stored_active_wh - active, stored_active_wh)


def _clamp(expired_wh: int, stored_active_wh: int) -> int:
    # Counters of one block batch agree; a store whose day counters predate this index
    # (rebuild its indexes) must still never show negative or excess Wh.
    return min(max(expired_wh, 0), stored_active_wh)


def _sum_counters(store: ChainStore, prefix: bytes, day_from: int, day_to: int | None) -> int:
    """Return the sum of the day counters under `prefix` for days in [day_from, day_to)."""
    stop = None if day_to is None else prefix + be64(day_to)
    total = 0
    for key, value in store.kv.iterate(prefix, prefix + be64(day_from)):
        if stop is not None and key >= stop:
            break
        total += read_wh(value)
    return total


def _active_wh_of_day(store: ChainStore, as_of: AsOf, device_id: str, day: int,
                      owner: bytes | None) -> int:
    """Return the Wh of a device's bundles produced in the UTC day `day` still active.

    Reads the device's bundles of that day (the one day the expiry cutoff splits);
    `owner`, when given, keeps only that owner's.
    """
    prefix = DEVICE_INDEX + device_prefix(device_id)
    stop = prefix + be64(day + DAY_S)
    total = 0
    for key, _ in store.kv.iterate(prefix, prefix + be64(day)):
        if key >= stop:
            break
        bundle = store.get_bundle(key[len(prefix) + 8:])
        if (bundle is not None and (owner is None or bundle.owner == owner)
                and as_of.status_of(bundle) == ACTIVE):
            total += bundle.quantity_wh
    return total


def _split_device_key(rest: bytes) -> tuple[str, str]:
    """Split ``device_prefix(device_id) + month`` into (device id, month)."""
    size = int.from_bytes(rest[:2], "big")
    return rest[2:2 + size].decode(), rest[2 + size:].decode()


def _add(totals: dict[str, int], key: str, wh: int) -> None:
    if wh:
        totals[key] = totals.get(key, 0) + wh

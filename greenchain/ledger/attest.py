"""Issuance: applying an attestation of metered generation (DESIGN §3).

Periods are at most one hour and never cross a UTC hour boundary, so two periods of a
device can only overlap if they lie in the same UTC hour: the period index is keyed by
(device, hour) and an overlap check is one read. Optional cumulative meter register
readings never decrease and differ by exactly the attested energy.
"""

from __future__ import annotations

from greenchain.codec import encode_trusted
from greenchain.errors import (
    BeforeProductionStart,
    DeviceSuspended,
    InvalidAmount,
    InvalidPeriod,
    MeterRegisterMismatch,
    OverCapacity,
    PeriodInFuture,
    PeriodOverlap,
    SerialSpaceExhausted,
    Unauthorized,
    UnknownDevice,
)
from greenchain.ledger.bundles import validate_active_holder
from greenchain.ledger.context import TxContext
from greenchain.ledger.view import (
    Overlay,
    bundle_key,
    device_key,
    get_device,
    get_periods,
    periods_key,
    put_record,
)
from greenchain.model.certificates import (
    ACTIVE,
    Bundle,
    Device,
    compute_bundle_id,
    compute_utc_date_s,
)
from greenchain.model.fields import replace_fields
from greenchain.model.transactions import Attest, Tx
from greenchain.params import MAX_PERIOD_S

MAX_SERIAL_END = 2**63 - 1
"""Exclusive end a device's serials may reach: certificate ids ``device:serial`` keep a
serial below 2^63, the bound the API and proofs accept."""


def validate_period_bounds(start: int, end: int) -> None:
    """Check ``0 < end - start <= 3600`` and that ``[start, end)`` lies in one UTC hour.

    Raises
    ------
    InvalidPeriod
    """
    # Within one UTC hour, so hourly matching is exact (DESIGN §3).
    if not 0 < end - start <= MAX_PERIOD_S or start < 0:
        raise InvalidPeriod("period must be 1 to 3600 s long", start=start, end=end)
    if start // 3600 != (end - 1) // 3600:
        raise InvalidPeriod("period must lie within one UTC hour", start=start, end=end)


def validate_period_ended(end: int, ctx: TxContext) -> None:
    """Raise `PeriodInFuture` unless the block time reached `end` (UTC seconds)."""
    # "Reached" means block_ms >= t_s * 1000 (DESIGN §2).
    if end * 1000 > ctx.time_ms:
        raise PeriodInFuture("period ends after the block time", end=end, time_ms=ctx.time_ms)


def validate_period(body: Attest, device: Device, ctx: TxContext) -> None:
    """Check the production period of an attestation against DESIGN §3.

    Raises
    ------
    InvalidPeriod, BeforeProductionStart, PeriodInFuture
    """
    validate_period_bounds(body.period_start, body.period_end)
    if body.period_start < device.production_start_s:
        raise BeforeProductionStart("period starts before the device's production start",
                                    start=body.period_start,
                                    production_start=device.production_start_s)
    validate_period_ended(body.period_end, ctx)


def validate_energy(body: Attest, device: Device) -> None:
    """Check 0 < energy_wh and energy_wh * 3600 <= capacity_w * (end - start).

    Raises
    ------
    InvalidAmount, OverCapacity
    """
    if body.energy_wh <= 0:
        raise InvalidAmount("energy must be a positive number of Wh", energy_wh=body.energy_wh)
    if body.energy_wh * 3600 > device.capacity_w * (body.period_end - body.period_start):
        raise OverCapacity("energy exceeds capacity x period", energy_wh=body.energy_wh,
                           capacity_w=device.capacity_w)


def validate_meter_register(body: Attest, device: Device) -> None:
    """Check the optional cumulative meter register readings of an attestation.

    Both readings are given or neither; when given they are >= 0, never below the
    device's last reading, and ``register_end_wh - register_start_wh == energy_wh``.

    Raises
    ------
    MeterRegisterMismatch
    """
    start, end = body.register_start_wh, body.register_end_wh
    if start is None and end is None:
        return
    if start is None or end is None:
        raise MeterRegisterMismatch("give both meter register readings or neither",
                                    register_start_wh=start, register_end_wh=end)
    last = device.last_register_wh
    # Cumulative registers never run backwards (a meter swap is a new device).
    if start < 0 or (last is not None and start < last):
        raise MeterRegisterMismatch("meter register reading decreases", register_start_wh=start,
                                    last_register_wh=last)
    if end - start != body.energy_wh:
        raise MeterRegisterMismatch("register readings do not differ by the energy",
                                    register_start_wh=start, register_end_wh=end,
                                    energy_wh=body.energy_wh)


def compute_new_bundle(device: Device, start: int, end: int, energy_wh: int, tx: Tx,
                       ctx: TxContext) -> Bundle:
    """Return the bundle an issuance of `energy_wh` for `device` creates (not written).

    It takes serials ``[issued_wh, issued_wh + energy_wh)`` of the device, is owned by the
    device's owner account and carries the device's certificate attributes.

    Raises
    ------
    SerialSpaceExhausted
        If the range would end past ``MAX_SERIAL_END`` (2^63 - 1).
    """
    serial_start = device.issued_wh
    serial_end = serial_start + energy_wh
    if serial_end > MAX_SERIAL_END:
        raise SerialSpaceExhausted("the device's serials would pass 2^63 - 1",
                                   device_id=device.device_id, serial_end=serial_end)
    return Bundle(
        compute_bundle_id(device.device_id, serial_start, serial_end), device.device_id,
        serial_start, serial_end, start, end, device.owner_account, ACTIVE, tx.tx_id,
        ctx.height, b"", tx.tx_id, None, energy_source=device.energy_source,
        technology=device.technology, issuing_body=device.issuing_body, country=device.country,
        issue_market_zone=device.issue_market_zone, issuance_purpose=device.issuance_purpose,
        support_received=device.support_received, emissions_factor=device.emissions_factor,
        issuance_date_s=compute_utc_date_s(ctx.time_ms))


def write_issued(overlay: Overlay, device: Device, bundle: Bundle,
                 last_register_wh: int | None) -> None:
    """Write a newly issued `bundle` and `device` with its serial counter moved past it.

    `last_register_wh` is the device's meter register reading after the period (its
    previous one when the attestation gives none).
    """
    put_record(overlay, bundle_key(bundle.bundle_id), bundle)
    put_record(overlay, device_key(device.device_id),
               replace_fields(device, issued_wh=bundle.serial_end,
                              last_register_wh=last_register_wh))


def find_overlap(periods: list[list[int]], start: int, end: int) -> list[int] | None:
    """Return the first [s, e) in `periods` that overlaps [start, end), or None."""
    for period in periods:
        if period[0] < end and start < period[1]:
            return period
    return None


def get_attesting_device(overlay: Overlay, tx: Tx, device_id: str) -> Device:
    """Return the active device `tx` attests for, whose owner account may receive.

    Raises
    ------
    UnknownDevice, Unauthorized, DeviceSuspended, AccountSuspended
    """
    device = get_device(overlay, device_id)
    if device is None:
        raise UnknownDevice("no such device", device_id=device_id)
    if tx.signer != device.attestation_key:
        raise Unauthorized("signer is not the device's attestation key", signer=tx.signer)
    if device.status != ACTIVE:
        raise DeviceSuspended("device is not active", device_id=device_id)
    # A suspended account receives nothing, issued certificates included (DESIGN §3).
    validate_active_holder(overlay, device.owner_account)
    return device


def apply_attest(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Issue a bundle for an attested production period (DESIGN §2, §3).

    The bundle takes serials ``[issued_wh, issued_wh + energy_wh)`` of the device and is
    owned by the device's owner account.

    Raises
    ------
    UnknownDevice, Unauthorized, DeviceSuspended, AccountSuspended, InvalidPeriod,
    BeforeProductionStart, PeriodInFuture, PeriodOverlap, InvalidAmount, OverCapacity,
    MeterRegisterMismatch
    """
    body = tx.body
    assert isinstance(body, Attest)
    device = get_attesting_device(overlay, tx, body.device_id)
    validate_period(body, device, ctx)
    hour = body.period_start // 3600
    periods = get_periods(overlay, body.device_id, hour)
    # Every Wh is certified at most once: no overlap with any attested period.
    clash = find_overlap(periods, body.period_start, body.period_end)
    if clash is not None:
        raise PeriodOverlap("period overlaps one already attested", device_id=body.device_id,
                            start=body.period_start, end=body.period_end,
                            existing_start=clash[0], existing_end=clash[1])
    validate_energy(body, device)
    validate_meter_register(body, device)
    bundle = compute_new_bundle(device, body.period_start, body.period_end, body.energy_wh, tx,
                                ctx)
    last_register_wh = (device.last_register_wh if body.register_end_wh is None
                        else body.register_end_wh)
    write_issued(overlay, device, bundle, last_register_wh)
    periods.append([body.period_start, body.period_end])
    periods.sort()
    overlay.put(periods_key(body.device_id, hour), encode_trusted(periods))

"""Issuance: applying an attestation of metered generation (DESIGN §3).

Periods are at most one hour and never cross a UTC hour boundary, so two periods of a
device can only overlap if they lie in the same UTC hour: the period index is keyed by
(device, hour) and an overlap check is one read.
"""

from __future__ import annotations

from dataclasses import replace

from greenchain.codec import encode_trusted
from greenchain.errors import (
    BeforeProductionStart,
    DeviceSuspended,
    InvalidAmount,
    InvalidPeriod,
    OverCapacity,
    PeriodInFuture,
    PeriodOverlap,
    Unauthorized,
    UnknownDevice,
)
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
from greenchain.model.certificates import ACTIVE, Bundle, Device, compute_bundle_id
from greenchain.model.transactions import Attest, Tx
from greenchain.params import MAX_PERIOD_S


def validate_period(body: Attest, device: Device, ctx: TxContext) -> None:
    """Check the production period of an attestation against DESIGN §3.

    Raises
    ------
    InvalidPeriod, BeforeProductionStart, PeriodInFuture
    """
    start, end = body.period_start, body.period_end
    # 0 < end - start <= 3600 and within one UTC hour, so hourly matching is exact.
    if not 0 < end - start <= MAX_PERIOD_S or start < 0:
        raise InvalidPeriod("period must be 1 to 3600 s long", start=start, end=end)
    if start // 3600 != (end - 1) // 3600:
        raise InvalidPeriod("period must lie within one UTC hour", start=start, end=end)
    if start < device.production_start_s:
        raise BeforeProductionStart("period starts before the device's production start",
                                    start=start, production_start=device.production_start_s)
    # "Reached" means block_ms >= t_s * 1000 (DESIGN §2).
    if end * 1000 > ctx.time_ms:
        raise PeriodInFuture("period ends after the block time", end=end, time_ms=ctx.time_ms)


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


def find_overlap(periods: list[list[int]], start: int, end: int) -> list[int] | None:
    """Return the first [s, e) in `periods` that overlaps [start, end), or None."""
    for period in periods:
        if period[0] < end and start < period[1]:
            return period
    return None


def apply_attest(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Issue a bundle for an attested production period (DESIGN §2, §3).

    The bundle takes serials ``[issued_wh, issued_wh + energy_wh)`` of the device and is
    owned by the device's owner account.

    Raises
    ------
    UnknownDevice, Unauthorized, DeviceSuspended, InvalidPeriod, BeforeProductionStart,
    PeriodInFuture, PeriodOverlap, InvalidAmount, OverCapacity
    """
    body = tx.body
    assert isinstance(body, Attest)
    device = get_device(overlay, body.device_id)
    if device is None:
        raise UnknownDevice("no such device", device_id=body.device_id)
    if tx.signer != device.attestation_key:
        raise Unauthorized("signer is not the device's attestation key", signer=tx.signer)
    if device.status != ACTIVE:
        raise DeviceSuspended("device is not active", device_id=body.device_id)
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
    serial_start = device.issued_wh
    serial_end = serial_start + body.energy_wh
    bundle_id = compute_bundle_id(device.device_id, serial_start, serial_end)
    bundle = Bundle(bundle_id, device.device_id, serial_start, serial_end, body.period_start,
                    body.period_end, device.owner_account, ACTIVE, tx.tx_id, ctx.height, b"",
                    tx.tx_id, None)
    put_record(overlay, bundle_key(bundle_id), bundle)
    put_record(overlay, device_key(device.device_id), replace(device, issued_wh=serial_end))
    periods.append([body.period_start, body.period_end])
    periods.sort()
    overlay.put(periods_key(body.device_id, hour), encode_trusted(periods))

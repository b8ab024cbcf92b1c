"""Importing certificates from another registry (DESIGN §2, §3; the registry issue).

An issuing body imports the external range ``[ext_start, ext_end)`` of certificates of
device ``<device>`` of registry ``<registry>``. They are issued as one bundle of the
synthetic device ``ext:<registry>:<device>`` (created by the first import, owned by the
given account, with no attestation key: it never attests), taking the next serials of
that device's own serial space, so the serial-range invariant holds for it too. Each
external serial is imported at most once: the imported ranges of every synthetic device
are kept, merged, under ``IMPORTS`` (`greenchain.ledger.view`).
"""

from __future__ import annotations

from dataclasses import replace

from greenchain.codec import encode_trusted
from greenchain.errors import AlreadyImported, BadTxBody, DeviceSuspended, Unauthorized
from greenchain.ledger.attest import (
    compute_new_bundle,
    find_overlap,
    validate_period_bounds,
    validate_period_ended,
    write_issued,
)
from greenchain.ledger.bundles import validate_active_holder
from greenchain.ledger.checks import validate_device_id, validate_issuing_body
from greenchain.ledger.codes import (
    certificate_codes,
    validate_codes,
    validate_emissions_factor,
)
from greenchain.ledger.context import TxContext
from greenchain.ledger.view import Overlay, get_device, get_imported_ranges, imports_key
from greenchain.model.certificates import (
    ACTIVE,
    Bundle,
    Device,
    compute_ext_device_id,
    compute_utc_date_s,
)
from greenchain.model.lifecycle_txs import Import
from greenchain.model.transactions import Tx


def validate_import_body(body: Import) -> None:
    """Check the stateless shape of an import.

    Raises
    ------
    BadTxBody
        On an empty registry or one holding ``:``, an empty device id, an empty or
        negative external range, or a negative emissions factor.
    """
    if not body.source_registry.strip() or ":" in body.source_registry:
        raise BadTxBody("source registry must be non-empty and hold no ':'",
                        source_registry=body.source_registry)
    if not body.source_device_id.strip():
        raise BadTxBody("source device id must be non-empty")
    if not 0 <= body.ext_start < body.ext_end:
        raise BadTxBody("external range must be non-empty and start at 0 or above",
                        ext_start=body.ext_start, ext_end=body.ext_end)
    validate_emissions_factor(body.emissions_factor)


def compute_ext_device(device_id: str, body: Import, tx: Tx, ctx: TxContext) -> Device:
    """Return the synthetic device a first import creates (capacity 0, no attestation key)."""
    codes = certificate_codes(body)
    return Device(
        device_id, f"{body.source_device_id} ({body.source_registry})", b"",
        body.owner_account, 0, body.energy_source, body.technology, body.country, 0, 0, 0,
        tx.signer, ACTIVE, 0, ctx.height, codes["market_zones"], "", body.support_received, 0,
        body.issuance_purpose, body.emissions_factor, compute_utc_date_s(ctx.time_ms), None)


def get_import_target(overlay: Overlay, device_id: str, body: Import, tx: Tx,
                      ctx: TxContext) -> Device:
    """Return the synthetic device to import onto, existing or new.

    Raises
    ------
    Unauthorized
        If it exists and another issuing body created it.
    DeviceSuspended
        If it is suspended.
    """
    device = get_device(overlay, device_id)
    if device is None:
        return compute_ext_device(device_id, body, tx, ctx)
    if device.issuing_body != tx.signer:
        raise Unauthorized("another issuing body imports this device", signer=tx.signer,
                           device_id=device_id)
    if device.status != ACTIVE:
        raise DeviceSuspended("device is not active", device_id=device_id)
    return device


def compute_merged_ranges(ranges: list[list[int]], start: int, end: int) -> list[list[int]]:
    """Return sorted disjoint `ranges` plus ``[start, end)``, adjacent ranges merged."""
    merged: list[list[int]] = []
    for low, high in sorted([*ranges, [start, end]]):
        if merged and low <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return merged


def compute_imported_bundle(device: Device, body: Import, tx: Tx, ctx: TxContext) -> Bundle:
    """Return the bundle of an import: the device's next serials, the import's attributes."""
    issued = compute_new_bundle(device, body.period_start, body.period_end,
                                body.ext_end - body.ext_start, tx, ctx)
    codes = certificate_codes(body)
    return replace(issued, owner=body.owner_account, energy_source=body.energy_source,
                   technology=body.technology, country=body.country,
                   issue_market_zone=codes["market_zones"],
                   issuance_purpose=body.issuance_purpose,
                   support_received=body.support_received,
                   emissions_factor=body.emissions_factor)


def apply_import(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Import external certificates as a bundle of an ``ext:`` device (DESIGN §2, §3).

    Raises
    ------
    Unauthorized, BadTxBody, UnknownCode, InvalidPeriod, PeriodInFuture, UnknownAccount,
    AccountSuspended, DeviceSuspended, AlreadyImported
    """
    body = tx.body
    assert isinstance(body, Import)
    validate_issuing_body(tx, ctx)
    validate_import_body(body)
    device_id = compute_ext_device_id(body.source_registry, body.source_device_id)
    validate_device_id(device_id)
    validate_codes(ctx.code_lists, certificate_codes(body))
    validate_period_bounds(body.period_start, body.period_end)
    validate_period_ended(body.period_end, ctx)
    validate_active_holder(overlay, body.owner_account)
    device = get_import_target(overlay, device_id, body, tx, ctx)
    ranges = get_imported_ranges(overlay, device_id)
    # Every external certificate is imported at most once.
    clash = find_overlap(ranges, body.ext_start, body.ext_end)
    if clash is not None:
        raise AlreadyImported("external certificates already imported", device_id=device_id,
                              ext_start=body.ext_start, ext_end=body.ext_end,
                              imported_start=clash[0], imported_end=clash[1])
    write_issued(overlay, device, compute_imported_bundle(device, body, tx, ctx),
                 device.last_register_wh)
    merged = compute_merged_ranges(ranges, body.ext_start, body.ext_end)
    overlay.put(imports_key(device_id), encode_trusted(merged))

"""JSON renderings of records for the API and CLI (a view, never consensus data)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from greenchain.model.blocks import Block
from greenchain.model.certificates import (
    Bundle,
    Device,
    bundle_status_at,
    compute_expiry_time_s,
)


def iso_utc(seconds: int) -> str:
    """Return UTC seconds as ISO 8601 with ``Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mwh_text(wh: int) -> str:
    """Return Wh as MWh in exact decimal text with six decimals (1_234_500 -> ``1.234500``).

    Reports may show MWh (DESIGN §2); the text is exact, never a rounded float.
    """
    sign = "-" if wh < 0 else ""
    whole, fraction = divmod(abs(wh), 1_000_000)
    return f"{sign}{whole}.{fraction:06d}"


def _optional_iso(seconds: int | None) -> str | None:
    return None if seconds is None else iso_utc(seconds)


def _lifecycle_json(bundle: Bundle) -> dict[str, Any]:
    """Return the retirement, withdrawal and export details (None when absent)."""
    claim, withdrawal, export = bundle.retirement, bundle.withdrawal, bundle.export
    return {
        "retirement": None if claim is None else {
            "beneficiary": claim.beneficiary,
            "consumption_start": claim.consumption_start,
            "consumption_end": claim.consumption_end,
            "purpose": claim.purpose,
            "country": claim.country,
            "retire_tx": claim.retire_tx.hex(),
            "height": claim.height,
        },
        "withdrawal": None if withdrawal is None else {
            "reason": withdrawal.reason, "withdraw_tx": withdrawal.withdraw_tx.hex(),
            "height": withdrawal.height,
        },
        "export": None if export is None else {
            "destination_registry": export.destination_registry,
            "destination_account": export.destination_account,
            "export_tx": export.export_tx.hex(), "height": export.height,
        },
    }


def _attributes_json(bundle: Bundle) -> dict[str, Any]:
    """Return the certificate attributes of a bundle (EN 16325 / EnergyTag)."""
    return {
        "energy_carrier": bundle.energy_carrier,
        "energy_source": bundle.energy_source,
        "technology": bundle.technology,
        "issuance_date": iso_utc(bundle.issuance_date_s)[:10],
        "issuing_body": bundle.issuing_body.hex(),
        "country": bundle.country,
        "issue_market_zone": bundle.issue_market_zone,
        "issuance_purpose": bundle.issuance_purpose,
        "support_received": bundle.support_received,
        "emissions_factor": bundle.emissions_factor,
    }


def bundle_json(bundle: Bundle, *, time_ms: int | None = None,
                expiry_s: int | None = None) -> dict[str, Any]:
    """Return a bundle as JSON: ids hex, times as UTC seconds plus ISO strings, Wh ints.

    Parameters
    ----------
    bundle:
        The bundle as stored.
    time_ms:
        If given (UTC ms, e.g. the last block time), ``status`` is the status at that time,
        with ``expired`` derived (`bundle_status_at`); ``stored_status`` is always the
        stored one.
    expiry_s:
        The genesis certificate lifetime (None: never expires); gives ``expiry_date``.
    """
    expiry = compute_expiry_time_s(bundle, expiry_s)
    status = bundle.status if time_ms is None else bundle_status_at(bundle, time_ms, expiry_s)
    return {
        "bundle_id": bundle.bundle_id.hex(),
        "issuance_id": bundle.issuance_id,
        "device_id": bundle.device_id,
        "serial_start": bundle.serial_start,
        "serial_end": bundle.serial_end,
        "quantity_wh": bundle.quantity_wh,
        "period_start": bundle.period_start,
        "period_end": bundle.period_end,
        "period": f"{iso_utc(bundle.period_start)}/{iso_utc(bundle.period_end)}",
        "expiry": expiry,
        "expiry_date": _optional_iso(expiry),
        **_attributes_json(bundle),
        "owner": bundle.owner.hex(),
        "status": status,
        "stored_status": bundle.status,
        "issuance_tx": bundle.issuance_tx.hex(),
        "issuance_height": bundle.issuance_height,
        "parent": bundle.parent.hex() or None,
        "last_tx": bundle.last_tx.hex(),
        **_lifecycle_json(bundle),
    }


def device_json(device: Device) -> dict[str, Any]:
    """Return a device as JSON (keys hex, location in microdegrees, dates ISO)."""
    return {
        "device_id": device.device_id,
        "device_name": device.device_name,
        "attestation_key": device.attestation_key.hex(),
        "owner_account": device.owner_account.hex(),
        "issuing_body": device.issuing_body.hex(),
        "country": device.country,
        "issue_market_zone": device.issue_market_zone,
        "connected_grid_identification": device.connected_grid_identification,
        "latitude_udeg": device.latitude_udeg,
        "longitude_udeg": device.longitude_udeg,
        "energy_source": device.energy_source,
        "technology": device.technology,
        "capacity_w": device.capacity_w,
        "production_start": iso_utc(device.production_start_s)[:10],
        "production_start_s": device.production_start_s,
        "registration_date": iso_utc(device.registration_date_s)[:10],
        "support_received": device.support_received,
        "is_storage": device.is_storage,
        "issuance_purpose": device.issuance_purpose,
        "emissions_factor": device.emissions_factor,
        "status": device.status,
        "issued_wh": device.issued_wh,
        "last_register_wh": device.last_register_wh,
        "registered_height": device.registered_height,
    }


def header_json(block: Block) -> dict[str, Any]:
    """Return a block header as JSON (hashes hex)."""
    h = block.header
    return {
        "block_hash": block.block_hash.hex(),
        "chain_id": h.chain_id,
        "height": h.height,
        "round": h.round,
        "timestamp_ms": h.timestamp_ms,
        "proposer": h.proposer.hex(),
        "prev_block_hash": h.prev_block_hash.hex(),
        "tx_root": h.tx_root.hex(),
        "last_commit_hash": h.last_commit_hash.hex(),
        "state_root": h.state_root.hex(),
        "app_hash": h.app_hash.hex(),
        "tx_count": len(block.txs),
    }

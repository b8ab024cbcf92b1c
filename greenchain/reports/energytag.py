"""Export of bundles as EnergyTag granular certificate (GC) bundles, JSON or CSV.

Field names follow the EnergyTag Granular Certificate Scheme's GC Bundle attributes as
EnergyTag's reference registry (``gc_registry``) names them. Mapping from our records
(``GET /v1/bundles/...`` and ``GET /v1/devices/{id}`` JSON), as far as our data has them.
Where a bundle record carries a registry field itself (issuance id, codes, issuing body,
country, dates), that value wins; otherwise it comes from the device record. Empty text
means "not declared" and is exported as None.

=========================================  ==================================================
EnergyTag field                            GreenChain source
=========================================  ==================================================
certificate_bundle_id                      bundle id (hex): SHA-256 of device and range
issuance_id                                bundle ``issuance_id`` (one per attestation, kept
                                           by every piece split from it, as the scheme
                                           requires), else the issuing attestation's tx id
certificate_bundle_status                  ``active`` -> Active, ``retired`` -> Cancelled
                                           (cancelled for a beneficiary), ``expired`` ->
                                           Expired, ``withdrawn`` -> Withdrawn; any other
                                           status (``exported``) is given as it is
account_id                                 owner account key (hex)
certificate_bundle_id_range_start          serial_start
certificate_bundle_id_range_end            serial_end - 1 (the scheme's range is inclusive)
bundle_quantity                            serial_end - serial_start (Wh)
face_value                                 1 (Wh per certificate)
energy_carrier                             ``electricity``
energy_source                              EECS energy source code (e.g. ``F01050100``)
issuance_post_energy_carrier_conversion    false
is_storage                                 the device's storage flag (false if absent)
device_id, device_name                     device id and name
device_technology_type                     EECS technology code (e.g. ``T020001``)
device_capacity                            capacity in W
device_location                            ``lat,lon`` in decimal degrees (exact)
device_production_start_date               production start date (``YYYY-MM-DD``, UTC)
production_starting_interval               period start, ISO 8601 UTC (``...Z``)
production_ending_interval                 period end (exclusive), ISO 8601 UTC
issuance_datestamp                         bundle ``issuance_date``, else the UTC date of
                                           the issuing block, if known
expiry_datestamp                           bundle ``expiry_date`` (None: never expires)
country_of_issuance                        country (ISO 3166-1 alpha-2)
connected_grid_identification              the device's grid id, if declared
issue_market_zone                          market (bidding) zone, if declared
issuing_body                               issuing body name (from genesis) or key (hex)
issuance_purpose, support_received         EN 16325 codes, if declared
emissions_factor_production_device         kgCO2e/MWh (exact decimal text) from the
                                           bundle's or device's gCO2e/MWh, if declared
beneficiary                                retirement beneficiary, or None
=========================================  ==================================================

Not in our data, so left out: the storage discharge fields and emissions_factor_source.
CSV has the same columns (`COLUMNS`), booleans as ``true``/``false``, None as empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from greenchain.model.views import iso_utc

COLUMNS = (
    "certificate_bundle_id", "issuance_id", "certificate_bundle_status", "account_id",
    "certificate_bundle_id_range_start", "certificate_bundle_id_range_end", "bundle_quantity",
    "face_value", "energy_carrier", "energy_source", "issuance_post_energy_carrier_conversion",
    "is_storage", "device_id", "device_name", "device_technology_type", "device_capacity",
    "device_location", "device_production_start_date", "production_starting_interval",
    "production_ending_interval", "issuance_datestamp", "expiry_datestamp",
    "country_of_issuance", "connected_grid_identification", "issue_market_zone",
    "issuing_body", "issuance_purpose", "support_received",
    "emissions_factor_production_device", "beneficiary",
)
"""Every exported field, in column order."""

STATUS_NAMES = {"active": "Active", "retired": "Cancelled", "expired": "Expired",
                "withdrawn": "Withdrawn"}
"""Our stored (or derived) status -> the scheme's GC Bundle status."""
BUNDLE_OVERRIDES = (
    ("energy_carrier", "energy_carrier"), ("energy_source", "energy_source"),
    ("technology", "device_technology_type"), ("country", "country_of_issuance"),
    ("issue_market_zone", "issue_market_zone"), ("issuance_purpose", "issuance_purpose"),
    ("support_received", "support_received"),
)
"""(bundle JSON field, EnergyTag field) the bundle record sets when it carries them."""
MICRO = 1_000_000


def degrees_text(microdegrees: int) -> str:
    """Return microdegrees as exact decimal degrees (``48446900`` -> ``48.446900``)."""
    sign = "-" if microdegrees < 0 else ""
    whole, fraction = divmod(abs(microdegrees), MICRO)
    return f"{sign}{whole}.{fraction:06d}"


def kg_text(grams: int) -> str:
    """Return grams as exact decimal kilograms (``12345`` -> ``12.345``)."""
    sign = "-" if grams < 0 else ""
    whole, fraction = divmod(abs(grams), 1000)
    return f"{sign}{whole}.{fraction:03d}"


def utc_date(seconds: int) -> str:
    """Return the UTC date (``YYYY-MM-DD``) of UTC seconds."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def energytag_bundle(bundle: Mapping[str, Any], device: Mapping[str, Any],
                     issuing_bodies: Mapping[str, str] | None = None,
                     issuance_time_s: int | None = None) -> dict[str, Any]:
    """Map one bundle and its device (client API JSON) to an EnergyTag GC Bundle record.

    Parameters
    ----------
    bundle:
        ``GET /v1/bundles/{id}`` JSON.
    device:
        ``GET /v1/devices/{id}`` JSON of the bundle's device.
    issuing_bodies:
        Issuing body key (hex) -> name; unknown keys are given as hex.
    issuance_time_s:
        Time of the block that issued the root bundle (UTC seconds), if known.

    Returns
    -------
    dict[str, Any]
        The fields of `COLUMNS`, in that order (see the module docstring).

    Raises
    ------
    KeyError, ValueError
        If a record lacks a field or holds a wrong type.
    """
    record = _device_fields(device) | _bundle_fields(bundle)
    body_key = str(_declared(bundle, "issuing_body") or device["issuing_body"])
    record["issuing_body"] = (issuing_bodies or {}).get(body_key, body_key)
    if record["issuance_datestamp"] is None and issuance_time_s is not None:
        record["issuance_datestamp"] = utc_date(issuance_time_s)
    factor = _declared(bundle, "emissions_factor")
    if factor is not None:
        record["emissions_factor_production_device"] = kg_text(int(factor))
    return {name: record.get(name) for name in COLUMNS}


def _declared(record: Mapping[str, Any], name: str) -> Any:
    """Return a field's value, None when absent or empty text ("not declared")."""
    value = record.get(name)
    return None if value == "" else value


def _bundle_fields(bundle: Mapping[str, Any]) -> dict[str, Any]:
    status = str(bundle["status"])
    start, end = int(bundle["serial_start"]), int(bundle["serial_end"])
    fields = {
        "certificate_bundle_id": bundle["bundle_id"],
        "issuance_id": _declared(bundle, "issuance_id") or bundle["issuance_tx"],
        "certificate_bundle_status": STATUS_NAMES.get(status, status),
        "account_id": bundle["owner"],
        "certificate_bundle_id_range_start": start,
        "certificate_bundle_id_range_end": end - 1,
        "bundle_quantity": end - start,
        "face_value": 1,
        "device_id": bundle["device_id"],
        "production_starting_interval": iso_utc(int(bundle["period_start"])),
        "production_ending_interval": iso_utc(int(bundle["period_end"])),
        "issuance_datestamp": _declared(bundle, "issuance_date"),
        "expiry_datestamp": _declared(bundle, "expiry_date"),
        "beneficiary": (bundle.get("retirement") or {}).get("beneficiary"),
    }
    # Registry fields the bundle itself carries win over the device's (see the table).
    for ours, theirs in BUNDLE_OVERRIDES:
        if _declared(bundle, ours) is not None:
            fields[theirs] = bundle[ours]
    return fields


def _device_fields(device: Mapping[str, Any]) -> dict[str, Any]:
    location = (f"{degrees_text(int(device['latitude_udeg']))},"
                f"{degrees_text(int(device['longitude_udeg']))}")
    factor = _declared(device, "emissions_factor")
    return {
        "energy_carrier": "electricity",
        "energy_source": device["energy_source"],
        "issuance_post_energy_carrier_conversion": False,
        "is_storage": bool(device.get("is_storage", False)),
        "device_name": device["device_name"],
        "device_technology_type": device["technology"],
        "device_capacity": int(device["capacity_w"]),
        "device_location": location,
        "device_production_start_date": utc_date(int(device["production_start_s"])),
        "country_of_issuance": device["country"],
        "connected_grid_identification": _declared(device, "connected_grid_identification"),
        "issue_market_zone": _declared(device, "issue_market_zone"),
        "issuance_purpose": _declared(device, "issuance_purpose"),
        "support_received": _declared(device, "support_received"),
        "emissions_factor_production_device": None if factor is None else kg_text(int(factor)),
    }


def records_csv(records: Iterable[Mapping[str, Any]]) -> str:
    """Return records as CSV text: a header row of `COLUMNS`, then one row per record.

    Booleans are written ``true``/``false`` and None as an empty cell; lines end in CRLF
    (RFC 4180).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([_cell(record.get(name)) for name in COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

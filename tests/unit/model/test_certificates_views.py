"""Certificate records (DESIGN §2): derived expiry status, ids, and their JSON views."""

from __future__ import annotations

from dataclasses import replace

import pytest

from greenchain.codec import decode, encode
from greenchain.model.certificates import (
    ACTIVE,
    EXPIRED,
    EXPORTED,
    RETIRED,
    SPLIT,
    WITHDRAWN,
    Bundle,
    Device,
    ExportRecord,
    Withdrawal,
    bundle_status_at,
    compute_bundle_id,
    compute_expiry_time_s,
    compute_ext_device_id,
    compute_utc_date_s,
    is_expired_at,
    is_ext_device_id,
)
from greenchain.model.fields import from_fields, to_fields
from greenchain.model.views import bundle_json, device_json

H0 = 1_425_168_000
"""2015-03-01T00:00:00Z."""
DAY_S = 86_400
OWNER, ISSUER = b"\x01" * 32, b"\x02" * 32


def bundle(status: str = ACTIVE, **changes: object) -> Bundle:
    record = Bundle(compute_bundle_id("WT1", 0, 600), "WT1", 0, 600, H0, H0 + 600, OWNER,
                    status, b"\x03" * 32, 2, b"", b"\x03" * 32, None, "electricity",
                    "F01050100", "T020001", ISSUER, "FR", "FR", "disclosure", "none", 0,
                    H0 + 2 * DAY_S)
    return replace(record, **changes)  # type: ignore[arg-type]


# --- expiry: derived from time, never stored ------------------------------------------------
def test_expiry_time_counts_from_the_end_of_the_production_period() -> None:
    assert compute_expiry_time_s(bundle(), DAY_S) == H0 + 600 + DAY_S
    assert compute_expiry_time_s(bundle(), None) is None


@pytest.mark.parametrize(("offset_ms", "expired"), [(-1, False), (0, True), (1, True)])
def test_expired_once_the_time_reaches_the_expiry(offset_ms: int, expired: bool) -> None:
    expiry_ms = (H0 + 600 + DAY_S) * 1000
    assert is_expired_at(bundle(), expiry_ms + offset_ms, DAY_S) is expired
    assert bundle_status_at(bundle(), expiry_ms + offset_ms, DAY_S) == (
        EXPIRED if expired else ACTIVE)


def test_no_policy_never_expires() -> None:
    assert not is_expired_at(bundle(), 2**62, None)
    assert bundle_status_at(bundle(), 2**62, None) == ACTIVE


@pytest.mark.parametrize("status", [SPLIT, RETIRED, WITHDRAWN, EXPORTED])
def test_final_statuses_are_never_shown_as_expired(status: str) -> None:
    late_ms = (H0 + 600 + DAY_S) * 1000 + 1
    assert bundle_status_at(bundle(status), late_ms, DAY_S) == status


# --- ids and dates ----------------------------------------------------------------------
def test_ext_device_ids_and_issuance_id() -> None:
    device_id = compute_ext_device_id("AIB-DE", "DE:WIND:7")
    assert device_id == "ext:AIB-DE:DE:WIND:7" and is_ext_device_id(device_id)
    assert not is_ext_device_id("WT1") and not is_ext_device_id("text:1")
    assert bundle().issuance_id == f"WT1:{H0}"


@pytest.mark.parametrize(("time_ms", "midnight"), [
    (H0 * 1000, H0), (H0 * 1000 + 1, H0), ((H0 + DAY_S) * 1000 - 1, H0),
    ((H0 + DAY_S) * 1000, H0 + DAY_S)])
def test_utc_date_of_a_block_time(time_ms: int, midnight: int) -> None:
    assert compute_utc_date_s(time_ms) == midnight


# --- records on the wire: appended fields, canonical arrays -------------------------------
def test_bundle_record_round_trips_with_its_lifecycle_details() -> None:
    withdrawn = bundle(WITHDRAWN, withdrawal=Withdrawal("meter fault", b"\x04" * 32, 9),
                       emissions_factor=None)
    exported = bundle(EXPORTED, export=ExportRecord("AIB-NL", "", b"\x05" * 32, 10))
    for record in (withdrawn, exported, bundle()):
        raw = encode(to_fields(record))
        assert from_fields(Bundle, decode(raw)) == record
    # New fields are appended after the 13 fields of before the registry issue.
    assert to_fields(withdrawn)[:13] == [
        withdrawn.bundle_id, "WT1", 0, 600, H0, H0 + 600, OWNER, WITHDRAWN, b"\x03" * 32, 2,
        b"", b"\x03" * 32, None]
    assert to_fields(withdrawn)[-2:] == [["meter fault", b"\x04" * 32, 9], None]


def test_device_defaults_keep_the_old_positional_form() -> None:
    device = Device("WT1", "T1", b"\x06" * 32, OWNER, 2_050_000, "F01050100", "T020001", "FR",
                    48_000_000, 5_000_000, H0, ISSUER, ACTIVE, 0, 1)
    assert (device.issue_market_zone, device.is_storage, device.last_register_wh) == ("", 0, None)
    assert from_fields(Device, decode(encode(to_fields(device)))) == device


# --- JSON views -------------------------------------------------------------------------------
def test_bundle_json_shows_the_registry_fields_and_a_derived_status() -> None:
    record = bundle(export=ExportRecord("AIB-NL", "NL-1", b"\x05" * 32, 10))
    plain = bundle_json(record)
    assert (plain["status"], plain["stored_status"], plain["expiry"]) == (ACTIVE, ACTIVE, None)
    assert (plain["energy_carrier"], plain["technology"], plain["issue_market_zone"]) == (
        "electricity", "T020001", "FR")
    assert plain["issuance_date"] == "2015-03-03" and plain["issuance_id"] == f"WT1:{H0}"
    assert plain["issuing_body"] == ISSUER.hex() and plain["emissions_factor"] == 0
    assert plain["export"] == {"destination_registry": "AIB-NL", "destination_account": "NL-1",
                               "export_tx": "05" * 32, "height": 10}
    assert plain["withdrawal"] is None and plain["retirement"] is None
    late_ms = (H0 + 600 + DAY_S) * 1000
    at = bundle_json(record, time_ms=late_ms, expiry_s=DAY_S)
    assert (at["status"], at["stored_status"]) == (EXPIRED, ACTIVE)
    assert (at["expiry"], at["expiry_date"]) == (H0 + 600 + DAY_S, "2015-03-02T00:10:00Z")
    assert bundle_json(record, time_ms=late_ms - 1, expiry_s=DAY_S)["status"] == ACTIVE


def test_device_json() -> None:
    device = Device("WT1", "T1", b"\x06" * 32, OWNER, 2_050_000, "F01050100", "T020001", "FR",
                    48_000_000, 5_000_000, H0, ISSUER, ACTIVE, 10, 1, "FR", "GRID-1", "none",
                    1, "disclosure", None, H0 + DAY_S, 5_000)
    doc = device_json(device)
    assert (doc["issue_market_zone"], doc["connected_grid_identification"], doc["is_storage"]) == (
        "FR", "GRID-1", 1)
    assert (doc["production_start"], doc["registration_date"]) == ("2015-03-01", "2015-03-02")
    assert (doc["attestation_key"], doc["last_register_wh"], doc["issued_wh"]) == (
        "06" * 32, 5_000, 10)

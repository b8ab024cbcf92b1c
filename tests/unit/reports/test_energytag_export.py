"""EnergyTag GC Bundle mapping of our records, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from greenchain.model.certificates import compute_bundle_id
from greenchain.reports.energytag import (
    COLUMNS,
    degrees_text,
    energytag_bundle,
    records_csv,
)

H0 = 1_425_168_000  # 2015-03-01T00:00:00Z
ISSUER_HEX = "cd" * 32
DEVICE = {"device_id": "WT1", "device_name": "La Haute Borne, \"T1\"", "owner_account": "aa",
          "capacity_w": 2_050_000, "energy_source": "F01050100", "technology": "T020001",
          "country": "FR", "status": "active", "issued_wh": 5000, "issuing_body": ISSUER_HEX,
          "latitude_udeg": 48_456_900, "longitude_udeg": -584_700,
          "production_start_s": 1_356_998_400, "registered_height": 1}


def bundle_doc(status: str, beneficiary: str | None = None, **extra: Any) -> dict[str, Any]:
    """A bundle as GET /v1/bundles/{id} renders it (basic fields, plus `extra`)."""
    claim = None if beneficiary is None else {
        "beneficiary": beneficiary, "consumption_start": H0, "consumption_end": H0 + 3600,
        "purpose": "disclosure", "country": "GB", "retire_tx": "02" * 32, "height": 9}
    return {"bundle_id": compute_bundle_id("WT1", 1000, 1250).hex(), "device_id": "WT1",
            "serial_start": 1000, "serial_end": 1250, "quantity_wh": 250,
            "period_start": H0 + 600, "period_end": H0 + 1200, "owner": "01" * 32,
            "status": status, "issuance_tx": "03" * 32, "issuance_height": 4,
            "parent": "04" * 32, "last_tx": "05" * 32, "retirement": claim} | extra


def test_mapping_of_an_active_bundle() -> None:
    record = energytag_bundle(bundle_doc("active"), DEVICE, {ISSUER_HEX: "Dev Registry"},
                              H0 + 86_400 + 5)
    assert tuple(record) == COLUMNS
    assert record["certificate_bundle_id"] == compute_bundle_id("WT1", 1000, 1250).hex()
    assert record["issuance_id"] == "03" * 32
    assert record["certificate_bundle_status"] == "Active"
    assert record["account_id"] == "01" * 32
    # The scheme's range is inclusive: quantity = end - start + 1.
    assert (record["certificate_bundle_id_range_start"],
            record["certificate_bundle_id_range_end"], record["bundle_quantity"]) == (
        1000, 1249, 250)
    assert record["bundle_quantity"] == (record["certificate_bundle_id_range_end"]
                                         - record["certificate_bundle_id_range_start"] + 1)
    assert (record["face_value"], record["energy_carrier"]) == (1, "electricity")
    assert (record["energy_source"], record["device_technology_type"]) == (
        "F01050100", "T020001")
    assert record["production_starting_interval"] == "2015-03-01T00:10:00Z"
    assert record["production_ending_interval"] == "2015-03-01T00:20:00Z"
    assert record["issuance_datestamp"] == "2015-03-02"
    assert record["device_location"] == "48.456900,-0.584700"
    assert record["device_production_start_date"] == "2013-01-01"
    assert (record["country_of_issuance"], record["issuing_body"]) == ("FR", "Dev Registry")
    assert record["beneficiary"] is None and record["is_storage"] is False
    assert record["expiry_datestamp"] is None and record["issue_market_zone"] is None


def test_registry_fields_of_the_bundle_win_over_the_device() -> None:
    bundle = bundle_doc("expired", issuance_id="WT1:1425168600", energy_source="F01050200",
                        technology="T020002", country="DE", issue_market_zone="DE-LU",
                        issuance_date="2015-03-03", expiry_date="2016-03-01",
                        issuing_body="ef" * 32, emissions_factor=12_345, support_received="")
    device = DEVICE | {"connected_grid_identification": "RTE-400kV", "is_storage": 0,
                       "issuance_purpose": "disclosure", "support_received": "none"}
    record = energytag_bundle(bundle, device, {"ef" * 32: "Other Registry"}, H0)
    assert record["certificate_bundle_status"] == "Expired"
    assert (record["issuance_id"], record["energy_source"], record["device_technology_type"]) \
        == ("WT1:1425168600", "F01050200", "T020002")
    assert (record["country_of_issuance"], record["issue_market_zone"]) == ("DE", "DE-LU")
    assert (record["issuance_datestamp"], record["expiry_datestamp"]) == (
        "2015-03-03", "2016-03-01")
    assert record["issuing_body"] == "Other Registry"
    assert record["emissions_factor_production_device"] == "12.345"  # kg from g
    assert record["connected_grid_identification"] == "RTE-400kV"
    # Empty text is "not declared": the device's value stays.
    assert record["support_received"] == "none" and record["issuance_purpose"] == "disclosure"


def test_retired_bundle_is_cancelled_for_its_beneficiary() -> None:
    record = energytag_bundle(bundle_doc("retired", "ACME Ltd"), DEVICE)
    assert record["certificate_bundle_status"] == "Cancelled"
    assert record["beneficiary"] == "ACME Ltd"
    assert record["issuing_body"] == ISSUER_HEX and record["issuance_datestamp"] is None
    other = energytag_bundle(bundle_doc("exported"), DEVICE)
    assert other["certificate_bundle_status"] == "exported"


def test_csv_has_the_json_columns_and_round_trips() -> None:
    records = [energytag_bundle(bundle_doc("active"), DEVICE, None, H0),
               energytag_bundle(bundle_doc("retired", 'Café "Ünïcode", Ltd'), DEVICE)]
    text = records_csv(records)
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2 and tuple(rows[0]) == COLUMNS
    assert rows[0]["is_storage"] == "false" and rows[0]["beneficiary"] == ""
    assert rows[1]["beneficiary"] == 'Café "Ünïcode", Ltd'
    assert rows[1]["issuance_datestamp"] == ""
    assert rows[0]["device_name"] == DEVICE["device_name"]
    for row, record in zip(rows, records, strict=True):
        assert row["bundle_quantity"] == str(record["bundle_quantity"])
    assert json.loads(json.dumps(records)) == records


def test_missing_field_raises() -> None:
    with pytest.raises(KeyError):
        energytag_bundle(bundle_doc("active"), {"device_name": "x"})


@pytest.mark.parametrize(("micro", "text"), [(0, "0.000000"), (5_593_000, "5.593000"),
                                             (-1, "-0.000001"), (-90_000_000, "-90.000000")])
def test_degrees_text(micro: int, text: str) -> None:
    assert degrees_text(micro) == text

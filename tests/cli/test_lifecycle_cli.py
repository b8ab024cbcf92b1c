"""Lifecycle commands against ONE real single-validator node: withdraw, export to-registry,
import, account/device suspend, device register attributes, attest register readings.

Setup (one batch): accounts alice, bob, carol; device W1 (defaults) attested for
2015-03-02 00:00-00:30 UTC in three 10-minute periods: bundles A [0, 1000), B [1000, 3000)
and C [3000, 3400); device W3 for the suspension test. Each test uses its own bundles,
accounts and devices, so the tests do not depend on their order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers.cli_node import commit_all, running_node

from greenchain.cli.client import NodeClient
from greenchain.cli.main import cli
from greenchain.crypto.keys import save_key
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.transactions import Attest, Body, RegisterAccount, RegisterDevice, make_tx
from greenchain.node.devnet import DEV_CHAIN_ID, dev_key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

T0 = 1_425_254_400  # 2015-03-02T00:00:00Z
DAY_2013 = 1_356_998_400  # 2013-01-01T00:00:00Z
ROLES = ("issuer", "windfarm", "alice", "bob", "carol")
BUNDLE_A = compute_bundle_id("W1", 0, 1000).hex()
BUNDLE_B = compute_bundle_id("W1", 1000, 3000).hex()
BUNDLE_C = compute_bundle_id("W1", 3000, 3400).hex()
EXT_DEVICE = "ext:AIB-NL:NL-WIND-7"


@dataclass(frozen=True, slots=True)
class World:
    url: str
    genesis: Path
    keys: Path

    def key(self, role: str) -> str:
        return str(self.keys / f"{role}.key")

    def pub(self, role: str) -> str:
        return dev_key(role).public.hex()

    def get(self, path: str) -> Any:
        return NodeClient(self.url).get_json(path)


def device(device_id: str) -> RegisterDevice:
    return RegisterDevice(device_id, device_id, dev_key("windfarm").public,
                          dev_key("alice").public, 2_050_000, "F01050100", "T020001", "FR",
                          48_456_900, 5_584_700, DAY_2013)


def setup_chain(url: str) -> None:
    bodies: list[tuple[str, Body]] = [
        *(("issuer", RegisterAccount(dev_key(name).public, name))
          for name in ("alice", "bob", "carol")),
        ("issuer", device("W1")), ("issuer", device("W3")),
        ("windfarm", Attest("W1", T0, T0 + 600, 1000)),
        ("windfarm", Attest("W1", T0 + 600, T0 + 1200, 2000)),
        ("windfarm", Attest("W1", T0 + 1200, T0 + 1800, 400)),
    ]
    commit_all(url, [make_tx(dev_key(role), DEV_CHAIN_ID, body, nonce)
                     for nonce, (role, body) in enumerate(bodies, start=1)])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("lifecycle")
    keys = root / "keys"
    keys.mkdir()
    for role in ROLES:
        save_key(dev_key(role), keys / f"{role}.key")
    with running_node(root) as (url, genesis):
        setup_chain(url)
        yield World(url, genesis, keys)


def run(world: World, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--node", world.url])


def ok(world: World, *args: str) -> Result:
    result = run(world, *args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def ok_json(world: World, *args: str) -> Any:
    return json.loads(ok(world, *args, "--json").stdout.strip().splitlines()[-1])


def refused(world: World, rule: str, *args: str, exit_code: int = 1) -> str:
    result = run(world, *args)
    assert result.exit_code == exit_code, (args, result.output)
    assert result.stderr.startswith(f"error: {rule}: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    return result.stderr


def test_withdraw_by_the_issuing_body_only(world: World) -> None:
    args = ("withdraw", "--bundle", BUNDLE_A, "--reason", "meter data correction")
    message = refused(world, "unauthorized", *args, "--issuer-key", world.key("alice"))
    assert "issuing body" in message
    out = ok(world, *args, "--issuer-key", world.key("issuer")).stdout
    assert "committed at height" in out and f"withdrawn: bundle {BUNDLE_A}" in out
    assert "status withdrawn" in out
    shown = ok_json(world, "cert", "show", "W1:0")
    assert shown["status"] == "withdrawn" and shown["bundle_id"] == BUNDLE_A
    assert shown["withdrawal"]["reason"] == "meter data correction"
    refused(world, "bundle_not_active", *args, "--issuer-key", world.key("issuer"))
    refused(world, "bad_input", "withdraw", "--bundle", BUNDLE_A, "--reason", " ",
            "--issuer-key", world.key("issuer"), exit_code=3)


def test_export_splits_and_prints_the_statement(world: World, tmp_path: Path) -> None:
    base = ("export", "to-registry", "--bundle", BUNDLE_B, "--destination-registry", "AIB-DE",
            "--destination-account", "DE-0001")
    refused(world, "amount_exceeds_remaining", *base, "--amount-wh", "2001", "--key",
            world.key("alice"))
    refused(world, "not_owner", *base, "--amount-wh", "10", "--key", world.key("bob"))
    answer = ok_json(world, *base, "--amount-wh", "500", "--key", world.key("alice"))
    assert answer["status"] == "committed"
    assert [(b["role"], b["status"], b["serial_start"], b["serial_end"])
            for b in answer["bundles"]] == [("exported", "exported", 1000, 1500),
                                            ("rest", "active", 1500, 3000)]
    assert answer["bundles"][0]["bundle_id"] == compute_bundle_id("W1", 1000, 1500).hex()
    assert answer["bundles"][0]["export"]["export_tx"] == answer["tx_id"]
    assert "status-proof W1:1000" in answer["statement"]
    shown = ok_json(world, "cert", "show", "W1:1200")
    assert shown["export"]["destination_registry"] == "AIB-DE"
    assert shown["export"]["destination_account"] == "DE-0001"
    check_export_proof(world, tmp_path / "export.gcproof", answer["tx_id"])
    text = ok(world, *base[:3], compute_bundle_id("W1", 1500, 3000).hex(), *base[4:],
              "--amount-wh", "1500", "--key", world.key("alice")).stdout
    assert "exported: bundle" in text and "status exported" in text
    assert "export statement: tx " in text and "greenchain status-proof W1:1500" in text
    assert "greenchain provenance W1:1500" in text


def check_export_proof(world: World, proof: Path, export_tx: str) -> None:
    ok(world, "status-proof", "W1:1000", "-o", str(proof))
    report = CliRunner().invoke(cli, ["verify", str(proof), "--genesis", str(world.genesis),
                                      "--json"])
    assert report.exit_code == 0, report.output
    doc = json.loads(report.stdout)
    assert doc["valid"] is True and doc["certificate"] == "W1:1000"
    assert doc["bundle"]["status"] == "exported"
    assert doc["bundle"]["export"]["export_tx"] == export_tx
    history = proof.with_name("export-history.gcproof")
    ok(world, "provenance", "W1:1000", "-o", str(history))
    checked = CliRunner().invoke(cli, ["verify", str(history), "--genesis",
                                       str(world.genesis), "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["export"]["destination_registry"] == "AIB-DE"


def import_args(world: World, country: str = "NL") -> tuple[str, ...]:
    return ("import", "--source-registry", "AIB-NL", "--source-device", "NL-WIND-7",
            "--owner", world.pub("alice"), "--period-start", "2015-03-01T10:00:00Z",
            "--period-end", "2015-03-01T11:00:00Z", "--energy-source", "F01050100",
            "--technology", "T020001", "--country", country, "--support", "production",
            "--emissions-factor", "7")


def test_import_once_per_external_range(world: World) -> None:
    args = import_args(world)
    refused(world, "unauthorized", *args, "--ext-start", "100", "--ext-end", "600",
            "--issuer-key", world.key("alice"))
    answer = ok_json(world, *args, "--ext-start", "100", "--ext-end", "600", "--issuer-key",
                     world.key("issuer"))
    bundle = answer["bundle"]
    assert answer["device_id"] == EXT_DEVICE and bundle["issuance_tx"] == answer["tx_id"]
    assert (bundle["device_id"], bundle["serial_start"], bundle["quantity_wh"]) == (
        EXT_DEVICE, 0, 500)
    assert (bundle["owner"], bundle["country"], bundle["issue_market_zone"]) == (
        world.pub("alice"), "NL", "NL")
    assert (bundle["support_received"], bundle["emissions_factor"]) == ("production", 7)
    message = refused(world, "already_imported", *args, "--ext-start", "500", "--ext-end",
                      "700", "--issuer-key", world.key("issuer"))
    assert "already imported" in message
    listed = ok_json(world, "bundles", "--device", EXT_DEVICE)
    assert listed["total_wh"] == 500 and len(listed["bundles"]) == 1
    text = ok(world, *args, "--ext-start", "600", "--ext-end", "650", "--issuer-key",
              world.key("issuer")).stdout
    assert f"imported: bundle {compute_bundle_id(EXT_DEVICE, 500, 550).hex()}" in text
    refused(world, "unknown_country", *import_args(world, "US"), "--ext-start", "0",
            "--ext-end", "1", "--issuer-key", world.key("issuer"))
    refused(world, "bad_input", *args, "--ext-start", "9", "--ext-end", "9", "--issuer-key",
            world.key("issuer"), exit_code=3)


def test_suspend_account_and_device(world: World, tmp_path: Path) -> None:
    issuer = ("--issuer-key", world.key("issuer"))
    refused(world, "unauthorized", "account", "suspend", "--account", world.pub("carol"),
            "--reason", "KYC lapsed", "--issuer-key", world.key("bob"))
    ok(world, "account", "suspend", "--account", world.key("carol"), "--reason", "KYC lapsed",
       *issuer)
    assert world.get(f"/v1/accounts/{world.pub('carol')}")["status"] == "suspended"
    refused(world, "account_suspended", "transfer", "--key", world.key("alice"), "--bundle",
            BUNDLE_C, "--amount-wh", "1", "--to", world.pub("carol"))
    refused(world, "unknown_device", "device", "suspend", "--device-id", "NOPE", "--reason",
            "x", *issuer)
    answer = ok_json(world, "device", "suspend", "--device-id", "W3", "--reason",
                     "meter tampering", *issuer)
    assert answer["status"] == "committed" and answer["device_id"] == "W3"
    assert world.get("/v1/devices/W3")["status"] == "suspended"
    meter = tmp_path / "w3.csv"
    meter.write_text("timestamp_utc,energy_kwh\n2015-03-02T00:00:00Z,1\n")
    refusal = run(world, "attest", "--key", world.key("windfarm"), "--meter-csv", str(meter),
                  "--device", "W3", "--json")
    assert refusal.exit_code == 1  # every row refused
    summary = json.loads(refusal.stdout.strip().splitlines()[-1])
    assert summary["accepted"] == 0 and summary["rejected"] == {"device_suspended": 1}


def register_args(world: World, device_id: str) -> tuple[str, ...]:
    return ("device", "register", "--issuer-key", world.key("issuer"), "--device-id",
            device_id, "--name", f"Plant {device_id}", "--attestation-key",
            world.key("windfarm"), "--owner", world.pub("alice"), "--capacity-w", "2050000",
            "--country", "DE", "--lat", "52.52", "--lon", "13.405", "--production-start",
            "2013-01-01")


def test_device_register_sets_every_attribute(world: World) -> None:
    ok(world, *register_args(world, "D1"), "--market-zone", "DE-LU", "--grid-id",
       "11XDE-GRID-0001", "--support", "investment", "--storage", "--issuance-purpose",
       "voluntary", "--emissions-factor", "12", "--energy-source", "F01010100",
       "--technology", "T010000")
    full = world.get("/v1/devices/D1")
    assert (full["issue_market_zone"], full["connected_grid_identification"]) == (
        "DE-LU", "11XDE-GRID-0001")
    assert (full["support_received"], full["is_storage"], full["issuance_purpose"],
            full["emissions_factor"]) == ("investment", 1, "voluntary", 12)
    assert (full["energy_source"], full["technology"]) == ("F01010100", "T010000")
    # Germany is one bidding zone with Luxembourg: the default (the country) is refused.
    refused(world, "unknown_market_zone", *register_args(world, "D2"))
    ok(world, *register_args(world, "D2"), "--market-zone", "DE-LU")
    plain = world.get("/v1/devices/D2")
    assert (plain["connected_grid_identification"], plain["support_received"],
            plain["is_storage"], plain["issuance_purpose"], plain["emissions_factor"]) == (
        "", "none", 0, "disclosure", None)
    bad = run(world, *register_args(world, "D3"), "--emissions-factor", "-1")
    assert bad.exit_code == 2 and "emissions-factor" in bad.output


REGISTER_CSV = """timestamp_utc,energy_kwh,reg_start,reg_end
2015-03-03T00:00:00Z,1.5,100,101.5
2015-03-03T00:10:00Z,2,101.5,103.5
2015-03-03T00:20:00Z,1,90,91
"""


def test_attest_sends_register_readings(world: World, tmp_path: Path) -> None:
    ok(world, *register_args(world, "M1"), "--market-zone", "DE-LU")
    meter = tmp_path / "registers.csv"
    meter.write_text(REGISTER_CSV)
    args = ("attest", "--key", world.key("windfarm"), "--meter-csv", str(meter), "--device",
            "M1")
    summary = ok_json(world, *args, "--register-start-column", "reg_start",
                      "--register-end-column", "reg_end")
    # The third reading runs backwards: the ledger refuses that row, the rest commits.
    assert summary["committed"] == 2 and summary["wh_committed"] == 3500
    assert summary["rejected"] == {"meter_register_mismatch": 1}
    assert world.get("/v1/devices/M1")["last_register_wh"] == 103_500
    usage = run(world, *args, "--register-start-column", "reg_start")
    assert usage.exit_code == 2 and "give both --register-start-column" in usage.output
    refused(world, "meter_error", *args, "--register-start-column", "nope",
            "--register-end-column", "reg_end", exit_code=3)
    meter.write_text(REGISTER_CSV.replace("101.5,103.5", "101.5,103.5004"))
    message = refused(world, "meter_error", *args, "--register-start-column", "reg_start",
                      "--register-end-column", "reg_end", exit_code=3)
    assert "line 3" in message and "whole number of Wh" in message

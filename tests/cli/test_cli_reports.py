"""Query, matching, statement and export commands against ONE real single-validator node.

Device R1 (owner operator) issues H0 1000 Wh [0, 1000), H1 3000 Wh [1000, 4000), H2 500 Wh
[4000, 4500) (2015-03-01, UTC). Operator transfers all of [0, 1000) and 2000 of
[1000, 4000) to retailer; retailer retires 600 of [0, 1000) and all of [1000, 3000) for
"Cambridge b2"; operator retires [4000, 4500) for "Other".
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers.cli_node import commit_all, running_node

from greenchain.cli.main import cli
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.transactions import (
    Attest,
    Body,
    RegisterAccount,
    RegisterDevice,
    Retire,
    Transfer,
    make_tx,
)
from greenchain.node.devnet import DEV_CHAIN_ID, dev_key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

H0 = 1_425_168_000  # 2015-03-01T00:00:00Z
HOUR = 3600
DEVICE = "R1"
BENEFICIARY = "Cambridge b2"
ISSUER, OPERATOR, RETAILER = dev_key("issuer"), dev_key("operator"), dev_key("retailer")
GATEWAY = dev_key("windfarm")
CONSUMPTION = """timestamp_utc,energy_kwh
2015-03-01T00:00:00Z,0.8
2015-03-01T01:00:00Z,1.5
2015-03-01T02:00:00Z,0.4
2015-03-01T03:00:00Z,1
"""


def r1(start: int, end: int) -> bytes:
    return compute_bundle_id(DEVICE, start, end)


def retire(amount: int, bundle: bytes, beneficiary: str = BENEFICIARY) -> Retire:
    return Retire(bundle, amount, beneficiary, H0, H0 + 4 * HOUR, "disclosure", "GB")


def build_chain(url: str) -> None:
    nonce = iter(range(1, 100))

    def tx(signer: Any, body: Body) -> Any:
        return make_tx(signer, DEV_CHAIN_ID, body, next(nonce))

    commit_all(url, [
        tx(ISSUER, RegisterAccount(OPERATOR.public, "operator")),
        tx(ISSUER, RegisterAccount(RETAILER.public, "retailer")),
        tx(ISSUER, RegisterDevice(DEVICE, "Turbine <R1>", GATEWAY.public, OPERATOR.public,
                                  2_050_000, "F01050100", "T020001", "FR", 48_456_900,
                                  5_584_700, 1_356_998_400))])
    commit_all(url, [tx(GATEWAY, Attest(DEVICE, H0 + i * HOUR, H0 + (i + 1) * HOUR, wh))
                     for i, wh in enumerate((1000, 3000, 500))])
    commit_all(url, [tx(OPERATOR, Transfer(r1(0, 1000), 1000, RETAILER.public)),
                     tx(OPERATOR, Transfer(r1(1000, 4000), 2000, RETAILER.public))])
    commit_all(url, [tx(RETAILER, retire(600, r1(0, 1000))),
                     tx(RETAILER, retire(2000, r1(1000, 3000))),
                     tx(OPERATOR, retire(500, r1(4000, 4500), "Other"))])


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with running_node(tmp_path_factory.mktemp("net")) as (url, genesis):
        build_chain(url)
        yield url, genesis


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def last_json(result: Result) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_bundles_balance_and_totals(node: tuple[str, Path]) -> None:
    url, _ = node
    active = last_json(run("bundles", "--device", DEVICE, "--status", "active", "--node", url,
                           "--json"))
    assert sorted((b["serial_start"], b["serial_end"]) for b in active["bundles"]) == [
        (600, 1000), (3000, 4000)]
    assert active["total_wh"] == 1400
    hour1 = run("bundles", "--device", DEVICE, "--from", "2015-03-01T01:00:00Z", "--to",
                "2015-03-01T02:00:00Z", "--node", url)
    # The split parent [1000, 4000) and its pieces: its Wh are counted once.
    assert hour1.stdout.strip().endswith("3 bundles, 3000 Wh (1 split, not counted)")
    owner = last_json(run("bundles", "--owner", RETAILER.public.hex(), "--node", url, "--json"))
    assert [b["serial_start"] for b in owner["bundles"]] == [600]
    usage = run("bundles", "--node", url, code=2)
    assert "at least one of" in usage.output
    balance = last_json(run("balance", OPERATOR.public.hex(), "--node", url, "--json"))
    assert (balance["total_wh"], balance["by_month"]) == (1000, {"2015-03": {
        "wh": 1000, "mwh": "0.001000"}})
    text = run("balance", RETAILER.public.hex(), "--node", url).stdout
    assert "400 Wh (0.000400 MWh) active" in text and "T020001: 400 Wh" in text
    totals = last_json(run("device", "totals", DEVICE, "--node", url, "--json"))
    assert (totals["issued_wh"], totals["transferred_wh"], totals["retired_wh"],
            totals["active_wh"]) == (4500, 3000, 3100, 1400)
    assert "transferred: 3000 Wh" in run("device", "totals", DEVICE, "--node", url).stdout
    refused = run("device", "totals", "nope", "--node", url, code=1)
    assert refused.stderr.startswith("error: not_found: ")


def test_hourly_matching(node: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = node
    consumption = tmp_path / "consumption.csv"
    consumption.write_text(CONSUMPTION)
    plot = tmp_path / "match.png"
    doc = last_json(run("report", "matching", "--beneficiary", BENEFICIARY,
                        "--consumption-csv", str(consumption), "--plot", str(plot),
                        "--node", url, "--json"))
    assert (doc["consumption_wh"], doc["generation_wh"], doc["matched_wh"]) == (
        3700, 2600, 2100)
    assert (doc["unmatched_hours"], doc["surplus_wh"], doc["bundles"]) == (3, 500, 2)
    assert doc["cfe_score"] == round(2100 / 3700, 6)
    assert plot.read_bytes().startswith(b"\x89PNG")
    window = last_json(run("report", "matching", "--beneficiary", BENEFICIARY,
                           "--consumption-csv", str(consumption), "--from",
                           "2015-03-01T01:00:00Z", "--to", "2015-03-01T03:00:00Z",
                           "--node", url, "--json"))
    assert (window["hours"], window["consumption_wh"], window["matched_wh"]) == (2, 1900, 1500)
    text = run("report", "matching", "--beneficiary", BENEFICIARY, "--consumption-csv",
               str(consumption), "--node", url).stdout
    assert "CFE score 56.76%" in text and "unmatched hours: 3 of 4" in text
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp_utc,energy_kwh\n2015-03-01T00:30:00Z,1\n")
    refused = run("report", "matching", "--beneficiary", BENEFICIARY, "--consumption-csv",
                  str(bad), "--node", url, code=3)
    assert "not the start of a UTC hour" in refused.stderr


def test_statement_with_verifiable_proofs(node: tuple[str, Path], tmp_path: Path) -> None:
    url, genesis = node
    out = tmp_path / "report" / "statement.html"
    summary = last_json(run("statement", "--beneficiary", BENEFICIARY, "--node", url, "-o",
                            str(out), "--genesis", str(genesis), "--json"))
    assert (summary["lines"], summary["total_wh"]) == (2, 2600)
    page = out.read_text(encoding="utf-8")
    proofs = sorted((tmp_path / "report" / "statement-proofs").iterdir())
    assert [p.name for p in proofs] == ["R1_0.gcproof", "R1_1000.gcproof"]
    assert 'href="statement-proofs/R1_0.gcproof"' in page
    assert "R1:0..599" in page and "R1:1000..2999" in page
    assert "Turbine &lt;R1&gt;" in page and "GreenChain Dev Registry" in page
    for proof in proofs:
        verified = run("verify", str(proof), "--genesis", str(genesis))
        assert "proof verified" in verified.stdout and BENEFICIARY in verified.stdout


def test_exports(node: tuple[str, Path], tmp_path: Path) -> None:
    url, genesis = node
    out_json, out_csv = tmp_path / "gc.json", tmp_path / "gc.csv"
    run("export", "bundles", "--beneficiary", BENEFICIARY, "--format", "json", "-o",
        str(out_json), "--genesis", str(genesis), "--node", url)
    records = json.loads(out_json.read_text(encoding="utf-8"))
    assert sorted((r["certificate_bundle_id_range_start"],
                   r["certificate_bundle_id_range_end"], r["bundle_quantity"])
                  for r in records) == [(0, 599, 600), (1000, 2999, 2000)]
    assert {r["certificate_bundle_status"] for r in records} == {"Cancelled"}
    assert {r["issuing_body"] for r in records} == {"GreenChain Dev Registry"}
    assert all(r["issuance_datestamp"] and r["beneficiary"] == BENEFICIARY for r in records)
    summary = last_json(run("export", "bundles", "--device", DEVICE, "--format", "csv", "-o",
                            str(out_csv), "--node", url, "--json"))
    with out_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert summary["bundles"] == len(rows) == 5  # leaves only: no split parents
    assert sum(int(r["bundle_quantity"]) for r in rows) == summary["total_wh"] == 4500
    both = run("export", "bundles", "--device", DEVICE, "--owner", OPERATOR.public.hex(),
               "-o", str(out_csv), "--node", url, code=2)
    assert "exactly one of" in both.output

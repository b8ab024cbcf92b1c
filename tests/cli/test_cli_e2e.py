"""End to end: the client commands against ONE real single-validator node (a subprocess)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers.cli_node import running_node

from greenchain.cli.client import NodeClient
from greenchain.cli.main import cli
from greenchain.crypto.keys import save_key
from greenchain.meter import sample_path
from greenchain.model.certificates import compute_bundle_id
from greenchain.node.devnet import dev_key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TURBINES = {"R80711": ("48.4569", "5.5847"), "R80721": ("48.4497", "5.5869"),
            "R80736": ("48.4461", "5.5925"), "R80790": ("48.4536", "5.5875")}
SMALL_CSV = """timestamp_utc,energy_kwh
2015-03-02T00:00:00Z,100.5
2015-03-02T00:10:00Z,50
2015-03-02T00:05:00Z,10
2015-03-02T00:20:00Z,0
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with running_node(tmp_path_factory.mktemp("net")) as served:
        yield served


def ok(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def last_json(result: Result) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


def refused(rule: str, *args: str) -> None:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().startswith(f"error: {rule}: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def register_parties(url: str, keys: Path) -> dict[str, str]:
    issuer = keys / "issuer.key"
    save_key(dev_key("issuer"), issuer)
    save_key(dev_key("windfarm"), keys / "windfarm.key")
    pubs = {name: ok("keys", "new", "--out", str(keys / f"{name}.key")).stdout.strip()
            for name in ("owner", "consumer")}
    for name in ("owner", "consumer"):
        answer = last_json(ok("account", "register", "--issuer-key", str(issuer),
                              "--account-key", str(keys / f"{name}.key"), "--name", name,
                              "--node", url, "--json"))
        assert answer["status"] == "committed" and answer["height"] >= 1
    for i, (device_id, (lat, lon)) in enumerate(TURBINES.items()):
        wait = "--wait" if i == len(TURBINES) - 1 else "--no-wait"
        result = ok("device", "register", "--issuer-key", str(issuer), "--device-id",
                    device_id, "--name", f"La Haute Borne {device_id}", "--attestation-key",
                    str(keys / "windfarm.key"), "--owner", pubs["owner"], "--capacity-w",
                    "2050000", "--country", "FR", "--lat", lat, "--lon", lon,
                    "--production-start", "2013-01-01", "--node", url, wait)
        assert result.stdout.startswith("tx ")
    assert "committed at height" in result.stdout
    device = NodeClient(url).get_json("/v1/devices/R80790")
    assert device["owner_account"] == pubs["owner"] and device["capacity_w"] == 2_050_000
    return pubs


def attest(url: str, keys: Path, csv_path: Path, *extra: str) -> Result:
    return ok("attest", "--key", str(keys / "windfarm.key"), "--meter-csv", str(csv_path),
              "--node", url, *extra)


def check_attestations(url: str, keys: Path, tmp_path: Path) -> int:
    small = tmp_path / "small.csv"
    small.write_text(SMALL_CSV)
    first = attest(url, keys, small, "--device", "R80711", "--json", "--verbose")
    summary = last_json(first)
    assert summary["rows_read"] == 4 and summary["skipped"] == {"zero": 1}
    assert summary["submitted"] == 3 and summary["accepted"] == 2
    assert summary["rejected"] == {"period_overlap": 1}
    assert summary["wh_accepted"] == 150_500 and summary["committed"] == 2
    assert "line 4: R80711" in first.stdout and "period_overlap" in first.stdout
    # Re-running the same file signs the same transactions: a safe retry.
    again = last_json(attest(url, keys, small, "--device", "R80711", "--json"))
    assert again["accepted"] == 2 and again["already_committed"] == 2
    assert again["rejected"] == {"period_overlap": 1}
    assert again["last_height"] == summary["last_height"]
    # Signed with a key that is not the device's gateway: every row refused, exit 1.
    wrong = CliRunner().invoke(cli, ["attest", "--key", str(keys / "owner.key"),
                                     "--meter-csv", str(small), "--device", "R80711",
                                     "--node", url])
    assert wrong.exit_code == 1, wrong.output
    assert "rejected unauthorized: 3" in wrong.stdout
    assert wrong.stderr.strip() == "error: every attestation was refused (see the rules above)"
    wind = tmp_path / "wind.csv"
    lines = sample_path("wind").read_text(encoding="utf-8").splitlines(keepends=True)
    wind.write_text("".join(lines[:41]))
    text = attest(url, keys, wind, "--device-column", "turbine_id", "--batch-size", "7")
    assert "rows read: 40 (skipped: empty 10)" in text.stdout
    assert "accepted: 30 (already committed: 0), rejected: 0" in text.stdout
    assert "committed: 30" in text.stdout
    return 150_500 + int(text.stdout.split("energy accepted: ")[1].split(" Wh")[0])


def test_register_attest_transfer_retire_prove_verify(
        node: tuple[str, Path], tmp_path: Path) -> None:
    url, genesis = node
    keys = tmp_path / "keys"
    keys.mkdir()
    pubs = register_parties(url, keys)
    total_wh = check_attestations(url, keys, tmp_path)
    listing = last_json(ok("bundles", "--owner", pubs["owner"], "--node", url, "--json"))
    assert listing["total_wh"] == total_wh and len(listing["bundles"]) == 32
    cert = last_json(ok("cert", "show", "R80711:0", "--node", url, "--json"))
    assert (cert["serial_start"], cert["serial_end"]) == (0, 100_500)
    moved = last_json(ok("transfer", "--key", str(keys / "owner.key"), "--bundle",
                         cert["bundle_id"], "--amount-wh", "40000", "--to",
                         str(keys / "consumer.key"), "--node", url, "--json"))
    assert [(b["role"], b["owner"], b["serial_start"]) for b in moved["bundles"]] == [
        ("transferred", pubs["consumer"], 0), ("rest", pubs["owner"], 40_000)]
    assert moved["bundles"][0]["bundle_id"] == compute_bundle_id("R80711", 0, 40_000).hex()
    retired = ok("retire", "--key", str(keys / "consumer.key"), "--bundle",
                 moved["bundles"][0]["bundle_id"], "--amount-wh", "10000", "--beneficiary",
                 "Cambridge b2", "--consumption-start", "2015-03-02T00:00:00Z",
                 "--consumption-end", "2015-03-02T01:00:00Z", "--purpose", "disclosure",
                 "--country", "GB", "--node", url)
    assert "retired: bundle" in retired.stdout and "status retired" in retired.stdout
    shown = ok("cert", "show", "R80711:5", "--node", url)
    assert "retired for 'Cambridge b2'" in shown.stdout
    refused("bundle_not_active", "transfer", "--key", str(keys / "owner.key"), "--bundle",
            cert["bundle_id"], "--amount-wh", "1", "--to", pubs["consumer"], "--node", url)
    check_proof(url, genesis, tmp_path, pubs)


def check_proof(url: str, genesis: Path, tmp_path: Path, pubs: dict[str, str]) -> None:
    proof = tmp_path / "cert.gcproof"
    ok("provenance", "R80711:5", "--node", url, "-o", str(proof))
    text = ok("verify", str(proof), "--genesis", str(genesis))
    assert "proof verified" in text.stdout and "Cambridge b2" in text.stdout
    report = json.loads(ok("verify", str(proof), "--genesis", str(genesis), "--json").stdout)
    assert [o["account"] for o in report["owners"]] == [pubs["owner"], pubs["consumer"]]
    data = bytearray(proof.read_bytes())
    data[len(data) // 2] ^= 0x01
    proof.write_bytes(bytes(data))
    bad = CliRunner().invoke(cli, ["verify", str(proof), "--genesis", str(genesis)])
    assert bad.exit_code == 5, bad.output
    assert bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1

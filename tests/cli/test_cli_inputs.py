"""CliRunner: keys, bad inputs and exit codes (no node needed)."""

from __future__ import annotations

import io
import json
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from greenchain.cli.attest import progress, rejection_lines, summarize, summary_lines
from greenchain.cli.main import cli
from greenchain.cli.registry import parse_microdegrees
from greenchain.cli.txcmds import parse_utc_time, split_pieces
from greenchain.crypto.keys import load_key, save_key
from greenchain.errors import BadInput
from greenchain.meter import MeterReading, MeterRow
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.genesis import genesis_to_json
from greenchain.node.devnet import dev_genesis, dev_key, free_ports, write_network

ISSUER_PUB = dev_key("issuer").public.hex()


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, env=env)


def one_error_line(result: Result, rule: str) -> str:
    """The run printed exactly one line, ``error: <rule>: ...``, and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {rule}: "), lines
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


def test_keys_new_writes_0600_prints_public_key_and_refuses_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "a.key"
    result = run("keys", "new", "--out", str(out))
    assert result.exit_code == 0, result.output
    public = result.stdout.strip()
    assert public == load_key(out).public.hex()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    shown = run("keys", "show", str(out))
    assert shown.exit_code == 0 and shown.stdout.strip() == public
    again = run("keys", "new", "--out", str(out))
    assert again.exit_code == 3
    one_error_line(again, "bad_key_file")
    assert load_key(out).public.hex() == public


def test_keys_with_passphrase_prompt_and_env(tmp_path: Path) -> None:
    out = tmp_path / "enc.key"
    result = run("keys", "new", "--out", str(out), "--passphrase-prompt",
                 input="s3cret\ns3cret\n")
    assert result.exit_code == 0, result.output
    public = result.stdout.strip().splitlines()[-1]
    assert load_key(out, "s3cret").public.hex() == public
    prompted = run("keys", "show", str(out), input="s3cret\n")
    assert prompted.exit_code == 0 and prompted.stdout.strip().endswith(public)
    from_env = run("keys", "show", str(out), env={"GREENCHAIN_KEY_PASSPHRASE": "s3cret"})
    assert from_env.exit_code == 0 and from_env.stdout.strip() == public
    wrong = run("keys", "show", str(out), input="nope\n")
    assert wrong.exit_code == 3
    assert "wrong format or passphrase" in one_error_line(wrong, "bad_key_file")


def test_keys_show_missing_and_garbage_files(tmp_path: Path) -> None:
    missing = run("keys", "show", str(tmp_path / "none.key"))
    assert missing.exit_code == 3
    one_error_line(missing, "bad_key_file")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key")
    bad = run("keys", "show", str(garbage))
    assert bad.exit_code == 3
    one_error_line(bad, "bad_key_file")


@pytest.fixture
def issuer_key(tmp_path: Path) -> Path:
    path = tmp_path / "issuer.key"
    save_key(dev_key("issuer"), path)
    return path


def device_args(issuer_key: Path, **overrides: str) -> list[str]:
    options = {"--issuer-key": str(issuer_key), "--device-id": "T1", "--name": "Turbine 1",
               "--attestation-key": ISSUER_PUB, "--owner": ISSUER_PUB, "--capacity-w": "2050000",
               "--country": "FR", "--lat": "48.4569", "--lon": "5.5847",
               "--production-start": "2013-01-01", "--node": "http://127.0.0.1:1"}
    options |= overrides
    return ["device", "register", *[item for pair in options.items() for item in pair]]


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"--owner": "zz" * 32}, "--owner"),
    ({"--owner": "ab" * 31}, "neither 64 hex digits nor a key file"),
    ({"--owner": "00" * 32}, "not a valid Ed25519 public key"),
    ({"--lat": "48.45691234"}, "more than 6 decimals"),
    ({"--lat": "91"}, "outside -90..90"),
    ({"--lon": "5,58"}, "not decimal degrees"),
    ({"--country": "france"}, "two-letter country code"),
    ({"--production-start": "2013-13-01"}, "not a date"),
])
def test_device_register_bad_values_fail_before_any_request(
        issuer_key: Path, overrides: dict[str, str], fragment: str) -> None:
    result = run(*device_args(issuer_key, **overrides))
    assert result.exit_code == 3, result.output
    assert fragment in one_error_line(result, "bad_input")


def test_unreachable_node_exits_4_with_one_line(issuer_key: Path) -> None:
    (port,) = free_ports(1)
    result = run("account", "register", "--issuer-key", str(issuer_key), "--account-key",
                 ISSUER_PUB, "--name", "x", "--node", f"http://127.0.0.1:{port}")
    assert result.exit_code == 4
    assert f"127.0.0.1:{port}" in one_error_line(result, "peer_error")


def test_transfer_bad_bundle_hex_and_missing_key_file(issuer_key: Path, tmp_path: Path) -> None:
    bad_hex = run("transfer", "--key", str(issuer_key), "--bundle", "xyz", "--amount-wh", "5",
                  "--to", ISSUER_PUB, "--node", "http://127.0.0.1:1")
    assert bad_hex.exit_code == 3
    assert "--bundle" in one_error_line(bad_hex, "bad_input")
    no_key = run("transfer", "--key", str(tmp_path / "none.key"), "--bundle", "ab" * 32,
                 "--amount-wh", "5", "--to", ISSUER_PUB, "--node", "http://127.0.0.1:1")
    assert no_key.exit_code == 3
    one_error_line(no_key, "bad_key_file")


def test_attest_needs_exactly_one_device_source_and_a_readable_csv(
        issuer_key: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("timestamp_utc,energy_kwh\n2015-03-01T00:00:00Z,1.5\n")
    both = run("attest", "--key", str(issuer_key), "--meter-csv", str(csv_path),
               "--device", "T1", "--device-column", "turbine_id", "--node", "http://x:1")
    assert both.exit_code == 2  # a usage error, like a missing option
    assert "give exactly one of --device-column or --device" in both.output
    missing = run("attest", "--key", str(issuer_key), "--meter-csv", str(tmp_path / "no.csv"),
                  "--device", "T1", "--node", "http://127.0.0.1:1")
    assert missing.exit_code == 3
    one_error_line(missing, "meter_error")
    csv_path.write_text("timestamp_utc,energy_kwh\n2015-03-01T00:00:00Z,1e3\n")
    bad_row = run("attest", "--key", str(issuer_key), "--meter-csv", str(csv_path),
                  "--device", "T1", "--node", "http://127.0.0.1:1")
    assert bad_row.exit_code == 3
    assert "line 2" in one_error_line(bad_row, "meter_error")


def test_retire_refuses_naive_times_and_empty_periods(issuer_key: Path) -> None:
    base = ["retire", "--key", str(issuer_key), "--bundle", "ab" * 32, "--amount-wh", "1",
            "--beneficiary", "b", "--purpose", "p", "--country", "FR",
            "--node", "http://127.0.0.1:1"]
    naive = run(*base, "--consumption-start", "2015-03-01T00:00:00",
                "--consumption-end", "2015-03-02")
    assert naive.exit_code == 3
    assert "zone" in one_error_line(naive, "bad_input")
    empty = run(*base, "--consumption-start", "2015-03-02", "--consumption-end", "2015-03-01")
    assert empty.exit_code == 3
    one_error_line(empty, "bad_input")


def test_verify_missing_and_damaged_proof_files(tmp_path: Path) -> None:
    genesis = Path(__file__).resolve().parents[2] / "genesis.json"
    missing = run("verify", str(tmp_path / "none.gcproof"), "--genesis", str(genesis))
    assert missing.exit_code == 3
    one_error_line(missing, "bad_input")
    damaged = tmp_path / "bad.gcproof"
    damaged.write_bytes(b"\x93\xa3abc")
    result = run("verify", str(damaged), "--genesis", str(genesis), "--json")
    assert result.exit_code == 5
    one_error_line(result, "malformed")
    assert '"valid": false' in result.stdout


def test_parsers_are_exact() -> None:
    assert parse_microdegrees("48.456912", 90, "--lat") == 48_456_912
    assert parse_microdegrees("-5.5", 180, "--lon") == -5_500_000
    assert parse_utc_time("2015-03-01T01:00:00+01:00", "t") == 1_425_168_000
    assert parse_utc_time("2015-03-01", "t") == 1_425_168_000
    with pytest.raises(BadInput):
        parse_utc_time("2015-03-01T00:00:00.5Z", "t")


def test_split_pieces_moves_the_low_serials() -> None:
    bundle = {"bundle_id": compute_bundle_id("T1", 10, 30).hex(), "device_id": "T1",
              "serial_start": 10, "serial_end": 30}
    assert split_pieces(bundle, 20, "retired") == [("retired", compute_bundle_id("T1", 10, 30))]
    assert split_pieces(bundle, 5, "transferred") == [
        ("transferred", compute_bundle_id("T1", 10, 15)), ("rest", compute_bundle_id("T1", 15, 30))]


def test_attest_summary_counts_rules_skips_and_commits() -> None:
    rows = tuple(MeterRow("T1", 600 * i, 600 * (i + 1), 1000 + i, i + 2) for i in range(4))
    reading = MeterReading(rows, {"empty": 2})
    verdicts = [{"tx_id": "a0", "status": "pending"},
                {"tx_id": "a1", "status": "committed", "height": 3, "position": 0},
                {"tx_id": "a2", "status": "rejected", "rule": "period_overlap", "message": "m"},
                {"tx_id": "a3", "status": "pending"}]
    finals = {"a0": {"tx_id": "a0", "status": "committed", "height": 9, "position": 1},
              "a3": {"tx_id": "a3", "status": "evicted", "rule": "unknown_device"}}
    summary = summarize(reading, verdicts, finals)
    assert summary == {
        "rows_read": 6, "skipped": {"empty": 2}, "submitted": 4, "accepted": 3,
        "already_committed": 1, "rejected": {"period_overlap": 1}, "wh_accepted": 3004,
        "committed": 2, "wh_committed": 2001, "not_committed": {"unknown_device": 1},
        "last_height": 9}
    text = "\n".join(summary_lines(summary))
    assert "rejected period_overlap: 1" in text and "not committed unknown_device: 1" in text
    assert "last height 9" in text
    no_wait = summarize(reading, verdicts, None)
    assert "committed" not in no_wait and no_wait["accepted"] == 3
    outcomes = [finals.get(v["tx_id"], v) for v in verdicts]
    assert [line.split(":")[0] for line in rejection_lines(rows, outcomes)] == ["line 4", "line 5"]


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain = io.StringIO()
    monkeypatch.setattr(sys, "stdout", plain)
    with progress(3) as advance:
        advance(3)
    assert plain.getvalue() == ""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    with progress(3) as advance:
        advance(3)
    assert "submitting" in terminal.getvalue()


def test_init_sign_state_never_overwrites_with_one_error_line(tmp_path: Path) -> None:
    genesis_path = tmp_path / "genesis.json"
    genesis_path.write_text(json.dumps(genesis_to_json(dev_genesis(1))), encoding="utf-8")
    (home,) = write_network(tmp_path / "nodes", genesis_path, free_ports(1))
    before = (home.home / "sign_state.msgpack").read_bytes()
    again = run("node", "init-sign-state", "--home", str(home.home))
    assert again.exit_code == 3
    assert "never reset it" in one_error_line(again, "config_error")
    assert (home.home / "sign_state.msgpack").read_bytes() == before

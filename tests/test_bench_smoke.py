"""Smoke test of scripts/bench.py: a --quick --json run yields every figure, sanely typed.

Only shapes and types are checked, never timings: the numbers depend on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]
RUN_TIMEOUT_S = 420

ROOT = Path(__file__).resolve().parents[1]
POSITIVE_RATES = [
    "verifications_per_s_per_core", "raw_verifications_per_s_per_core",
    "leveldb_puts_per_s_sync", "leveldb_puts_per_s_nosync", "msgpack_decodes_per_s",
    "sha256_per_s", "ledger_apply_tx_per_s", "ledger_apply_tx_per_s_no_signatures",
    "network_committed_tx_per_s", "network_limit_tx_per_s", "catchup_tx_per_s",
    "catchup_blocks_per_s",
]
NON_NEGATIVE = [
    "ledger_ratio_to_verify_limit", "ledger_ratio_to_verify_limit_attest",
    "network_ratio_to_limit", "network_p50_latency_s", "network_p99_latency_s",
    "catchup_ratio_to_apply", "proof_build_ms", "proof_verify_ms", "validator_peak_rss_mb",
    "state_root_ms_per_block", "state_root_us_per_key",
]
TARGET_KEYS = {"ledger_ratio_to_verify_limit", "network_ratio_to_limit",
               "network_p99_latency_s", "catchup_ratio_to_apply", "proof_verify_ms",
               "validator_peak_rss_mb"}
LEDGER_FIELDS = {"txs_per_s_with_signatures", "txs_per_s_without_signatures",
                 "state_root_ms_per_block", "state_root_us_per_key", "commit_ms_per_block"}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    # Own session: on a timeout the whole group goes, node processes included.
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, cwd=ROOT,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"bench --quick took over {RUN_TIMEOUT_S} s: {stderr[-2000:]}")
    assert proc.returncode == 0, stderr[-4000:]
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, "with --json stdout holds only the JSON line"
    doc = json.loads(lines[-1])
    assert isinstance(doc, dict)
    return doc


def test_every_phase_ran_without_error(report: dict[str, Any]) -> None:
    assert report["errors"] == {}
    assert report["quick"] is True
    assert is_number(report["duration_s"]) and report["duration_s"] > 0


def test_rates_are_positive_numbers(report: dict[str, Any]) -> None:
    for key in POSITIVE_RATES:
        assert is_number(report.get(key)) and report[key] > 0, (key, report.get(key))


def test_ratios_latencies_and_costs_are_numbers(report: dict[str, Any]) -> None:
    for key in NON_NEGATIVE:
        assert is_number(report.get(key)) and report[key] >= 0, (key, report.get(key))
    assert report["network_p99_latency_s"] >= report["network_p50_latency_s"]
    assert report["network_saturation_committed"] == report["network_saturation_txs"]
    assert report["network_latency_committed"] == report["network_latency_txs"]
    assert report["proof_steps"] == 7, "register, attest and 5 transfers"


def test_ledger_workloads_are_reported(report: dict[str, Any]) -> None:
    for workload in ("attest", "mix"):
        figures = report["ledger"][workload]
        assert LEDGER_FIELDS <= figures.keys()
        assert all(is_number(figures[field]) for field in LEDGER_FIELDS)
        assert figures["txs_per_s_without_signatures"] > 0


def test_targets_carry_value_and_verdict(report: dict[str, Any]) -> None:
    assert set(report["targets"]) == TARGET_KEYS
    for key, target in report["targets"].items():
        assert target["value"] == report[key]
        assert isinstance(target["met"], bool)
        assert isinstance(target["target"], str) and target["target"].split()[0] in ("<", ">=")

"""Smoke test of scripts/bench_restart.py: a --quick --json run yields every figure.

Only shapes and signs are checked, never timings: the numbers depend on the machine.
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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
RUN_TIMEOUT_S = 240

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ["200", "400"]
PER_CHECKPOINT = ["restart_s", "restart_open_s", "restart_import_s", "catchup_blocks_per_s",
                  "catchup_last_1000_blocks_per_s", "catchup_cpu_ms_per_block",
                  "catchup_last_1000_cpu_ms_per_block", "catchup_s", "catchup_window_blocks"]
POSITIVE = ["build_s", "build_blocks_per_s", "chain_txs", "duration_s"]


def is_positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    # Own session: on a timeout the whole group goes, node processes included.
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "bench_restart.py"),
                             "--quick", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            cwd=ROOT, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"bench_restart --quick took over {RUN_TIMEOUT_S} s: {stderr[-2000:]}")
    assert proc.returncode == 0, stderr[-4000:]
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, "with --json stdout holds only the JSON line"
    doc = json.loads(lines[0])
    assert isinstance(doc, dict)
    return doc


def test_run_finished_without_error(report: dict[str, Any]) -> None:
    assert report["errors"] == {}
    assert report["quick"] is True
    assert report["checkpoints"] == [int(h) for h in CHECKPOINTS]
    assert report["blocks"] == int(CHECKPOINTS[-1])
    assert report["block_txs"] == 5


def test_every_figure_is_positive_at_every_checkpoint(report: dict[str, Any]) -> None:
    for name in PER_CHECKPOINT:
        figures = report[name]
        assert sorted(figures) == CHECKPOINTS, (name, figures)
        for height, value in figures.items():
            assert is_positive_number(value), (name, height, value)


def test_build_figures_are_positive(report: dict[str, Any]) -> None:
    for name in POSITIVE:
        assert is_positive_number(report[name]), (name, report[name])
    # Setup block plus 5 transactions in every later block.
    assert report["chain_txs"] > 5 * (report["blocks"] - 1)


def test_closing_window_fits_the_chain(report: dict[str, Any]) -> None:
    for height, window in report["catchup_window_blocks"].items():
        assert 0 < window <= int(height)

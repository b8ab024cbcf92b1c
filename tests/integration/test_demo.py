"""The demo itself, on a slice of the real wind data and on another plant's file."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from greenchain.meter import sample_path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def run_demo(*args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "greenchain.cli.main", "demo", "--json", *args],
                          capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_demo_on_a_slice_of_the_real_wind_data(tmp_path: Path) -> None:
    lines = sample_path("wind").read_text().splitlines()
    # 2015-03-29 00:00Z..02:50Z: holds the DST-duplicated intervals 01:00Z-01:50Z.
    day = [line for line in lines[1:] if line.startswith("2015-03-29T0") and
           line[11:13] in ("00", "01", "02")]
    path = tmp_path / "slice.csv"
    path.write_text("\n".join([lines[0], *day]) + "\n")
    positive = [line for line in day if line.split(",")[4] and Decimal(line.split(",")[4]) > 0]
    firsts: dict[tuple[str, str], Decimal] = {}
    for line in positive:
        cells = line.split(",")
        firsts.setdefault((cells[0], cells[2]), Decimal(cells[4]))
    duplicates = len(positive) - len(firsts)
    expected_wh = sum(int((kwh * 1000).to_integral_value(ROUND_DOWN)) for kwh in firsts.values())

    result = run_demo("--meter-csv", str(path), "--device-column", "turbine_id",
                      "--capacity-w", "2050000")

    assert result["validators"] == 4
    assert duplicates == 24
    assert result["attestations_rejected"] == {"period_overlap": duplicates}
    assert result["attestations_accepted"] == len(firsts)
    assert result["issued_wh"] == expected_wh
    assert result["proof_verified"] is True
    assert result["tampered_proof_rejected"] is True
    assert result["nodes_agree"] is True
    assert 0 < int(result["retired_wh"]) <= int(result["transferred_wh"])  # type: ignore[call-overload]


def test_demo_on_another_plants_file_issues_the_exact_sum(tmp_path: Path) -> None:
    rows = ["timestamp_utc,energy_kwh"]
    energies = ["0.4567", "12.3456", "0", "", "-1.2", "0.0005", "7.0009", "3.1"]
    for i, kwh in enumerate(energies):
        rows.append(f"2021-06-01T{10 + i // 6:02d}:{(i % 6) * 10:02d}:00Z,{kwh}")
    path = tmp_path / "plant.csv"
    path.write_text("\n".join(rows) + "\n")
    expected = sum(int((Decimal(k) * 1000).to_integral_value(ROUND_DOWN))
                   for k in energies if k and Decimal(k) * 1000 >= 1)

    result = run_demo("--meter-csv", str(path), "--device", "PV-1", "--capacity-w", "100000")

    assert result["issued_wh"] == expected
    assert result["attestations_accepted"] == 4
    assert result["rows_skipped"] == {"zero": 1, "empty": 1, "negative": 1, "below_1_wh": 1}
    assert result["proof_verified"] is True and result["nodes_agree"] is True

"""The matching chart is a PNG, and matplotlib loads only when a chart is drawn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from greenchain.reports.matching import compute_matching
from greenchain.reports.plot import plot_matching

H0 = 1_425_168_000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_a_png(tmp_path: Path) -> None:
    result = compute_matching({H0: 500, H0 + 3600: 2000, H0 + 7 * 3600: 10},
                              {H0: 1000, H0 + 3600: 1000})
    out = tmp_path / "match.png"
    plot_matching(result, out, "ACME: CFE score 50.00%")
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    # IHDR: width and height in pixels (12 x 4.5 inches at 100 dpi).
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (
        1200, 450)


def test_plot_of_nothing_still_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "empty.png"
    plot_matching(compute_matching({}, {}), out, "nothing")
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_cli_import_does_not_load_matplotlib() -> None:
    code = "import sys, greenchain.cli.main; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"

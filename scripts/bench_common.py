"""Shared pieces of the benchmark (scripts/bench.py): sizes, timing, progress, RSS.

Benchmark helper modules live beside bench.py and import greenchain, never tests/.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work each part of one run does (full run or --quick)."""

    verify_count: int
    """Signatures checked per verifier figure."""
    leveldb_batches: int
    """1,000-key batches written per sync mode."""
    micro_count: int
    """Decodes and hashes per figure."""
    block_txs: int
    """Transactions per block of the ledger bench and the catch-up chain."""
    ledger_blocks: int
    """Measured blocks per workload (attest-only, mix)."""
    devices: int
    """Devices registered on every chain (attestations spread over them)."""
    network_saturation_txs: int
    """Transactions submitted at once to find the network's throughput."""
    network_batch: int
    """Transactions per HTTP batch at saturation."""
    latency_window_s: float
    """Length of the paced half-load window, seconds."""
    chain_txs: int
    """Transactions in the catch-up chain (besides setup and proof transactions)."""
    proof_repeats: int
    """Timed builds and verifications of the provenance proof (median reported)."""


FULL = Sizes(verify_count=10_000, leveldb_batches=40, micro_count=50_000, block_txs=5_000,
             ledger_blocks=2, devices=500, network_saturation_txs=12_000, network_batch=500,
             latency_window_s=20.0, chain_txs=100_000, proof_repeats=5)
QUICK = Sizes(verify_count=1_000, leveldb_batches=5, micro_count=5_000, block_txs=1_000,
              ledger_blocks=1, devices=50, network_saturation_txs=2_000, network_batch=250,
              latency_window_s=4.0, chain_txs=5_000, proof_repeats=2)


def progress(message: str) -> None:
    """Print a progress line to stderr (stdout carries only the JSON)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def per_second(count: int, seconds: float) -> float:
    """Return `count / seconds`, rounded to 1 decimal (0 if no time passed)."""
    return round(count / seconds, 1) if seconds > 0 else 0.0


def timed(fn: Callable[[], object]) -> float:
    """Run `fn` once and return its wall time in seconds (perf_counter)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_ms(samples: Iterable[float]) -> float:
    """Return the median of seconds samples, in milliseconds (3 decimals)."""
    return round(statistics.median(samples) * 1000, 3)


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile (`fraction` in 0..1) of `values` (inf if none)."""
    if not values:
        return math.inf
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(fraction * len(ordered) + 0.999999)))
    return ordered[rank - 1]


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids += [int(p) for p in task.read_text().split()]
        except OSError:
            continue
    return kids


def _status_kib(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def peak_rss_mb(pid: int) -> float:
    """Return the peak RSS (VmHWM) of `pid` plus its descendants, in MiB (0 if gone)."""
    todo, total_kib = [pid], 0
    while todo:
        current = todo.pop()
        total_kib += _status_kib(current, "VmHWM")
        todo += _children(current)
    return round(total_kib / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system, all threads) `pid` has used, seconds (0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # Fields after the command name start at field 3 (state); utime and stime are 14, 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_count() -> int:
    """Return the number of CPUs this process may run on."""
    return len(os.sched_getaffinity(0))

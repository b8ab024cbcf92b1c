#!/usr/bin/env python3
"""Restart time and catch-up rate as the chain grows (issue "nodes that survive faults").

Usage::

    .venv/bin/python scripts/bench_restart.py [--blocks 20000] [--checkpoints 10000,20000]
                                              [--quick] [--json]

A chain of blocks of 5 transactions (the 60/30/10 attest/transfer/retire mix) is built
straight into node 0's data directory with `build_block` and `ChainStore.commit_block`,
committed by the dev validator keys, not by live consensus. At each checkpoint height:

- restart: node 0 (``greenchain node run``, a real process) is spawned on the data
  directory; the wall time from spawn until ``/v1/status`` answers the checkpoint height is
  ``restart_s``. Beside it, ``restart_open_s`` is the in-process time to open the store and
  build `NodeService` (the node's own start-up work) and ``restart_import_s`` the time of a
  fresh interpreter until it has imported ``greenchain.cli.main`` (start-up and imports).
  Medians of `RESTART_REPEATS` runs (one with --quick).
- catch-up: node 1, with an empty data directory, syncs from node 0; ``/v1/status`` is
  polled and the rate is reported over the whole chain and over its last 1,000 blocks
  (``catchup_last_1000_blocks_per_s``: a rate that falls as the chain grows shows there),
  with the node's CPU time per block beside each (``catchup_*cpu_ms_per_block``), which
  other load on the machine disturbs far less than wall-clock rates.

Then building goes on to the next checkpoint. stdout carries one JSON object (with
--json, only that line); progress goes to stderr. --quick runs 200/400 blocks. Exit
status 1 if a checkpoint failed (its error is in the JSON under "errors").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench_catchup import wait_caught_up
from bench_common import cpu_seconds, per_second, progress
from bench_txgen import BufferedKV, ChainWriter, LoadGen

from greenchain.cli.client import NodeClient
from greenchain.cli.localnet import LocalNetwork, http_json
from greenchain.errors import PeerError
from greenchain.model.genesis import Genesis
from greenchain.model.transactions import Tx
from greenchain.node.devnet import dev_genesis
from greenchain.node.service import NodeService
from greenchain.node.signstate import init_sign_state
from greenchain.store.chain import ChainStore
from greenchain.store.leveldb import LevelKV

BLOCK_TXS = 5
DEVICES = 100
RESTART_REPEATS = 3
LAST_WINDOW = 1_000
"""Blocks at the end of the chain over which the closing catch-up rate is measured."""
POLL_S = 0.01
RESTART_TIMEOUT_S = 60.0
FULL_CHECKPOINTS = (10_000, 20_000)
QUICK_CHECKPOINTS = (200, 400)
SERVER, FRESH = 0, 1
"""Node indexes: the one on the built chain, and the one that catches up."""


# --- building -------------------------------------------------------------------------------
def mixed_blocks(gen: LoadGen) -> Iterator[list[Tx]]:
    """Yield the transactions of each block after the setup block, `BLOCK_TXS` per block.

    The first block attests only (nothing is movable yet); then each pair of blocks takes
    one 10-slot cycle of the 60/30/10 mix, so retirements appear although a block holds 5.
    Moves only spend bundles issued before the pair (`LoadGen.settle` after each pair).
    """
    yield gen.attests(BLOCK_TXS)
    gen.settle()
    while True:
        pair = gen.mix(2 * BLOCK_TXS)
        yield pair[:BLOCK_TXS]
        yield pair[BLOCK_TXS:]
        gen.settle()


class ChainBuilder:
    """Builds the bench chain into a data directory in steps, across store re-openings.

    The generator and the writer (tip, last commit) carry over between steps.

    Parameters
    ----------
    genesis:
        The dev genesis the chain is committed under.
    data_dir:
        Node 0's data directory.
    """

    def __init__(self, genesis: Genesis, data_dir: Path) -> None:
        self.genesis = genesis
        self.data_dir = data_dir
        self.gen = LoadGen(DEVICES, genesis.chain_id)
        self.blocks = mixed_blocks(self.gen)
        self.writer: ChainWriter | None = None
        self.txs = 0
        """Transactions committed so far."""
        self.seconds = 0.0
        """Wall time spent building so far."""

    def build_to(self, height: int) -> None:
        """Open the store, commit blocks until the tip is at `height`, close the store."""
        started = time.perf_counter()
        store = ChainStore(BufferedKV(LevelKV(self.data_dir)))
        try:
            if self.writer is None:
                self.writer = ChainWriter(store, self.genesis)
                self.txs += len(self.writer.seal(self.gen.setup_txs()).txs)
                self.gen.settle()
            self.writer.store = store
            while self.writer.tip.height < height:
                self.txs += len(self.writer.seal(next(self.blocks)).txs)
                if self.writer.tip.height % 1000 == 0:
                    progress(f"restart: built {self.writer.tip.height}/{height} blocks")
        finally:
            store.close()
        self.seconds += time.perf_counter() - started


# --- restart --------------------------------------------------------------------------------
def open_seconds(genesis: Genesis, data_dir: Path) -> float:
    """Return the in-process time to open the store and build `NodeService`, seconds."""
    started = time.perf_counter()
    store = ChainStore(LevelKV(data_dir, create=False))
    try:
        NodeService(genesis, store)
        return time.perf_counter() - started
    finally:
        store.close()


def import_seconds() -> float:
    """Return the wall time from spawning an interpreter until it imported the node's CLI.

    The child reports when the import is done, so its exit (finalisation) is not counted.

    Raises
    ------
    RuntimeError
        If the child fails before reporting.
    """
    code = "import greenchain.cli.main; print('imported', flush=True)"
    started = time.perf_counter()
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, text=True) as child:
        assert child.stdout is not None
        line = child.stdout.readline()
        seconds = time.perf_counter() - started
        child.wait()
    if line.strip() != "imported":
        raise RuntimeError(f"importing greenchain.cli.main failed (exit {child.returncode})")
    return seconds


def spawn_until_height(net: LocalNetwork, index: int, height: int) -> float:
    """Start node `index` and return the seconds until ``/v1/status`` answers `height`.

    Raises
    ------
    RuntimeError
        If the node exits or does not reach `height` within `RESTART_TIMEOUT_S`.
    """
    url = f"{net.urls[index]}/v1/status"
    started = time.perf_counter()
    net.start(index)
    while time.perf_counter() - started < RESTART_TIMEOUT_S:
        if net.procs[index].poll() is not None:
            raise RuntimeError(f"node{index} exited with {net.procs[index].returncode}")
        try:
            if http_json(url, timeout=1.0)["height"] >= height:
                return time.perf_counter() - started
        except PeerError:
            pass
        time.sleep(POLL_S)
    raise RuntimeError(f"node{index} did not answer height {height} in {RESTART_TIMEOUT_S} s")


def measure_restart(net: LocalNetwork, height: int, repeats: int) -> dict[str, float]:
    """Return median restart, open and import seconds; leaves the server node running."""
    data_dir = net.homes[SERVER].home / "data"
    opens = [open_seconds(net.genesis, data_dir) for _ in range(repeats)]
    imports = [import_seconds() for _ in range(repeats)]
    spawns = []
    for repeat in range(repeats):
        spawns.append(spawn_until_height(net, SERVER, height))
        if repeat < repeats - 1:
            net.stop(SERVER)
    return {"restart_s": _median(spawns), "restart_open_s": _median(opens),
            "restart_import_s": _median(imports)}


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 3)


# --- catch-up -------------------------------------------------------------------------------
Sample = tuple[float, int, float]
"""(monotonic seconds, height, CPU seconds the node has used) of one status answer."""


class RecordingClient(NodeClient):
    """A `NodeClient` that records a `Sample` at every status answer of node `pid`."""

    def __init__(self, url: str, pid: int) -> None:
        super().__init__(url, request_timeout_s=30.0)
        self.pid = pid
        self.samples: list[Sample] = []

    def status(self) -> dict[str, Any]:
        """Return ``/v1/status`` and record its height and the node's CPU time."""
        doc = super().status()
        self.samples.append((time.monotonic(), int(doc["height"]), cpu_seconds(self.pid)))
        return doc


def window_figures(samples: list[Sample], tip: int, window: int) -> tuple[float, float]:
    """Return (blocks/s, CPU ms per block) over the last `window` blocks up to `tip`.

    From the last sample at or below ``tip - window`` to the first at `tip`. The node
    answers between fetched pages, so both ends are page boundaries and the block count
    between them is exact (at least `window`). CPU time includes LevelDB's threads.
    """
    done_s, _, done_cpu = min(s for s in samples if s[1] >= tip)
    before = [s for s in samples if s[1] <= tip - window] or samples[:1]
    start_s, start_height, start_cpu = max(before, key=lambda s: (s[1], s[0]))
    blocks = tip - start_height
    return (per_second(blocks, done_s - start_s),
            round((done_cpu - start_cpu) * 1000 / blocks, 2) if blocks else 0.0)


def reset_node(net: LocalNetwork, index: int) -> None:
    """Give node `index` an empty data directory and a fresh sign-state."""
    home = net.homes[index].home
    shutil.rmtree(home / "data", ignore_errors=True)
    (home / "sign_state.msgpack").unlink(missing_ok=True)
    init_sign_state(home / "sign_state.msgpack")


def measure_catchup(net: LocalNetwork, tip: int) -> dict[str, float]:
    """Sync a fresh node from the running server; return its whole and closing rates."""
    reset_node(net, FRESH)
    net.start(FRESH)
    proc = net.procs[FRESH]
    client = RecordingClient(net.urls[FRESH], proc.pid)
    try:
        start_s, start_height, done_s = wait_caught_up(client, tip,
                                                       lambda: proc.poll() is None)
    finally:
        net.stop(FRESH)
    window = min(LAST_WINDOW, tip // 2)
    rate, cpu_ms = window_figures(client.samples, tip, window)
    _, whole_cpu_ms = window_figures(client.samples, tip, tip - start_height)
    return {"catchup_s": round(done_s - start_s, 2),
            "catchup_blocks_per_s": per_second(tip - start_height, done_s - start_s),
            "catchup_last_1000_blocks_per_s": rate,
            "catchup_cpu_ms_per_block": whole_cpu_ms,
            "catchup_last_1000_cpu_ms_per_block": cpu_ms,
            "catchup_window_blocks": window}


# --- the run --------------------------------------------------------------------------------
def measure_checkpoint(net: LocalNetwork, height: int, repeats: int) -> dict[str, float]:
    """Measure restart and catch-up at `height` (the chain is built and its store closed)."""
    progress(f"restart: timing restarts at {height} blocks")
    figures = measure_restart(net, height, repeats)
    progress(f"restart: a fresh node catching up {height} blocks")
    try:
        figures |= measure_catchup(net, height)
    finally:
        net.stop(SERVER)
    return figures


def run(checkpoints: list[int], quick: bool) -> dict[str, Any]:
    """Build the chain checkpoint by checkpoint and measure each; return the report."""
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    genesis = dev_genesis(4)
    repeats = 1 if quick else RESTART_REPEATS
    by_height: dict[int, dict[str, float]] = {}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gc-bench-restart-") as tmp:
        net = LocalNetwork(Path(tmp), genesis)
        builder = ChainBuilder(genesis, net.homes[SERVER].home / "data")
        try:
            for height in checkpoints:
                progress(f"restart: building to {height} blocks")
                builder.build_to(height)
                try:
                    by_height[height] = measure_checkpoint(net, height, repeats)
                except (RuntimeError, PeerError, OSError) as exc:
                    errors[str(height)] = str(exc)
                    break
        finally:
            net.stop_all()
    # Other work on the machine slows every wall-clock figure: the load shows how much.
    return report(by_height, builder, checkpoints, errors) | {
        "quick": quick, "duration_s": round(time.perf_counter() - started, 1),
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


FIGURES = ("restart_s", "restart_open_s", "restart_import_s", "catchup_blocks_per_s",
           "catchup_last_1000_blocks_per_s", "catchup_cpu_ms_per_block",
           "catchup_last_1000_cpu_ms_per_block", "catchup_s", "catchup_window_blocks")


def report(by_height: dict[int, dict[str, float]], builder: ChainBuilder,
           checkpoints: list[int], errors: dict[str, str]) -> dict[str, Any]:
    """Return the JSON report: each figure keyed by checkpoint height, plus build figures."""
    out: dict[str, Any] = {name: {str(h): f[name] for h, f in by_height.items()}
                           for name in FIGURES}
    built = builder.writer.tip.height if builder.writer else 0
    return out | {"build_s": round(builder.seconds, 1),
                  "build_blocks_per_s": per_second(built, builder.seconds),
                  "blocks": built, "chain_txs": builder.txs, "block_txs": BLOCK_TXS,
                  "checkpoints": checkpoints, "errors": errors}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=None,
                        help="chain length (default: the last checkpoint)")
    parser.add_argument("--checkpoints", default=None,
                        help="comma-separated heights to measure at (default 10000,20000)")
    parser.add_argument("--quick", action="store_true", help="checkpoints 200,400")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    return parser.parse_args(argv)


def checkpoints_of(args: argparse.Namespace) -> list[int]:
    """Return the sorted checkpoint heights, ending at ``--blocks``."""
    default = QUICK_CHECKPOINTS if args.quick else FULL_CHECKPOINTS
    heights = ([int(h) for h in args.checkpoints.split(",")] if args.checkpoints
               else list(default))
    if args.blocks is not None:
        heights = [h for h in heights if h < args.blocks] + [args.blocks]
    if any(h < 4 for h in heights):
        raise SystemExit("checkpoints must be at least 4 blocks")
    return sorted(set(heights))


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = parse_args(argv)
    result = run(checkpoints_of(args), args.quick)
    if not args.json:
        progress(json.dumps(result, indent=2))
    out(json.dumps(result, sort_keys=True))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Where the time goes: cProfile of the paths scripts/bench.py measures.

Usage::

    .venv/bin/python scripts/bench_profile.py [--quick] [--top N] [SCENARIO ...]

Scenarios (all by default): ``ledger`` (apply_block with signatures on a mix block),
``node`` (one validator's work per transaction: admission, build, check, commit, pool
re-check), ``catchup`` (NodeService.apply_fetched of a committed chain), ``proof``
(build_provenance on that chain), ``nodes`` (4 validator processes, each under cProfile,
at saturation; their profiles merged). Prints the top functions by own time per scenario.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_catchup import build_chain
from bench_common import FULL, QUICK, Sizes
from bench_network import CommitScanner, saturate, setup_chain
from bench_txgen import PROOF_DEVICE, ChainWriter, LoadGen, make_commit, validator_keys

from greenchain.cli.localnet import LocalNetwork
from greenchain.consensus.quorum import proposer_for
from greenchain.ledger.blocks import apply_block
from greenchain.model.blocks import decode_block
from greenchain.node.devnet import dev_genesis
from greenchain.node.service import NodeService
from greenchain.proof.build import build_provenance
from greenchain.store.chain import ChainStore
from greenchain.store.kv import MemoryKV
from greenchain.store.leveldb import LevelKV

SCENARIOS = ("ledger", "node", "catchup", "proof", "nodes")


SAVE_DIR: Path | None = None
"""With --save DIR, each scenario's stats are also written to DIR/<scenario>.prof."""


def report(title: str, stats: pstats.Stats, wall_s: float, top: int) -> None:
    """Print the top functions of `stats` by own time (and save them with --save)."""
    if SAVE_DIR is not None:
        stats.dump_stats(str(SAVE_DIR / f"{title.split(':')[0]}.prof"))
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    print(f"\n=== {title}: wall {wall_s:.2f} s")
    print("\n".join(lines[start:]))


def profiled(fn: Callable[[], object]) -> tuple[pstats.Stats, float]:
    """Run `fn` under cProfile; return its stats and wall time."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(fn)
    return pstats.Stats(profiler), time.perf_counter() - started


def prepared_writer(gen: LoadGen, store: ChainStore, sizes: Sizes) -> ChainWriter:
    """Return a writer whose chain holds the setup and one attest block (bundles to move)."""
    writer = ChainWriter(store, dev_genesis(4))
    writer.seal(gen.setup_txs())
    gen.settle()
    writer.seal(gen.attests(sizes.block_txs))
    gen.settle()
    return writer


def profile_ledger(sizes: Sizes, top: int, root: Path) -> None:
    """apply_block with signature checks on one mix block."""
    gen = LoadGen(sizes.devices)
    store = ChainStore(LevelKV(root / "ledger"))
    writer = prepared_writer(gen, store, sizes)
    built = writer.build(gen.mix(sizes.block_txs))
    stats, wall = profiled(lambda: apply_block(store, built.block, writer.tip, writer.env))
    report(f"ledger: apply_block with signatures, {sizes.block_txs}-tx mix block", stats,
           wall, top)
    store.close()


def profile_node(sizes: Sizes, top: int, root: Path) -> None:
    """One validator's per-transaction work: admit all, build, check (peer), commit both."""
    genesis = dev_genesis(4)
    gen = LoadGen(sizes.devices)
    source = ChainStore(MemoryKV())
    writer = prepared_writer(gen, source, sizes)
    raws = [tx.raw for tx in gen.attests(sizes.block_txs)]
    nodes = [NodeService(genesis, ChainStore(LevelKV(root / f"node{i}"))) for i in range(2)]
    for height in range(1, writer.tip.height + 1):
        block, commit = source.get_block(height), source.get_commit(height)
        assert block is not None and commit is not None
        for node in nodes:
            node.apply_fetched(block, commit)
    proposer, checker = nodes
    keys = validator_keys()

    def one_height() -> None:
        for node in nodes:
            for raw in raws:
                node.submit(raw)
        height = proposer.tip.height + 1
        built = proposer.build_block(0, proposer_for(genesis.validator_keys, height, 0))
        checker.check_block(built.block)
        commit = make_commit(built.block, keys, genesis.chain_id)
        for node in nodes:
            node.commit(built.block, commit)

    stats, wall = profiled(one_height)
    report(f"node: 2 validators admit {len(raws)} txs, one builds, one checks, both commit",
           stats, wall, top)
    for node in nodes:
        node.store.close()


def profile_catchup_and_proof(sizes: Sizes, top: int, root: Path,
                              scenarios: list[str]) -> None:
    """apply_fetched over a committed chain, then build_provenance on it."""
    genesis = dev_genesis(4)
    source = ChainStore(LevelKV(root / "source"))
    counts = build_chain(source, genesis, sizes)
    if "catchup" in scenarios:
        fresh = NodeService(genesis, ChainStore(LevelKV(root / "fresh")))

        def sync() -> None:
            for height in sorted(counts):
                raw, commit = source.get_block_bytes(height), source.get_commit(height)
                assert raw is not None and commit is not None
                fresh.apply_fetched(decode_block(raw), commit)

        stats, wall = profiled(sync)
        report(f"catchup: apply_fetched of {sum(counts.values())} txs in {len(counts)} blocks",
               stats, wall, top)
        fresh.store.close()
    if "proof" in scenarios:
        stats, wall = profiled(lambda: build_provenance(source, PROOF_DEVICE, 0))
        report("proof: build_provenance (5 transfers)", stats, wall, top)
    source.close()


class ProfiledNetwork(LocalNetwork):
    """A LocalNetwork whose node processes run under cProfile (profile written on exit)."""

    def start(self, index: int, extra_args: tuple[str, ...] = ()) -> None:
        """Start node `index` under ``python -m cProfile``."""
        home = self.homes[index]
        with open(home.home / "node.log", "ab") as log:
            cmd = [sys.executable, "-m", "cProfile", "-o", str(home.home / "node.prof"),
                   "-m", "greenchain.cli.main", "node", "run", "--home", str(home.home),
                   "--log-level", "WARNING", *extra_args]
            self.procs[index] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL)


def profile_nodes(sizes: Sizes, top: int, root: Path) -> None:
    """Four profiled validators at saturation; merged profile of all four."""
    gen = LoadGen(sizes.devices)
    (root / "net").mkdir()
    net = ProfiledNetwork(root / "net", dev_genesis(4))
    scanner: CommitScanner | None = None
    try:
        net.start_all()
        scanner = CommitScanner(net.urls[0])
        scanner.start()
        setup_chain(net.urls, scanner, gen)
        started = time.perf_counter()
        result = saturate(net.urls, scanner, gen, sizes)
        wall = time.perf_counter() - started
    finally:
        if scanner is not None:
            scanner.stop.set()
        net.stop_all()
    stats = pstats.Stats(*[str(home.home / "node.prof") for home in net.homes])
    report(f"nodes: 4 validators, {result['network_saturation_txs']} txs at "
           f"{result['network_committed_tx_per_s']} tx/s (merged; includes start-up)",
           stats, wall, top)


def main() -> int:
    """Run the selected scenarios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--save", type=Path, default=None,
                        help="also write each scenario's stats to SAVE/<scenario>.prof")
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    args = parser.parse_args()
    global SAVE_DIR
    SAVE_DIR = args.save
    if SAVE_DIR is not None:
        SAVE_DIR.mkdir(parents=True, exist_ok=True)
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="gc-bench-profile-") as tmp:
        root = Path(tmp)
        if "ledger" in args.scenarios:
            profile_ledger(sizes, args.top, root)
        if "node" in args.scenarios:
            profile_node(sizes, args.top, root)
        if {"catchup", "proof"} & set(args.scenarios):
            profile_catchup_and_proof(sizes, args.top, root, args.scenarios)
        if "nodes" in args.scenarios:
            profile_nodes(sizes, args.top, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())

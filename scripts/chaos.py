#!/usr/bin/env python3
"""Fault-injection harness: 4 validators, faults drawn from a seed, checks at the end.

    python scripts/chaos.py --seed 1 --duration 120 --json

Four ``greenchain node run`` processes on 127.0.0.1 reach each other only through a
proxy layer in this process (`chaos_proxy`), so the harness can drop, delay, duplicate
and partition traffic per ordered pair and record every signed vote and proposal. On a
schedule drawn from ``random.Random(seed)`` (`chaos_faults`) it kills -9 and restarts
validators, pauses them (SIGSTOP/SIGCONT), partitions 1|3 and 2|2, restarts one with
its chain data wiped (sign-state kept) and runs one as an equivocator (the node's TEST
ONLY ``--test-equivocate``), while a client (`chaos_client`) submits attestations,
transfers and retirements at a steady rate. At the end it heals everything and checks
(`chaos_monitor`): one block per height on all nodes, every acknowledged transaction
in the final chain, convergence, the serial-range invariant, no double signing by an
honest validator. With ``--json`` it prints one JSON line; the exit status is 1 if a
check failed. Node homes (with ``node.log``) are kept with ``--keep`` or on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from chaos_client import DEVICES, TxClient
from chaos_faults import FaultRunner, make_schedule
from chaos_monitor import ChainMonitor, check_invariant
from chaos_net import Cluster
from chaos_proxy import ProxyLayer, Sniffer

READY_S = 30.0
SETUP_S = 30.0
RECOVERY_S = 30.0
TAIL_S = 3.0
CONVERGE_S = 40.0
STALL_ALARM_S = 10.0


def log(text: str) -> None:
    print(f"[chaos] {text}", file=sys.stderr, flush=True)


async def wait_until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.1)


class ChaosRun:
    """One run: wiring, the fault phase, the heal and the checks."""

    def __init__(self, args: argparse.Namespace, cluster: Cluster) -> None:
        self.args = args
        self.cluster = cluster
        self.equivocator, schedule = make_schedule(args.seed, args.duration, cluster.n)
        schedule = [] if args.no_faults else schedule
        self.sniffer = Sniffer(cluster.genesis.chain_id)
        self.proxies = ProxyLayer(cluster.proxy_ports, cluster.urls, self.sniffer,
                                  random.Random(args.seed + 1))
        self.faults = FaultRunner(cluster, self.proxies, schedule, verbose=not args.quiet)
        self.monitor = ChainMonitor(cluster.urls, self.faults.connected_up)
        attests = int(args.rate * (args.duration + RECOVERY_S + 30)) + 100
        self.fates: Counter[str] = Counter()
        self.load: asyncio.Task[None] | None = None
        self.client = TxClient(cluster.urls, cluster.is_up, args.seed, args.rate, attests)

    async def run(self) -> dict[str, Any]:
        await self.proxies.start()
        await self.client.open()
        try:
            return await self._phases()
        finally:
            # Interrupted or failed: stop the load and the schedule before their sessions.
            background = [t for t in (self.load, *self.faults.tasks) if t is not None]
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.monitor.stop()
            await self.client.close()
            for i in range(self.cluster.n):
                await self.cluster.terminate(i)
            await self.proxies.stop()

    async def _phases(self) -> dict[str, Any]:
        for i in range(self.cluster.n):
            self.cluster.start(i)
        await self.monitor.start()
        await wait_until(lambda: all(self.monitor.answering), READY_S, "nodes to answer")
        await self._setup()
        recovery = await self._fault_phase()
        converged = await self.monitor.wait_converged(CONVERGE_S)
        await self.monitor.full_scan()
        evidence = await self._evidence()
        self.fates = await self._fates_of_uncommitted()
        await self.monitor.stop()
        for i in range(self.cluster.n):
            await self.cluster.terminate(i)
        return self._report(recovery, converged, evidence)

    async def _fault_phase(self) -> float | None:
        """Load and faults for the duration, heal, then load until recovery; return it."""
        log(f"fault phase: {self.args.duration} s, equivocator node{self.equivocator}")
        self.monitor.measuring = True
        stop = asyncio.Event()
        self.load = asyncio.get_running_loop().create_task(self.client.run(stop))
        await self.faults.run(self.args.duration)
        height_at_heal = self.monitor.max_height
        await self.faults.heal_all()
        recovery = await self.monitor.wait_new_block(height_at_heal, RECOVERY_S)
        log(f"recovery: {recovery} s after heal at height {height_at_heal}")
        await asyncio.sleep(TAIL_S)
        stop.set()
        await self.load
        self.monitor.measuring = False
        return recovery

    async def _setup(self) -> None:
        txs = self.client.setup_txs()
        results = await self.client.post_batch(self.cluster.urls[0], txs)
        if not results or any(r.get("status") != "pending" for r in results):
            raise RuntimeError(f"setup transactions refused: {results}")
        ids = [tx.tx_id.hex() for tx in txs]
        await wait_until(lambda: all(i in self.monitor.acked for i in ids), SETUP_S,
                         "setup transactions to commit")

    async def _fates_of_uncommitted(self) -> Counter[str]:
        """What the nodes say of admitted txs that never committed (rule, else status)."""
        fates: Counter[str] = Counter()
        for tx_id in sorted(self.client.admitted - set(self.monitor.acked)):
            answers = [await self.monitor.get(f"{url}/v1/tx/{tx_id}")
                       for url in self.cluster.urls]
            known = [a.get("rule") or a.get("status") for a in answers if isinstance(a, dict)]
            told = [k for k in known if k != "unknown"]
            fates[str(told[0] if told else "unknown on every node")] += 1
        return fates

    async def _evidence(self) -> list[int]:
        counts = []
        for url in self.cluster.urls:
            found = await self.monitor.get(f"{url}/v1/evidence")
            counts.append(len(found["evidence"]) if isinstance(found, dict) else -1)
        return counts

    def _report(self, recovery: float | None, converged: bool,
                evidence: list[int]) -> dict[str, Any]:
        conflicts = self.sniffer.conflicts()
        liar = self.cluster.nodes[self.equivocator].pubkey
        honest = [c for c in conflicts if c[0] != liar]
        lost = self.monitor.lost_txs()
        forks = self.monitor.conflicting_heights()
        problems = {f"node{n.index}": check_invariant(n.data_dir, DEVICES)
                    for n in self.cluster.nodes}
        violations = sum(len(p) for p in problems.values())
        self._explain(honest, lost, forks, problems, evidence)
        return {
            "seed": self.args.seed,
            "faults": dict(sorted(self.faults.counts.items())),
            "txs_committed": len(self.monitor.acked),
            "txs_lost": len(lost),
            "conflicting_commits": len(forks),
            "double_signs_by_honest": len(honest),
            "converged": converged,
            "invariant_violations": violations,
            "max_stall_s": round(self.monitor.max_stall_s, 2),
            "recovery_s": None if recovery is None else round(recovery, 2),
            "height": self.monitor.max_height,
            "txs_submitted": len(self.client.submitted),
            "txs_admitted_uncommitted": len(self.client.admitted - set(self.monitor.acked)),
            "equivocations_seen": len(conflicts) - len(honest),
            "evidence_records": evidence,
            "node_crashes": self.faults.crashes,
        }

    def _dump_height(self, height: int) -> None:
        """Print what every validator signed at `height` (from the sniffed traffic)."""
        who = {n.pubkey: f"node{n.index}" for n in self.cluster.nodes}
        log(f"signed messages at height {height} (t, signer, round, kind, value):")
        for t, signer, round_, kind, value in self.sniffer.timeline(height):
            label = {"P": "proposal", "1": "prevote", "2": "precommit"}[kind]
            log(f"  t+{t - self.faults.t0:7.2f} {who.get(signer, '?')} r={round_} {label} "
                f"{value.hex()[:8] or 'nil'}")
        for i, status in enumerate(self.monitor.status):
            if status:
                log(f"  node{i} status: height {status['height']} round {status['round']} "
                    f"pool {status['pool_size']}")

    def _explain(self, honest: list[tuple[bytes, str, int, int]], lost: list[str],
                 forks: list[int], problems: dict[str, list[str]],
                 evidence: list[int]) -> None:
        who = {n.pubkey: f"node{n.index}" for n in self.cluster.nodes}
        for signer, kind, height, round_ in honest[:20]:
            log(f"HONEST DOUBLE SIGN: {who.get(signer, signer.hex()[:12])} {kind} "
                f"h={height} r={round_}")
        for tx_id in lost[:20]:
            log(f"LOST TX {tx_id} acked at {self.monitor.acked[tx_id]}")
        for height in forks[:20]:
            log(f"CONFLICTING COMMIT at h={height}: {dict(self.monitor.hashes[height])}")
        for node, found in problems.items():
            for text in found[:10]:
                log(f"INVARIANT {node}: {text}")
        self._summarise(evidence)

    def _summarise(self, evidence: list[int]) -> None:
        """Print progress, the longest stall (with a vote dump if alarming) and counters."""
        marks = {int((t - self.faults.t0) // 5) * 5: h for t, h in self.monitor.progress}
        log("height by time: " + " ".join(f"{t}s:{h}" for t, h in sorted(marks.items())))
        stall_t, stall_h = self.monitor.stall_at
        if not self.monitor.converged() or self.monitor.max_stall_s > STALL_ALARM_S:
            self._dump_height(stall_h + 1)
            self._dump_height(self.monitor.max_height + 1)
        log(f"max stall {self.monitor.max_stall_s:.2f} s ending at "
            f"t+{stall_t - self.faults.t0:.1f}s, height {stall_h}")
        kinds = Counter(self.client.submitted.values())
        done = Counter(k for t, k in self.client.submitted.items() if t in self.monitor.acked)
        log(f"client verdicts: {dict(self.client.verdicts)}; submitted {dict(kinds)}; "
            f"committed {dict(done)}; admitted but never committed: {dict(self.fates)}")
        rtts = sorted(rtt for _, rtt, _ in self.proxies.rtts) or [0.0]
        log(f"proxy: {dict(self.proxies.stats)}; peer POST round trip median "
            f"{rtts[len(rtts) // 2]:.3f} s, p99 {rtts[int(len(rtts) * 0.99)]:.3f} s; "
            f"sniffed {self.sniffer.messages} messages; "
            f"evidence per node {evidence}; node starts "
            f"{[n.starts for n in self.cluster.nodes]}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=120.0,
                        help="length of the fault phase, seconds")
    parser.add_argument("--rate", type=float, default=20.0, help="client load, tx/s")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for node homes (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the node homes")
    parser.add_argument("--log-level", default="INFO", help="log level of the nodes")
    parser.add_argument("--quiet", action="store_true", help="no fault log on stderr")
    parser.add_argument("--no-faults", action="store_true",
                        help="baseline: the same load and checks, no faults injected")
    return parser.parse_args(argv)


def passed(report: dict[str, Any]) -> bool:
    return bool(report["txs_lost"] == 0 and report["conflicting_commits"] == 0
                and report["double_signs_by_honest"] == 0 and report["converged"]
                and report["invariant_violations"] == 0 and report["node_crashes"] == 0)


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: nodes are killed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="greenchain-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(root, log_level=args.log_level)
    ok = False
    try:
        report = asyncio.run(ChaosRun(args, cluster).run())
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    else:
        ok = passed(report)
        print(json.dumps(report) if args.json else json.dumps(report, indent=2), flush=True)
    finally:
        cluster.kill_all()
        if args.keep or not ok:
            log(f"node homes and logs kept in {root}")
        elif args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

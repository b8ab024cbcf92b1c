"""Chaos harness, part 3: the fault schedule (drawn from the seed) and its execution.

Node faults and partitions ("major" faults) follow one another, never overlapping; the
first six slots hold the six major kinds in a seeded order, so a run long enough for
six slots injects every kind. Link faults (drop, delay, duplicate on chosen ordered
pairs) overlap them freely; their first three hold the three kinds. The last major
fault is left active until the final heal, so the heal always heals something.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass

import aiohttp
from chaos_net import Cluster
from chaos_proxy import ProxyLayer

MAJOR_KINDS = ("kill9", "pause", "partition_1_3", "partition_2_2", "wipe", "equivocate")
LINK_KINDS = ("drop", "delay", "duplicate")
WARMUP_S = 3.0
MAJOR_LENGTH_S = (3.0, 7.0)
MAJOR_GAP_S = (1.0, 3.0)
LINK_LENGTH_S = (4.0, 10.0)
LINK_EVERY_S = 12.0


@dataclass(frozen=True, slots=True)
class Fault:
    """One scheduled fault; times in seconds since the start of the fault phase."""

    fault_id: int
    kind: str
    start_s: float
    length_s: float
    nodes: tuple[int, ...] = ()
    pairs: tuple[tuple[int, int], ...] = ()
    level: float = 0.0
    until_heal: bool = False


def make_schedule(seed: int, duration_s: float, n: int) -> tuple[int, list[Fault]]:
    """Return (the equivocating validator, the faults), both drawn from `seed` alone."""
    rng = random.Random(seed)
    equivocator = rng.randrange(n)
    ids = itertools.count(1)
    faults = _major_faults(rng, ids, duration_s, n, equivocator)
    faults += _link_faults(rng, ids, duration_s, n)
    return equivocator, sorted(faults, key=lambda f: f.start_s)


def _major_faults(rng: random.Random, ids: itertools.count[int], duration_s: float, n: int,
                  equivocator: int) -> list[Fault]:
    order = list(MAJOR_KINDS)
    rng.shuffle(order)
    faults: list[Fault] = []
    start = WARMUP_S
    while duration_s - start >= MAJOR_LENGTH_S[0]:
        kind = order[len(faults)] if len(faults) < len(order) else rng.choice(MAJOR_KINDS)
        length = rng.uniform(*MAJOR_LENGTH_S)
        last = start + length + MAJOR_GAP_S[1] + MAJOR_LENGTH_S[0] > duration_s
        if last:
            length = duration_s - start
        faults.append(_major(rng, next(ids), kind, start, length, n, equivocator, last))
        start += length + rng.uniform(*MAJOR_GAP_S)
    return faults


def _major(rng: random.Random, fault_id: int, kind: str, start: float, length: float, n: int,
           equivocator: int, last: bool) -> Fault:
    if kind == "equivocate":
        return Fault(fault_id, kind, start, length, (equivocator,), until_heal=last)
    if kind == "partition_2_2":
        side = tuple(sorted(rng.sample(range(n), n // 2)))
        other = [j for j in range(n) if j not in side]
        pairs = [(a, b) for a in side for b in other] + [(b, a) for a in side for b in other]
        return Fault(fault_id, kind, start, length, side, tuple(pairs), until_heal=last)
    target = rng.randrange(n)
    if kind == "partition_1_3":
        pairs = [(target, j) for j in range(n) if j != target]
        pairs += [(j, target) for j in range(n) if j != target]
        return Fault(fault_id, kind, start, length, (target,), tuple(pairs), until_heal=last)
    return Fault(fault_id, kind, start, length, (target,), until_heal=last)


def _link_faults(rng: random.Random, ids: itertools.count[int], duration_s: float,
                 n: int) -> list[Fault]:
    all_pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    order = list(LINK_KINDS)
    rng.shuffle(order)
    count = max(len(order), int(duration_s / LINK_EVERY_S))
    faults = []
    for k in range(count):
        kind = order[k] if k < len(order) else rng.choice(LINK_KINDS)
        length = rng.uniform(*LINK_LENGTH_S)
        start = rng.uniform(WARMUP_S, max(WARMUP_S, duration_s - length))
        pairs = tuple(sorted(rng.sample(all_pairs, rng.randint(3, 8))))
        level = {"drop": rng.uniform(0.2, 0.5), "duplicate": rng.uniform(0.3, 0.7),
                 "delay": rng.uniform(0.2, 1.0)}[kind]
        faults.append(Fault(next(ids), kind, start, length, (), pairs, level))
    return faults


class FaultRunner:
    """Applies the schedule to the cluster and the proxies, and heals everything."""

    def __init__(self, cluster: Cluster, proxies: ProxyLayer, faults: list[Fault],
                 verbose: bool = True) -> None:
        self.cluster = cluster
        self.proxies = proxies
        self.faults = faults
        self.verbose = verbose
        self.counts: Counter[str] = Counter()
        self.tasks: list[asyncio.Task[None]] = []
        self.t0 = 0.0
        self.crashes = 0

    def log(self, text: str) -> None:
        if self.verbose:
            print(f"[chaos {time.monotonic() - self.t0:7.2f}s] {text}", file=sys.stderr)

    async def run(self, duration_s: float) -> None:
        """Run the schedule; return once the fault phase (`duration_s`) is over."""
        self.t0 = time.monotonic()
        loop = asyncio.get_running_loop()
        major = [fault for fault in self.faults if fault.kind in MAJOR_KINDS]
        links = [fault for fault in self.faults if fault.kind not in MAJOR_KINDS]
        self.tasks = [loop.create_task(self._in_order(major)), loop.create_task(self._watch())]
        self.tasks += [loop.create_task(self._one(fault)) for fault in links]
        await asyncio.sleep(duration_s)

    async def _in_order(self, faults: list[Fault]) -> None:
        # Major faults never overlap: one waits for the end of the one before, even when
        # a slow restart (an equivocator must be up before its window counts) overran.
        for fault in faults:
            await self._one(fault)

    async def _watch(self) -> None:
        # A node that dies on its own is a finding, not a fault we injected.
        while True:
            for index, code in self.cluster.unexpected_exits():
                self.crashes += 1
                tail = self.cluster.nodes[index].log_path.read_text(errors="replace")[-800:]
                self.log(f"NODE{index} EXITED UNEXPECTEDLY with {code}; log tail:\n{tail}")
            await asyncio.sleep(0.5)

    async def _one(self, fault: Fault) -> None:
        await asyncio.sleep(max(0.0, self.t0 + fault.start_s - time.monotonic()))
        self.counts[fault.kind] += 1
        self.log(f"inject {fault.kind} nodes={list(fault.nodes)} pairs={len(fault.pairs)} "
                 f"level={fault.level:.2f} for {fault.length_s:.1f}s"
                 + (" (until heal)" if fault.until_heal else ""))
        await self._apply(fault)
        if fault.until_heal:
            return
        await asyncio.sleep(fault.length_s)
        self.log(f"revert {fault.kind} nodes={list(fault.nodes)}")
        await self._revert(fault)

    async def _apply(self, fault: Fault) -> None:
        node = fault.nodes[0] if fault.nodes else -1
        if fault.kind in ("kill9", "wipe"):
            self.cluster.kill(node)
            if fault.kind == "wipe":
                self.cluster.wipe(node)
        elif fault.kind == "pause":
            self.cluster.pause(node)
        elif fault.kind == "equivocate":
            await self.cluster.terminate(node)
            self.cluster.start(node, equivocate=True)
            # The window counts from when it can vote: a start takes seconds under load.
            await self.wait_answering(node)
        else:
            kind = "block" if fault.kind.startswith("partition") else fault.kind
            for pair in fault.pairs:
                self.proxies.set_fault(pair, fault.fault_id, kind, fault.level or 1.0)

    async def _revert(self, fault: Fault) -> None:
        node = fault.nodes[0] if fault.nodes else -1
        if fault.kind in ("kill9", "wipe"):
            self.cluster.start(node)
        elif fault.kind == "pause":
            self.cluster.resume(node)
        elif fault.kind == "equivocate":
            await self.cluster.terminate(node)
            self.cluster.start(node)
        else:
            for pair in fault.pairs:
                self.proxies.clear_fault(pair, fault.fault_id)

    async def wait_answering(self, i: int, timeout_s: float = 30.0) -> None:
        """Wait until node `i` answers ``/v1/status`` (or `timeout_s` passes)."""
        url = f"{self.cluster.nodes[i].url}/v1/status"
        deadline = time.monotonic() + timeout_s
        timeout = aiohttp.ClientTimeout(total=1.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while time.monotonic() < deadline and self.cluster.nodes[i].running():
                try:
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                except (TimeoutError, aiohttp.ClientError, OSError):
                    pass
                await asyncio.sleep(0.1)

    async def heal_all(self) -> None:
        """Cancel what is left of the schedule; reconnect, resume and restart every node."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.proxies.heal_all()
        for i, node in enumerate(self.cluster.nodes):
            self.cluster.resume(i)
            if node.equivocating:
                await self.cluster.terminate(i)
            if not node.running():
                self.cluster.start(i)
        self.log("healed everything")

    def connected_up(self, answering: list[bool]) -> int:
        """Size of the largest group of running, answering, mutually connected nodes."""
        up = [i for i in range(self.cluster.n) if answering[i] and self.cluster.is_up(i)]
        blocked = self.proxies.blocked_pairs()
        for size in range(len(up), 0, -1):
            for group in itertools.combinations(up, size):
                if all((a, b) not in blocked for a in group for b in group if a != b):
                    return size
        return 0

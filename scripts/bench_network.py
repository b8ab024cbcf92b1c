"""Network throughput and latency of a 4-validator `LocalNetwork` on 127.0.0.1.

Transactions are signed before each measured window and submitted in batches with
`NodeClient.submit_batch`, spread over the 4 nodes (one sender thread per node). Commits
are seen by a scanner thread that polls node 0's height and reads the new blocks' raw
transaction lists from ``GET /p2p/blocks`` (the node sends stored bytes as they are; the
client API's ``/v1/blocks/{h}`` would make the node decode every transaction of the block,
a cost the measurement should not add).
"""

from __future__ import annotations

import math
import queue
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_common import Sizes, per_second, percentile, progress
from bench_txgen import LoadGen

from greenchain.cli.client import NodeClient
from greenchain.cli.localnet import LocalNetwork
from greenchain.codec import decode_trusted
from greenchain.errors import GreenChainError
from greenchain.node.devnet import dev_genesis

SCAN_INTERVAL_S = 0.02
PACE_INTERVAL_S = 0.1
"""One small batch every 100 ms in the paced (half-load) window."""
STALL_S = 45.0
"""Give up waiting when no watched transaction committed for this long, seconds."""
COMMIT_TIMEOUT_S = 240.0
"""Longest wait for the saturation load to commit, seconds (the paced load: half)."""


class CommitScanner(threading.Thread):
    """Records when each watched envelope is first seen in a committed block of one node."""

    def __init__(self, url: str) -> None:
        super().__init__(name="commit-scanner", daemon=True)
        self.client = NodeClient(url, request_timeout_s=30.0)
        self.slot: dict[bytes, int] = {}
        self.seen_at: list[float | None] = []
        self.block_sizes: dict[int, int] = {}
        self.height = self.client.get_object("/p2p/status", "height")["height"]
        self.committed = 0
        self.last_commit_s = time.monotonic()
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def watch(self, raws: Sequence[bytes]) -> list[int]:
        """Start watching envelopes; return their slots in `seen_at`."""
        with self.lock:
            slots = []
            for raw in raws:
                self.slot[raw] = len(self.seen_at)
                slots.append(len(self.seen_at))
                self.seen_at.append(None)
            return slots

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._scan()
            except GreenChainError as exc:  # a busy node may time out once: retry
                progress(f"scanner: {exc}")
            self.stop.wait(SCAN_INTERVAL_S)

    def _scan(self) -> None:
        tip = self.client.get_object("/p2p/status", "height")["height"]
        while self.height < tip:
            body = self.client.get_bytes(f"/p2p/blocks?from={self.height + 1}&limit=50")
            items = decode_trusted(body)
            if not items:
                return
            now = time.monotonic()
            for block_raw, _commit in items:
                header, raws, _last_commit = decode_trusted(block_raw)
                self._mark(raws, now)
                self.height = header[1]
                self.block_sizes[self.height] = len(raws)

    def _mark(self, raws: list[bytes], now: float) -> None:
        with self.lock:
            for raw in raws:
                slot = self.slot.get(raw)
                if slot is not None and self.seen_at[slot] is None:
                    self.seen_at[slot] = now
                    self.committed += 1
                    self.last_commit_s = now

    def wait_for(self, slots: Sequence[int], timeout_s: float) -> tuple[bool, float]:
        """Wait until every slot is seen committed.

        Gives up after `timeout_s`, or once no watched transaction has committed for
        `STALL_S` (a stalled network must not hold the run).

        Returns
        -------
        tuple
            (all committed, monotonic time the wait ended).
        """
        started = time.monotonic()
        while any(self.seen_at[s] is None for s in slots):
            now = time.monotonic()
            if now > started + timeout_s or now > max(started, self.last_commit_s) + STALL_S:
                return False, now
            time.sleep(0.05)
        return True, time.monotonic()


def _submit(url: str, raws: list[bytes], verdicts: Counter[str]) -> None:
    for answer in NodeClient(url, request_timeout_s=120.0).submit_batch(raws):
        verdicts[answer.get("rule") or answer["status"]] += 1


def submit_spread(urls: list[str], batches: list[list[bytes]]) -> Counter[str]:
    """Submit batches round-robin over the nodes, one thread per node; return verdicts."""
    verdicts: Counter[str] = Counter()

    def sender(index: int) -> None:
        for batch in batches[index::len(urls)]:
            _submit(urls[index], batch, verdicts)

    threads = [threading.Thread(target=sender, args=(i,), daemon=True)
               for i in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return verdicts


def saturate(urls: list[str], scanner: CommitScanner, gen: LoadGen,
             sizes: Sizes) -> dict[str, Any]:
    """Submit `network_saturation_txs` attestations at once; return the committed rate."""
    progress(f"network: signing {sizes.network_saturation_txs} attestations")
    raws = [tx.raw for tx in gen.attests(sizes.network_saturation_txs)]
    slots = scanner.watch(raws)
    first_height = scanner.height
    batches = [raws[i:i + sizes.network_batch] for i in range(0, len(raws),
                                                                sizes.network_batch)]
    progress(f"network: saturation, {len(batches)} batches of {sizes.network_batch}")
    start = time.monotonic()
    verdicts = submit_spread(urls, batches)
    submitted_s = time.monotonic() - start
    complete, gave_up_s = scanner.wait_for(slots, COMMIT_TIMEOUT_S)
    times = [t for s in slots if (t := scanner.seen_at[s]) is not None]
    # Incomplete: the rate is what committed until the wait gave up.
    elapsed = (max(times) if complete else gave_up_s) - start
    blocks = [n for h, n in scanner.block_sizes.items() if h > first_height]
    return {"network_committed_tx_per_s": per_second(len(times), elapsed),
            "network_saturation_txs": len(raws), "network_saturation_committed": len(times),
            "network_saturation_complete": complete,
            "network_saturation_seconds": round(elapsed, 2),
            "network_submit_seconds": round(submitted_s, 2),
            "network_saturation_verdicts": dict(verdicts),
            "network_saturation_blocks": len(blocks),
            "network_mean_block_txs": round(sum(blocks) / len(blocks), 1) if blocks else 0.0}


def paced(urls: list[str], scanner: CommitScanner, gen: LoadGen, rate: float,
          window_s: float) -> dict[str, Any]:
    """Submit at a steady `rate` tx/s in small batches for `window_s`; return latencies."""
    batch_size = max(1, round(rate * PACE_INTERVAL_S))
    count = max(1, int(window_s / PACE_INTERVAL_S))
    progress(f"network: signing {count * batch_size} attestations for the paced window")
    batches = [[tx.raw for tx in gen.attests(batch_size)] for _ in range(count)]
    slots = [scanner.watch(batch) for batch in batches]
    sent_at: list[float] = [0.0] * count
    queues: list[queue.Queue[int | None]] = [queue.Queue() for _ in urls]
    verdicts: Counter[str] = Counter()

    def sender(index: int) -> None:
        while (k := queues[index].get()) is not None:
            sent_at[k] = time.monotonic()
            _submit(urls[index], batches[k], verdicts)

    threads = [threading.Thread(target=sender, args=(i,), daemon=True)
               for i in range(len(urls))]
    for thread in threads:
        thread.start()
    progress(f"network: paced window, {batch_size} tx every {PACE_INTERVAL_S} s "
             f"({rate:.0f} tx/s) for {window_s:.0f} s")
    start = time.monotonic()
    for k in range(count):
        time.sleep(max(0.0, start + k * PACE_INTERVAL_S - time.monotonic()))
        queues[k % len(urls)].put(k)
    for q in queues:
        q.put(None)
    for thread in threads:
        thread.join()
    complete, _ = scanner.wait_for([s for group in slots for s in group], COMMIT_TIMEOUT_S / 2)
    # A transaction that never committed has an unbounded latency.
    latencies = [math.inf if (seen := scanner.seen_at[s]) is None else seen - sent_at[k]
                 for k, group in enumerate(slots) for s in group]
    finite = [x for x in latencies if x != math.inf]
    return {"network_latency_offered_tx_per_s": round(batch_size / PACE_INTERVAL_S, 1),
            "network_latency_txs": count * batch_size,
            "network_latency_committed": len(finite),
            "network_latency_complete": complete,
            "network_latency_verdicts": dict(verdicts),
            "network_p50_latency_s": seconds_or_none(percentile(latencies, 0.50)),
            "network_p99_latency_s": seconds_or_none(percentile(latencies, 0.99)),
            "network_max_latency_s": seconds_or_none(max(latencies, default=math.inf))}


def seconds_or_none(value: float) -> float | None:
    """Round seconds to ms; None for an unbounded (never committed) value."""
    return None if math.isinf(value) else round(value, 3)


def setup_chain(urls: list[str], scanner: CommitScanner, gen: LoadGen) -> None:
    """Register the accounts and devices and wait until they are committed.

    Raises
    ------
    RuntimeError
        If the registrations do not commit.
    """
    raws = [tx.raw for tx in gen.setup_txs()]
    slots = scanner.watch(raws)
    verdicts: Counter[str] = Counter()
    _submit(urls[0], raws, verdicts)
    if not scanner.wait_for(slots, 60.0)[0]:
        raise RuntimeError(f"setup transactions did not commit: {dict(verdicts)}")
    gen.settle()


def run_network(sizes: Sizes) -> dict[str, Any]:
    """Start 4 validators, measure saturation throughput, then latency at half of it."""
    gen = LoadGen(sizes.devices)
    with tempfile.TemporaryDirectory(prefix="gc-bench-net-") as tmp:
        net = LocalNetwork(Path(tmp), dev_genesis(4))
        scanner: CommitScanner | None = None
        try:
            progress("network: starting 4 validators")
            net.start_all()
            scanner = CommitScanner(net.urls[0])
            scanner.start()
            setup_chain(net.urls, scanner, gen)
            out = saturate(net.urls, scanner, gen, sizes)
            rate = out["network_committed_tx_per_s"] / 2
            out |= paced(net.urls, scanner, gen, max(rate, 10.0), sizes.latency_window_s)
            return out
        finally:
            if scanner is not None:
                scanner.stop.set()
                scanner.join(timeout=10)
            net.stop_all()

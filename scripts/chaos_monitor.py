"""Chaos harness, part 5: watching the chain through the client API, and the final checks.

While the run lasts, one poller per node reads ``GET /v1/status`` and every new block
(``GET /v1/blocks/{h}``): each block hash any node ever served is kept per height (so a
conflicting commit is seen even if the node is wiped later), and every transaction id
in a served block counts as acknowledged committed at that (height, position).
A sampler measures the longest time without a new block while at least 3 of the 4
validators were up and connected. At the end: a full scan of every height on every
node, and the serial-range invariant read from each stopped node's LevelDB.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from greenchain.errors import InvariantViolation
from greenchain.ledger.invariants import group_leaf_ranges, validate_device_partition
from greenchain.ledger.view import get_device
from greenchain.store.chain import ChainStore
from greenchain.store.leveldb import LevelKV

POLL_S = 0.2
SAMPLE_S = 0.1
PAGE = 50
QUORUM_UP = 3


class ChainMonitor:
    """Observes every node's chain; records hashes per height and acknowledged txs."""

    def __init__(self, urls: list[str], connected_up: Callable[[list[bool]], int]) -> None:
        self.urls = urls
        self.connected_up = connected_up
        self.answering = [False] * len(urls)
        self.status: list[dict[str, Any] | None] = [None] * len(urls)
        self.cursor = [0] * len(urls)
        self.hashes: dict[int, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.acked: dict[str, tuple[int, int]] = {}
        self.chains: list[dict[int, tuple[str, list[str]]]] = [{} for _ in urls]
        self.max_height = 0
        self.progress: list[tuple[float, int]] = []
        self.last_block_t = time.monotonic()
        self.max_stall_s = 0.0
        self.stall_at: tuple[float, int] = (0.0, 0)
        self.measuring = False
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.5))
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._poll(i)) for i in range(len(self.urls))]
        self.tasks.append(loop.create_task(self._sample()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    async def get(self, url: str) -> Any:
        assert self.session is not None
        try:
            async with self.session.get(url) as response:
                if response.status != 200:
                    return None
                return await response.json()
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            return None

    # --- observing ----------------------------------------------------------------
    async def _poll(self, i: int) -> None:
        while True:
            await self.poll_once(i)
            await asyncio.sleep(POLL_S)

    async def poll_once(self, i: int) -> None:
        status = await self.get(f"{self.urls[i]}/v1/status")
        self.answering[i] = isinstance(status, dict)
        if not isinstance(status, dict):
            return
        self.status[i] = status
        height = int(status["height"])
        if height > self.max_height:
            self.max_height, self.last_block_t = height, time.monotonic()
            self.progress.append((self.last_block_t, height))
        # A wiped node starts again from genesis: read its blocks again as it re-syncs.
        self.cursor[i] = min(self.cursor[i], height)
        await self.read_blocks(i, min(height, self.cursor[i] + PAGE))

    async def read_blocks(self, i: int, upto: int) -> None:
        """Read node `i`'s blocks from its cursor to `upto`, recording hashes and txs."""
        while self.cursor[i] < upto:
            height = self.cursor[i] + 1
            block = await self.get(f"{self.urls[i]}/v1/blocks/{height}")
            if not isinstance(block, dict):
                return
            self.record(i, height, block)
            self.cursor[i] = height

    def record(self, i: int, height: int, block: dict[str, Any]) -> None:
        self.hashes[height][block["block_hash"]].add(i)
        self.chains[i][height] = (block["block_hash"], list(block["txs"]))
        for position, tx_id in enumerate(block["txs"]):
            # The first sighting counts; a tx seen elsewhere later is caught as lost.
            self.acked.setdefault(tx_id, (height, position))

    async def _sample(self) -> None:
        good_since: float | None = None
        while True:
            await asyncio.sleep(SAMPLE_S)
            now = time.monotonic()
            good = self.measuring and self.connected_up(self.answering) >= QUORUM_UP
            if not good:
                good_since = None
                continue
            good_since = now if good_since is None else good_since
            stall = now - max(good_since, self.last_block_t)
            if stall > self.max_stall_s:
                self.max_stall_s, self.stall_at = stall, (now, self.max_height)

    # --- end of run -------------------------------------------------------------------
    async def wait_new_block(self, above: int, timeout_s: float) -> float | None:
        """Seconds until some node reports a height above `above`, or None."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if self.max_height > above:
                return self.last_block_t - start
            await asyncio.sleep(0.05)
        return None

    async def wait_converged(self, timeout_s: float) -> bool:
        """Wait until all nodes report one height, block and app hash, pools empty."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.converged():
                return True
            await asyncio.sleep(0.25)
        return self.converged()

    def converged(self) -> bool:
        statuses = self.status
        if not all(self.answering) or any(s is None for s in statuses):
            return False
        tips = {(s["height"], s["block_hash"], s["app_hash"]) for s in statuses if s}
        return len(tips) == 1 and all(s["pool_size"] == 0 for s in statuses if s)

    async def full_scan(self) -> None:
        """Read every height of every node again (the monitor's view may have gaps)."""
        for i in range(len(self.urls)):
            self.cursor[i] = 0
        await asyncio.gather(*(self._scan_node(i) for i in range(len(self.urls))))

    async def _scan_node(self, i: int) -> None:
        status = await self.get(f"{self.urls[i]}/v1/status")
        if isinstance(status, dict):
            height = int(status["height"])
            self.chains[i] = {h: v for h, v in self.chains[i].items() if h <= height}
            await self.read_blocks(i, height)

    def conflicting_heights(self) -> list[int]:
        return sorted(h for h, by_hash in self.hashes.items() if len(by_hash) > 1)

    def lost_txs(self) -> list[str]:
        """Acknowledged txs not at their (height, position) in every node's final chain.

        A node whose final chain is shorter than the height is skipped (non-convergence
        is reported on its own); a height no node holds any more loses its txs.
        """
        lost = []
        for tx_id, (height, position) in self.acked.items():
            held = [chain[height][1] for chain in self.chains if height in chain]
            if not held or any(position >= len(txs) or txs[position] != tx_id
                               for txs in held):
                lost.append(tx_id)
        return lost


def check_invariant(data_dir: Path, devices: tuple[str, ...]) -> list[str]:
    """Return the serial-range violations of one stopped node's store (DESIGN §2)."""
    if not data_dir.exists():
        return [f"no chain data at {data_dir} (the node never came back)"]
    store = ChainStore(LevelKV(data_dir, create=False))
    try:
        ranges = group_leaf_ranges(store.iterate_bundles())
        problems = [f"bundles of unknown device {d}" for d in set(ranges) - set(devices)]
        for device_id in devices:
            device = get_device(store, device_id)
            issued = device.issued_wh if device is not None else 0
            try:
                validate_device_partition(device_id, ranges.get(device_id, []), issued)
            except InvariantViolation as exc:
                problems.append(exc.message)
        return problems
    finally:
        store.close()

"""Talking to peers: one ordered outbound queue per peer, plus block and status fetches.

Sends are best effort with short timeouts: consensus tolerates loss (timeouts, round
skips, catch-up), so a slow or dead peer never blocks the node. Each peer has a bounded
queue; when it is full the oldest message is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp

from greenchain.errors import PeerError
from greenchain.p2p.messages import TxBatch
from greenchain.params import MAX_BODY_BYTES

QUEUE_LIMIT = 10_000
SEND_TIMEOUT_S = 2.0
FETCH_TIMEOUT_S = 10.0
TX_BATCH_BYTES = 1024 * 1024


class PeerLink:
    """An ordered, bounded outbound queue to one peer, drained by one task."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.session = session
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)
        self.task: asyncio.Task[None] | None = None
        self.failures = 0

    def start(self) -> None:
        """Start the sender task."""
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the sender task."""
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def send(self, data: bytes) -> None:
        """Queue encoded message bytes; drop the oldest when the queue is full."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(data)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT_S)
        while True:
            data = await self.queue.get()
            try:
                async with self.session.post(f"{self.url}/p2p/msg", data=data,
                                             timeout=timeout) as response:
                    await response.read()
                self.failures = 0
            except (TimeoutError, aiohttp.ClientError, OSError):
                # A dead peer: drop what is queued rather than replay stale consensus
                # messages later; catch-up and round changes recover.
                self.failures += 1
                while not self.queue.empty():
                    self.queue.get_nowait()
                await asyncio.sleep(min(0.05 * self.failures, 1.0))


def split_tx_batches(raws: list[bytes], max_bytes: int = TX_BATCH_BYTES) -> list[TxBatch]:
    """Split envelopes into gossip batches of at most `max_bytes` each."""
    batches: list[TxBatch] = []
    current: list[bytes] = []
    size = 0
    for raw in raws:
        if current and size + len(raw) > max_bytes:
            batches.append(TxBatch(tuple(current)))
            current, size = [], 0
        current.append(raw)
        size += len(raw)
    if current:
        batches.append(TxBatch(tuple(current)))
    return batches


async def fetch_blocks(session: aiohttp.ClientSession, url: str, from_height: int,
                       limit: int) -> bytes:
    """GET ``/p2p/blocks`` from a peer and return the raw response body.

    Raises
    ------
    PeerError
        On a network error, a non-200 answer or an oversized body.
    """
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
    target = f"{url.rstrip('/')}/p2p/blocks?from={from_height}&limit={limit}"
    try:
        async with session.get(target, timeout=timeout) as response:
            if response.status != 200:
                raise PeerError(f"peer answered {response.status}", url=url)
            body = await response.content.read(MAX_BODY_BYTES + 1)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise PeerError(f"cannot fetch blocks from {url}: {exc!r}", url=url) from exc
    if len(body) > MAX_BODY_BYTES:
        raise PeerError("blocks response exceeds the body limit", url=url)
    return body


async def fetch_status(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """GET ``/p2p/status`` from a peer.

    Raises
    ------
    PeerError
        On a network error or a malformed answer.
    """
    timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT_S)
    try:
        async with session.get(f"{url.rstrip('/')}/p2p/status", timeout=timeout) as response:
            if response.status != 200:
                raise PeerError(f"peer answered {response.status}", url=url)
            value = await response.json()
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        raise PeerError(f"cannot reach {url}: {exc!r}", url=url) from exc
    if not isinstance(value, dict) or not isinstance(value.get("height"), int):
        raise PeerError("malformed status from peer", url=url)
    return value

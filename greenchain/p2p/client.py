"""Talking to peers: one ordered outbound queue per peer, plus block and status fetches.

Sends are best effort with short timeouts: consensus tolerates loss (timeouts, round
skips, re-gossip, catch-up), so a slow or dead peer never blocks the node. Each peer has
bounded queues; when one is full its oldest message is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
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
    """Ordered, bounded outbound queues to one peer, drained by one task.

    Consensus messages (proposals, votes) go out before transaction batches, so a
    backlog of gossip never delays a vote. A failed send is dropped, not retried: the
    node re-gossips its own votes, and catch-up covers missed blocks. Re-gossip is held
    apart (`resend`): only its latest snapshot is kept, sent after fresh messages, so
    periodic re-sends never pile up behind a slow peer and delay a new vote.
    """

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.session = session
        self.urgent: deque[bytes] = deque(maxlen=QUEUE_LIMIT)
        self.bulk: deque[bytes] = deque(maxlen=QUEUE_LIMIT)
        self.again: deque[bytes] = deque()
        self.ready = asyncio.Event()
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

    def send(self, data: bytes, urgent: bool = True) -> None:
        """Queue encoded message bytes; the oldest are dropped when a queue is full."""
        (self.urgent if urgent else self.bulk).append(data)
        self.ready.set()

    def resend(self, datas: list[bytes]) -> None:
        """Replace the re-sends not yet sent with `datas` (after fresh urgent, before bulk)."""
        self.again = deque(datas)
        if datas:
            self.ready.set()

    def _next(self) -> bytes:
        for queue in (self.urgent, self.again, self.bulk):
            if queue:
                return queue.popleft()
        raise IndexError("nothing to send")

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT_S)
        while True:
            if not self.urgent and not self.again and not self.bulk:
                self.ready.clear()
                await self.ready.wait()
            data = self._next()
            try:
                async with self.session.post(f"{self.url}/p2p/msg", data=data,
                                             timeout=timeout) as response:
                    await response.read()
                self.failures = 0
            except (TimeoutError, aiohttp.ClientError, OSError):
                self.failures += 1
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


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read a response body to its end, stopping once it exceeds `limit` bytes.

    ``StreamReader.read(n)`` returns as soon as *some* bytes are buffered, so one call
    can return part of a body that arrives in several TCP segments.
    """
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            break
    return bytes(body)


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
            body = await read_limited(response, MAX_BODY_BYTES)
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

"""Catch-up: fetch finalized blocks with their commits from peers (DESIGN §7).

A node that is behind (or starts empty) asks peers for their height, fetches the
missing blocks in pages, checks each commit against the validator set of its height,
applies and commits the block, then rejoins consensus. A peer that serves a bad block
or commit is benched for a while and another peer is tried. Transaction signatures
inside committed blocks are not re-checked: the quorum that signed the commit checked
them (the BFT assumption).

Pages are sized by bytes (about `PAGE_TARGET_BYTES`, from the size of the last page) and
fetched one ahead, so the peer builds and sends the next page while this node applies the
current one; the event loop runs between blocks, so the API and consensus messages are
served during a long catch-up. Memory stays bounded by two pages plus one decoded block.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp

from greenchain.errors import GreenChainError, PeerError, PeerMisbehaved
from greenchain.model.blocks import Commit, decode_block
from greenchain.node.service import NodeService
from greenchain.p2p.client import fetch_blocks, fetch_status
from greenchain.p2p.messages import decode_blocks

log = logging.getLogger("greenchain.catchup")

FIRST_PAGE_BLOCKS = 2
"""Blocks asked for in the first page from a peer (their size is not known yet)."""
MAX_PAGE_BLOCKS = 200
"""Most blocks asked for in one page (small blocks)."""
PAGE_TARGET_BYTES = 2 * 1024 * 1024
"""Size a page aims at: a few large blocks or many small ones. Two pages are held at a
time (the one applied and the one prefetched), so this bounds catch-up's memory, far
below the 8 MiB a response may reach (DESIGN §7)."""
BENCH_S = 30.0
SLOW_BENCH_S = 5.0


@dataclass
class PeerBench:
    """Peers that misbehaved, with the time until which they are skipped."""

    until: dict[str, float] = field(default_factory=dict)
    """Peer URL -> monotonic seconds."""

    def is_benched(self, url: str) -> bool:
        """Return True while `url` is benched."""
        return self.until.get(url, 0.0) > time.monotonic()

    def bench(self, url: str, seconds: float = 30.0) -> None:
        """Skip `url` for `seconds`."""
        self.until[url] = time.monotonic() + seconds


async def best_peer(session: aiohttp.ClientSession, peers: tuple[str, ...],
                    bench: PeerBench, height: int) -> tuple[str, int] | None:
    """Return (url, height) of a reachable, unbenched peer ahead of `height`, or None."""
    best: tuple[str, int] | None = None
    for url in peers:
        if bench.is_benched(url):
            continue
        try:
            status = await fetch_status(session, url)
        except PeerError:
            continue
        if status["height"] > height and (best is None or status["height"] > best[1]):
            best = (url, status["height"])
    return best


def compute_page_blocks(body_bytes: int, blocks: int) -> int:
    """Return how many blocks to ask for next, from the size of the last page.

    Parameters
    ----------
    body_bytes:
        Size of the last page's body, bytes.
    blocks:
        Blocks it held (at least 1).

    Returns
    -------
    int
        Blocks whose total size is about `PAGE_TARGET_BYTES`, between 1 and
        `MAX_PAGE_BLOCKS`.
    """
    per_block = max(1, body_bytes // max(1, blocks))
    return max(1, min(MAX_PAGE_BLOCKS, PAGE_TARGET_BYTES // per_block))


def decode_page(body: bytes, url: str, after: int) -> list[tuple[bytes, Commit]]:
    """Decode a blocks response; the blocks stay encoded until they are applied.

    Raises
    ------
    PeerMisbehaved
        If the response is malformed or empty (the peer claimed a higher height).
    """
    try:
        items = decode_blocks(body)
    except GreenChainError as exc:
        raise PeerMisbehaved(f"peer sent malformed blocks: {exc.message}", url=url) from exc
    if not items:
        # It claimed a higher height and then served nothing: a lying peer.
        raise PeerMisbehaved(f"peer claimed more blocks but served none after {after}",
                             url=url)
    return items


def apply_page_block(service: NodeService, raw: bytes, commit: Commit, url: str) -> bool:
    """Decode, check and commit one fetched block; return False if it is already held.

    Raises
    ------
    PeerMisbehaved
        If the block or its commit does not verify.
    """
    try:
        block = decode_block(raw)
        if block.header.height <= service.tip.height:
            # Consensus committed this height while the page was in flight: the peer did
            # nothing wrong, we already have the block.
            return False
        service.apply_fetched(block, commit)
    except GreenChainError as exc:
        raise PeerMisbehaved(f"peer served an invalid block: {exc.message}", url=url,
                             height=service.tip.height + 1) from exc
    return True


def _discard(task: asyncio.Task[bytes] | None) -> None:
    """Cancel a prefetch that is no longer wanted (and consume its outcome if it ended)."""
    if task is None:
        return
    task.cancel()
    if task.done() and not task.cancelled():
        task.exception()


async def sync_from(session: aiohttp.ClientSession, service: NodeService, url: str,
                    target: int) -> int:
    """Fetch and commit blocks from `url` until `target` or the peer runs dry.

    Pages are fetched one ahead: the next page is on its way (and the peer builds it on
    its own core) while this one is applied. Between blocks the event loop runs, so the
    API, consensus messages and the prefetch keep going during a long catch-up.

    Returns
    -------
    int
        Number of blocks committed.

    Raises
    ------
    PeerError
        If the peer is unreachable or serves something that does not verify.
    """
    committed, limit = 0, FIRST_PAGE_BLOCKS
    pending: asyncio.Task[bytes] | None = None
    try:
        while service.tip.height < target:
            if pending is None:
                body = await fetch_blocks(session, url, service.tip.height + 1, limit)
            else:
                body, pending = await pending, None
            items = decode_page(body, url, service.tip.height)
            limit = compute_page_blocks(len(body), len(items))
            del body  # only the blocks are needed now
            # The commit names its block's height: the next page starts after the last.
            next_from = max(items[-1][1].height, service.tip.height) + 1
            if next_from <= target:
                pending = asyncio.create_task(fetch_blocks(session, url, next_from, limit))
            for raw, commit in items:
                # Let the loop run first: the prefetch sends its request before the
                # first block, the API and consensus get their turn between blocks.
                await asyncio.sleep(0)
                if apply_page_block(service, raw, commit, url):
                    committed += 1
    finally:
        _discard(pending)
    return committed


async def catch_up(session: aiohttp.ClientSession, service: NodeService,
                   peers: tuple[str, ...], bench: PeerBench) -> tuple[int, bool]:
    """Catch up from the best peer; bench it if it lies.

    Returns
    -------
    tuple[int, bool]
        Blocks committed, and whether a peer was found ahead of this node.
    """
    found = await best_peer(session, peers, bench, service.tip.height)
    if found is None:
        return 0, False
    url, target = found
    try:
        return await sync_from(session, service, url, target), True
    except PeerError as exc:
        log.warning("catch-up from %s failed: %s", url, exc.message)
        # A lying peer sits out BENCH_S; an unreachable or slow one a short while, so
        # the next pass tries another peer instead of the same one again.
        bench.bench(url, BENCH_S if isinstance(exc, PeerMisbehaved) else SLOW_BENCH_S)
        await asyncio.sleep(0)
        return 0, True

"""Catch-up: fetch finalized blocks with their commits from peers (DESIGN §7).

A node that is behind (or starts empty) asks peers for their height, fetches the
missing blocks in pages, checks each commit against the validator set of its height,
applies and commits the block, then rejoins consensus. A peer that serves a bad block
or commit is benched for a while and another peer is tried. Transaction signatures
inside committed blocks are not re-checked: the quorum that signed the commit checked
them (the BFT assumption).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp

from greenchain.errors import GreenChainError, PeerError, PeerMisbehaved
from greenchain.model.blocks import decode_block
from greenchain.node.service import NodeService
from greenchain.p2p.client import fetch_blocks, fetch_status
from greenchain.p2p.messages import decode_blocks

log = logging.getLogger("greenchain.catchup")

PAGE_BLOCKS = 200
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


async def sync_from(session: aiohttp.ClientSession, service: NodeService, url: str,
                    target: int) -> int:
    """Fetch and commit blocks from `url` until `target` or the peer runs dry.

    Returns
    -------
    int
        Number of blocks committed.

    Raises
    ------
    PeerError
        If the peer is unreachable or serves something that does not verify.
    """
    committed = 0
    while service.tip.height < target:
        body = await fetch_blocks(session, url, service.tip.height + 1, PAGE_BLOCKS)
        try:
            items = decode_blocks(body)
        except GreenChainError as exc:
            raise PeerMisbehaved(f"peer sent malformed blocks: {exc.message}", url=url) from exc
        if not items:
            # It claimed a higher height and then served nothing: a lying peer.
            raise PeerMisbehaved(f"peer claimed height {target} but served no block "
                                 f"after {service.tip.height}", url=url)
        for raw, commit in items:
            try:
                block = decode_block(raw)
                if block.header.height <= service.tip.height:
                    # Consensus committed this height while the page was in flight: the
                    # peer did nothing wrong, we already have the block.
                    continue
                service.apply_fetched(block, commit)
            except GreenChainError as exc:
                raise PeerMisbehaved(f"peer served an invalid block: {exc.message}", url=url,
                                height=service.tip.height + 1) from exc
            committed += 1
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

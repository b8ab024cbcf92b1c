"""Catch-up pages (DESIGN §7): sized by bytes, fetched one ahead, applied block by block.

A fake peer serves a built chain through `catchup.fetch_blocks`; the tests look at what
was asked for, when, and at what the rest of the event loop sees meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from helpers.chain_builder import GENESIS_TIME_MS, ChainBuilder

from greenchain.errors import PeerMisbehaved
from greenchain.node import catchup
from greenchain.node.service import NodeService
from greenchain.p2p.messages import encode_blocks
from greenchain.store.chain import ChainStore
from greenchain.store.kv import MemoryKV

HEIGHTS = 9


@pytest.fixture(scope="module")
def chain() -> ChainBuilder:
    built = ChainBuilder()
    built.setup_plant()
    for _ in range(HEIGHTS - 1):
        built.seal()
    return built


def fresh_service(chain: ChainBuilder) -> NodeService:
    return NodeService(chain.genesis, ChainStore(MemoryKV()),
                       clock=lambda: GENESIS_TIME_MS / 1000 + 3600)


@dataclass
class FakePeer:
    """Serves `chain` page by page; records each request and the fetcher's tip then."""

    chain: ChainBuilder
    service: NodeService
    corrupt_height: int | None = None
    requests: list[tuple[int, int, int]] = field(default_factory=list)
    """(from height, limit, the fetching node's tip height when asked)."""

    async def fetch(self, session: object, url: str, from_height: int, limit: int) -> bytes:
        self.requests.append((from_height, limit, self.service.tip.height))
        await asyncio.sleep(0)  # the network: other tasks run meanwhile
        items = []
        for height in range(from_height, min(from_height + limit, HEIGHTS + 1)):
            raw = self.chain.store.get_block_bytes(height)
            commit = self.chain.store.get_commit(height)
            assert raw is not None and commit is not None
            if height == self.corrupt_height:
                raw = raw[:-1] + bytes([raw[-1] ^ 1])
            items.append((raw, commit))
        return encode_blocks(items)


def run_sync(chain: ChainBuilder, monkeypatch: pytest.MonkeyPatch,
             corrupt_height: int | None = None) -> tuple[NodeService, FakePeer, list[int]]:
    service = fresh_service(chain)
    peer = FakePeer(chain, service, corrupt_height)
    monkeypatch.setattr(catchup, "fetch_blocks", peer.fetch)
    monkeypatch.setattr(catchup, "FIRST_PAGE_BLOCKS", 2)
    seen: list[int] = []

    async def scenario() -> None:
        async def watch() -> None:
            while True:
                seen.append(service.tip.height)
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        try:
            await catchup.sync_from(None, service, "http://peer", HEIGHTS)  # type: ignore[arg-type]
        finally:
            watcher.cancel()

    asyncio.run(scenario())
    return service, peer, seen


def test_page_size_aims_at_the_byte_target() -> None:
    target = catchup.PAGE_TARGET_BYTES
    assert catchup.compute_page_blocks(4 * target, 2) == 1  # huge blocks: one at a time
    assert catchup.compute_page_blocks(target, 8) == 8
    assert catchup.compute_page_blocks(100, 100) == catchup.MAX_PAGE_BLOCKS
    assert catchup.compute_page_blocks(0, 0) == catchup.MAX_PAGE_BLOCKS


def test_sync_commits_every_block_and_fetches_the_next_page_while_applying(
        chain: ChainBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catchup, "PAGE_TARGET_BYTES", 3 * 1400)
    service, peer, _ = run_sync(chain, monkeypatch)
    assert service.tip == chain.tip
    first, second = peer.requests[0], peer.requests[1]
    assert first[:2] == (1, 2)
    # The second page was asked for before the first one's blocks were applied.
    assert second[0] == 3 and second[2] == 0
    # Later pages are sized from the bytes of the ones before.
    assert all(limit == peer.requests[1][1] for _, limit, _ in peer.requests[1:])
    starts = [start for start, _, _ in peer.requests]
    assert starts == sorted(set(starts)) and starts[-1] <= HEIGHTS


def test_the_event_loop_runs_between_blocks_of_a_page(
        chain: ChainBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catchup, "PAGE_TARGET_BYTES", 10**9)  # one page holds them all
    _, peer, seen = run_sync(chain, monkeypatch)
    assert len(peer.requests) == 2  # the first small page, then all the rest
    # Another task saw (nearly) every height go by, not just the page boundaries.
    assert set(range(1, HEIGHTS + 1)) - set(seen) <= {HEIGHTS}


def test_a_bad_block_benches_the_peer_and_drops_the_prefetched_page(
        chain: ChainBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catchup, "PAGE_TARGET_BYTES", 2 * 1400)
    with pytest.raises(PeerMisbehaved):
        run_sync(chain, monkeypatch, corrupt_height=4)


def test_a_bad_block_stops_at_the_height_before_it(
        chain: ChainBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    service = fresh_service(chain)
    peer = FakePeer(chain, service, corrupt_height=4)
    monkeypatch.setattr(catchup, "fetch_blocks", peer.fetch)

    async def scenario() -> None:
        with pytest.raises(PeerMisbehaved):
            await catchup.sync_from(None, service, "http://peer", HEIGHTS)  # type: ignore[arg-type]

    asyncio.run(scenario())
    assert service.tip.height == 3

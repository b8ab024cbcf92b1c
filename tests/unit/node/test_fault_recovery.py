"""Regressions found by the chaos harness (scripts/chaos.py): gossip, re-sends, catch-up.

- A blocks page arriving in several TCP segments was cut short (``content.read(n)``),
  so honest peers were benched as "malformed" and a wiped node could not catch up.
- A page fetched while consensus committed the same heights made an honest peer look
  like a liar ("commit is for another height").
- Re-sends shared the vote queue and piled up behind a slow peer; they now keep only the
  latest snapshot, after fresh messages and before transaction batches.
- Only a validator's own votes were re-sent, so a vote whose author crashed right after
  sending it never reached the validators that missed it; held votes are relayed now.
- Messages of the next height were dropped by the driver instead of kept by the machine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from helpers.chain_builder import GENESIS_TIME_MS, ChainBuilder

from greenchain.consensus.safety import NOTHING_SIGNED
from greenchain.model.blocks import NIL, PREVOTE, make_vote
from greenchain.node import catchup
from greenchain.node.driver import ConsensusDriver
from greenchain.node.service import NodeService
from greenchain.p2p.client import PeerLink, fetch_blocks, read_limited
from greenchain.p2p.messages import encode_blocks
from greenchain.store.chain import ChainStore
from greenchain.store.kv import MemoryKV

CHUNK = b"x" * 8192
CHUNKS = 40


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def streamed_blocks(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    for _ in range(CHUNKS):
        await response.write(CHUNK)
        await asyncio.sleep(0)  # let the client see a partial body
    await response.write_eof()
    return response


def test_a_blocks_page_in_many_segments_is_read_whole() -> None:
    async def scenario() -> tuple[int, int]:
        app = web.Application()
        app.router.add_get("/p2p/blocks", streamed_blocks)
        runner, url = await serve(app)
        try:
            async with aiohttp.ClientSession() as session:
                whole = await fetch_blocks(session, url, 1, 10)
                async with session.get(f"{url}/p2p/blocks") as response:
                    capped = await read_limited(response, 3 * len(CHUNK))
            return len(whole), len(capped)
        finally:
            await runner.cleanup()

    whole, capped = asyncio.run(scenario())
    assert whole == CHUNKS * len(CHUNK)
    assert 3 * len(CHUNK) < capped < CHUNKS * len(CHUNK)  # stops once past the limit


def built_chain(heights: int) -> ChainBuilder:
    chain = ChainBuilder()
    chain.setup_plant()
    for _ in range(heights - 1):
        chain.seal()
    return chain


def fresh_service(chain: ChainBuilder) -> NodeService:
    return NodeService(chain.genesis, ChainStore(MemoryKV()),
                       clock=lambda: GENESIS_TIME_MS / 1000 + 3600)


def test_catch_up_skips_heights_consensus_committed_meanwhile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    chain = built_chain(3)
    items = [(chain.store.get_block_bytes(h), chain.store.get_commit(h)) for h in (1, 2, 3)]
    service = fresh_service(chain)

    async def fetch_while_consensus_commits(session: object, url: str, from_height: int,
                                            limit: int) -> bytes:
        # The page asked for heights 1..3; consensus commits height 1 before it arrives.
        service.apply_fetched(chain.blocks[0], items[0][1])  # type: ignore[arg-type]
        return encode_blocks(items)  # type: ignore[arg-type]

    monkeypatch.setattr(catchup, "fetch_blocks", fetch_while_consensus_commits)
    committed = asyncio.run(catchup.sync_from(None, service, "http://peer", 3))  # type: ignore[arg-type]
    assert committed == 2
    assert service.tip == chain.tip


def test_resends_keep_the_latest_snapshot_behind_fresh_messages() -> None:
    async def scenario() -> list[bytes]:
        received: list[bytes] = []
        done = asyncio.Event()

        async def on_msg(request: web.Request) -> web.Response:
            received.append(await request.read())
            if len(received) == 3:
                done.set()
            return web.Response(status=202)

        app = web.Application()
        app.router.add_post("/p2p/msg", on_msg)
        runner, url = await serve(app)
        try:
            async with aiohttp.ClientSession() as session:
                link = PeerLink(url, session)
                link.send(b"tx batch", urgent=False)
                link.resend([b"old snapshot 1", b"old snapshot 2"])
                link.send(b"fresh vote")
                link.resend([b"new snapshot"])
                link.start()
                await asyncio.wait_for(done.wait(), 10)
                await link.stop()
        finally:
            await runner.cleanup()
        return received

    assert asyncio.run(scenario()) == [b"fresh vote", b"new snapshot", b"tx batch"]


def test_driver_relays_held_votes_and_keeps_next_height_messages(tmp_path: Path) -> None:
    chain = built_chain(1)
    me, other = chain.validators[0], chain.validators[1]
    sent: list[object] = []

    async def scenario() -> ConsensusDriver:
        driver = ConsensusDriver(fresh_service(chain), me, tmp_path / "sign_state",
                                 NOTHING_SIGNED, sent.append)
        assert driver.state.height == 1
        driver.on_message(make_vote(other, chain.chain_id, PREVOTE, 1, 0, NIL))
        driver.on_message(make_vote(other, chain.chain_id, PREVOTE, 2, 0, b"\x11" * 32))
        driver.on_message(make_vote(other, chain.chain_id, PREVOTE, 3, 0, NIL))
        return driver

    driver = asyncio.run(scenario())
    current = make_vote(other, chain.chain_id, PREVOTE, 1, 0, NIL)
    early = make_vote(other, chain.chain_id, PREVOTE, 2, 0, b"\x11" * 32)
    assert driver.to_resend() == [current]  # another validator's vote is relayed
    assert driver.state.early == (early,)  # height + 1 kept; height + 2 left to catch-up
    assert sent == []  # nothing signed: the machine has not started

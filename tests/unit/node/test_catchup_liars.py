"""Catch-up benches a peer that claims a height it cannot serve, and a silent one."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from helpers.chain_builder import ChainBuilder

from greenchain.node.catchup import PeerBench, catch_up
from greenchain.node.service import NodeService
from greenchain.p2p.messages import encode_blocks
from greenchain.store.chain import ChainStore
from greenchain.store.kv import MemoryKV


def liar_app() -> web.Application:
    async def status(request: web.Request) -> web.Response:
        return web.json_response({"chain_id": "x", "height": 10**9})

    async def blocks(request: web.Request) -> web.Response:
        return web.Response(body=encode_blocks([]), content_type="application/msgpack")

    app = web.Application()
    app.router.add_get("/p2p/status", status)
    app.router.add_get("/p2p/blocks", blocks)
    return app


def test_a_peer_claiming_a_height_it_cannot_serve_is_benched() -> None:
    genesis = ChainBuilder().genesis
    service = NodeService(genesis, ChainStore(MemoryKV()))
    bench = PeerBench()

    async def run() -> tuple[int, bool, str]:
        server = TestServer(liar_app())
        await server.start_server()
        url = str(server.make_url("")).rstrip("/")
        try:
            async with aiohttp.ClientSession() as session:
                committed, behind = await catch_up(session, service, (url,), bench)
        finally:
            await server.close()
        return committed, behind, url

    committed, behind, url = asyncio.run(run())
    assert (committed, behind) == (0, True)
    assert bench.is_benched(url)
    assert service.tip.height == 0

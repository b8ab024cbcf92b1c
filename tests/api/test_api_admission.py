"""A large submitted batch is admitted in chunks, yielding to the event loop between them.

Found by an attack run: a POST /v1/tx batch of ~100k items used to be checked in one go,
holding the node's event loop (and so consensus) for seconds.
"""

from __future__ import annotations

import asyncio

import msgpack
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from helpers.query_scenario import APRIL_START, query_scenario

from greenchain.api import ClientApi, add_client_routes, error_middleware
from greenchain.node.service import NodeService, Verdict
from greenchain.params import ADMIT_CHUNK

BATCH = 5 * ADMIT_CHUNK + 3


def test_other_work_runs_while_a_large_batch_is_admitted() -> None:
    chain = query_scenario().chain
    service = NodeService(chain.genesis, chain.store, clock=lambda: APRIL_START + 86_400.0)
    admitted_when_loop_ran: list[int] = []
    calls = 0
    real_submit = service.submit

    def counting_submit(raw: bytes) -> Verdict:
        nonlocal calls
        calls += 1
        if calls == 1:  # runs as soon as the handler gives the loop back
            asyncio.get_running_loop().call_soon(lambda: admitted_when_loop_ran.append(calls))
        return real_submit(raw)

    service.submit = counting_submit  # type: ignore[method-assign]
    app = web.Application(middlewares=[error_middleware])
    add_client_routes(app, ClientApi(service, lambda: {}, lambda raws: None))
    body = msgpack.packb([b"\x93garbage" + bytes([i % 251]) for i in range(BATCH)])

    async def run() -> tuple[int, list[dict[str, object]]]:
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/v1/tx", data=body,
                                         headers={"Content-Type": "application/msgpack"})
            return response.status, (await response.json())["results"]

    status, results = asyncio.run(run())
    assert status == 202
    assert len(results) == BATCH and calls == BATCH
    assert all(r["status"] == "rejected" and r["rule"] == "malformed" for r in results)
    assert admitted_when_loop_ran == [ADMIT_CHUNK]

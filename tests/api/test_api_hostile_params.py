"""Hostile path and body values answer 400 with a rule, never 500 (found by attack runs)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from helpers.query_scenario import APRIL_START, query_scenario

from greenchain.api import ClientApi, add_client_routes, error_middleware
from greenchain.node.service import NodeService


def statuses(requests: list[tuple[str, str, bytes | None]]) -> list[tuple[int, Any]]:
    chain = query_scenario().chain
    service = NodeService(chain.genesis, chain.store, clock=lambda: APRIL_START + 86_400.0)
    app = web.Application(middlewares=[error_middleware])
    add_client_routes(app, ClientApi(service, lambda: {"chain_id": chain.chain_id},
                                     lambda raws: None))

    async def run() -> list[tuple[int, Any]]:
        out = []
        async with TestClient(TestServer(app)) as client:
            for method, path, body in requests:
                response = await client.request(method, path, data=body, headers={
                    "Content-Type": "application/json"})
                out.append((response.status, await response.json()))
        return out

    return asyncio.run(run())


def test_hostile_values_are_refused_with_a_rule() -> None:
    nested = b'{"txs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    answers = statuses([
        ("GET", "/v1/certificates/T1:\u00b2", None),
        ("GET", f"/v1/certificates/T1:{2**64}", None),
        ("GET", "/v1/proofs/provenance/T1:\u00b2", None),
        ("GET", "/v1/blocks/-1", None),
        ("GET", f"/v1/blocks/{2**64}", None),
        ("GET", "/v1/bundles?owner=00&limit=" + "9" * 5000, None),
        ("POST", "/v1/tx", nested),
    ])
    for status, doc in answers:
        assert status == 400, (status, doc)
        assert doc["rule"] == "malformed"

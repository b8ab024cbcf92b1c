"""The query routes show and filter the derived status at the tip's block time (DESIGN §2).

Scenario: helpers/expiry_scenario.py (expiry 3 days; A, B expire before `MID_MS`, C, D after).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from helpers.chain_builder import DEVICE_ID, ChainBuilder, key
from helpers.expiry_scenario import (
    A_EXPIRES_S,
    B_HELD,
    B_KEPT,
    ISSUE_MS,
    MID_MS,
    A,
    C,
    D,
    expiry_scenario,
    expiry_scenario_at,
)

from greenchain.api import ClientApi, add_client_routes, error_middleware
from greenchain.node.service import NodeService

OPERATOR = key("operator").public.hex()


def get_all(chain: ChainBuilder, *paths: str) -> list[Any]:
    """Return the JSON answers (all 200) of `paths` from an API over the chain's store."""
    service = NodeService(chain.genesis, chain.store, clock=lambda: MID_MS / 1000)
    app = web.Application(middlewares=[error_middleware])
    add_client_routes(app, ClientApi(service, lambda: {"chain_id": chain.chain_id},
                                     lambda raws: None))

    async def run() -> list[Any]:
        out = []
        async with TestClient(TestServer(app)) as client:
            for path in paths:
                response = await client.get(path)
                assert response.status == 200, (path, await response.text())
                out.append(await response.json())
        return out

    return asyncio.run(run())


@pytest.fixture(scope="module")
def mid() -> ChainBuilder:
    return expiry_scenario_at(MID_MS)


def statuses(page: dict[str, Any]) -> dict[str, str]:
    return {b["bundle_id"]: b["status"] for b in page["bundles"]}


def test_before_expiry_a_bundle_lists_as_active() -> None:
    active, expired, bundle = get_all(expiry_scenario(), "/v1/bundles?status=active",
                                      "/v1/bundles?status=expired", f"/v1/bundles/{A.hex()}")
    assert statuses(active)[A.hex()] == "active" and len(active["bundles"]) == 5
    assert expired["bundles"] == [] and expired["as_of_ms"] == ISSUE_MS + 2000
    assert (bundle["status"], bundle["stored_status"]) == ("active", "active")
    assert bundle["expiry_date"] == "2015-03-03T23:00:00Z"
    assert bundle["expiry"] == A_EXPIRES_S


def test_after_expiry_listings_show_and_filter_the_derived_status(mid: ChainBuilder) -> None:
    active, expired, device, owner = get_all(
        mid, "/v1/bundles?status=active", "/v1/bundles?status=expired",
        f"/v1/bundles?device={DEVICE_ID}", f"/v1/bundles?owner={OPERATOR}")
    assert statuses(active) == {C.hex(): "active", D.hex(): "active"}
    assert statuses(expired) == dict.fromkeys((A.hex(), B_HELD.hex(), B_KEPT.hex()), "expired")
    assert {b["stored_status"] for b in expired["bundles"]} == {"active"}
    assert all(b["expiry_date"] is not None for b in expired["bundles"])
    assert expired["as_of_ms"] == MID_MS and expired["as_of"] == "2015-03-04T01:30:00Z"
    assert statuses(device)[A.hex()] == "expired" and len(device["bundles"]) == 8
    assert statuses(owner) == {A.hex(): "expired", B_KEPT.hex(): "expired",
                               C.hex(): "active", D.hex(): "active"}


def test_single_bundle_and_certificate_routes_derive_the_status(mid: ChainBuilder) -> None:
    bundle, certificate = get_all(mid, f"/v1/bundles/{A.hex()}",
                                  f"/v1/certificates/{DEVICE_ID}:700")
    assert (bundle["status"], bundle["stored_status"]) == ("expired", "active")
    assert (certificate["bundle_id"], certificate["status"]) == (B_HELD.hex(), "expired")


def test_pages_skip_filtered_entries_and_end(mid: ChainBuilder) -> None:
    path = f"/v1/bundles?device={DEVICE_ID}&status=active&limit=1"
    first, = get_all(mid, path)
    second, = get_all(mid, f"{path}&after={first['next']}")
    assert [b["bundle_id"] for b in first["bundles"] + second["bundles"]] == [C.hex(), D.hex()]
    # A full page always hands a cursor; the page after the last match is empty and final.
    last, = get_all(mid, f"{path}&after={second['next']}")
    assert last["bundles"] == [] and last["next"] is None


def test_balance_and_totals_count_expired_wh(mid: ChainBuilder) -> None:
    balance, retailer, totals = get_all(
        mid, f"/v1/accounts/{OPERATOR}/balance",
        f"/v1/accounts/{key('retailer').public.hex()}/balance",
        f"/v1/devices/{DEVICE_ID}/totals")
    assert (balance["total_wh"], balance["expired_wh"], balance["expired_mwh"]) == (
        1100, 900, "0.000900")
    assert balance["by_month"] == {"2015-03": {"wh": 1100, "mwh": "0.001100"}}
    assert balance["expired"]["by_month"] == {"2015-02": {"wh": 500, "mwh": "0.000500"},
                                              "2015-03": {"wh": 400, "mwh": "0.000400"}}
    assert (retailer["total_wh"], retailer["expired_wh"]) == (0, 500)
    assert (totals["active_wh"], totals["expired_wh"], totals["retired_wh"]) == (
        1100, 1400, 100)
    assert totals["by_status"] == {"active": 1100, "expired": 1400, "retired": 100}
    assert totals["stored_by_status"] == {"active": 2500, "retired": 100}

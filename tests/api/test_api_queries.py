"""The query routes of the client API, served by aiohttp's test server over a built chain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from helpers.chain_builder import DEVICE_ID, PERIOD_START
from helpers.query_scenario import (
    APRIL_BLOCK_MS,
    APRIL_START,
    PV,
    QueryScenario,
    pv,
    query_scenario,
    wt,
)

from greenchain.api import ClientApi, add_client_routes, error_middleware
from greenchain.node.service import NodeService

Call = Callable[[TestClient], Awaitable[Any]]


@pytest.fixture(scope="module")
def scenario() -> QueryScenario:
    return query_scenario()


def serve(scenario: QueryScenario, call: Call) -> Any:
    """Run `call` against a test server of the client API over the scenario's store."""
    chain = scenario.chain
    service = NodeService(chain.genesis, chain.store, clock=lambda: APRIL_START + 86_400.0)
    app = web.Application(middlewares=[error_middleware])
    add_client_routes(app, ClientApi(service, lambda: {"chain_id": chain.chain_id},
                                     lambda raws: None))

    async def run() -> Any:
        async with TestClient(TestServer(app)) as client:
            return await call(client)

    return asyncio.run(run())


def get_all(scenario: QueryScenario, *paths: str) -> list[tuple[int, Any]]:
    async def call(client: TestClient) -> list[tuple[int, Any]]:
        out = []
        for path in paths:
            response = await client.get(path)
            out.append((response.status, await response.json()))
        return out

    return list(serve(scenario, call))


def test_bundles_by_device_status_and_period(scenario: QueryScenario) -> None:
    (status, doc), (_, april), (_, split) = get_all(
        scenario,
        f"/v1/bundles?device={DEVICE_ID}&status=active&from=2015-03-01T00:00:00Z"
        f"&to={PERIOD_START + 3600}",
        f"/v1/bundles?from={APRIL_START}",
        "/v1/bundles?status=split")
    assert status == 200 and doc["next"] is None
    assert sorted((b["serial_start"], b["serial_end"]) for b in doc["bundles"]) == [
        (200, 600), (600, 1000)]
    assert {b["status"] for b in doc["bundles"]} == {"active"}
    assert [(b["serial_start"], b["period"]) for b in april["bundles"]] == [
        (1800, "2015-04-01T00:00:00Z/2015-04-01T01:00:00Z")]
    assert sorted(b["bundle_id"] for b in split["bundles"]) == sorted(
        [wt(0, 1000).hex(), wt(0, 600).hex(), pv(0, 500).hex()])


def test_pages_chain_through_next(scenario: QueryScenario) -> None:
    async def call(client: TestClient) -> list[list[str]]:
        pages, after = [], ""
        while True:
            response = await client.get(f"/v1/bundles?device={DEVICE_ID}&limit=3"
                                        + (f"&after={after}" if after else ""))
            doc = await response.json()
            pages.append([b["bundle_id"] for b in doc["bundles"]])
            after = doc["next"]
            if after is None:
                return pages

    pages = serve(scenario, call)
    assert [len(p) for p in pages] == [3, 3, 1]
    flat = [bundle_id for page in pages for bundle_id in page]
    assert len(set(flat)) == 7


def test_owner_listing_keeps_its_cursor(scenario: QueryScenario) -> None:
    retailer = scenario.retailer.hex()
    (_, first), = get_all(scenario, f"/v1/bundles?owner={retailer}&limit=1")
    (_, second), = get_all(scenario, f"/v1/bundles?owner={retailer}&limit=1"
                                     f"&after={first['next']}")
    assert first["next"] == first["bundles"][0]["bundle_id"]
    ids = {first["bundles"][0]["bundle_id"], second["bundles"][0]["bundle_id"]}
    assert ids == {wt(200, 600).hex(), pv(100, 500).hex()}


def test_retirements_by_beneficiary(scenario: QueryScenario) -> None:
    (status, acme), (_, ltd), (_, none) = get_all(
        scenario, "/v1/retirements?beneficiary=ACME",
        "/v1/retirements?beneficiary=ACME%20Ltd&from=2015-03-01T00:00:00Z",
        f"/v1/retirements?beneficiary=ACME&from={PERIOD_START + 3600}")
    assert status == 200
    assert [(b["bundle_id"], b["retirement"]["beneficiary"]) for b in acme["bundles"]] == [
        (wt(0, 200).hex(), "ACME")]
    assert [b["bundle_id"] for b in ltd["bundles"]] == [pv(0, 100).hex()]
    assert none == {"bundles": [], "next": None, "as_of_ms": APRIL_BLOCK_MS,
                    "as_of": "2015-04-02T00:00:00Z"}


def test_balance_and_totals(scenario: QueryScenario) -> None:
    (status, balance), (_, totals), (_, solar) = get_all(
        scenario, f"/v1/accounts/{scenario.retailer.hex()}/balance",
        f"/v1/devices/{DEVICE_ID}/totals", f"/v1/devices/{PV}/totals")
    assert status == 200
    assert (balance["total_wh"], balance["total_mwh"]) == (800, "0.000800")
    assert balance["by_device"] == {DEVICE_ID: {"wh": 400, "mwh": "0.000400"},
                                    PV: {"wh": 400, "mwh": "0.000400"}}
    assert balance["by_technology"]["T010000"]["wh"] == 400
    assert balance["by_month"] == {"2015-03": {"wh": 800, "mwh": "0.000800"}}
    assert (balance["expired_wh"], balance["expired"]["by_month"]) == (0, {})
    assert totals == {"device_id": DEVICE_ID, "owner_account": scenario.operator.hex(),
                      "issued_wh": 2100, "transferred_wh": 600, "retired_wh": 200,
                      "active_wh": 1900, "expired_wh": 0,
                      "by_status": {"active": 1900, "retired": 200},
                      "stored_by_status": {"active": 1900, "retired": 200},
                      "as_of_ms": APRIL_BLOCK_MS, "as_of": "2015-04-02T00:00:00Z"}
    assert (solar["transferred_wh"], solar["retired_wh"]) == (500, 100)


def test_device_record_names_its_issuing_body(scenario: QueryScenario) -> None:
    (status, doc), = get_all(scenario, f"/v1/devices/{PV}")
    assert status == 200 and doc["issuing_body"] == scenario.chain.issuer.public.hex()
    assert (doc["latitude_udeg"], doc["production_start_s"]) == (52_205_300, 1_356_998_400)


@pytest.mark.parametrize(("path", "parameter"), [
    ("/v1/bundles?owner=xyz", "owner"),
    ("/v1/bundles?owner=abcd", "owner"),
    ("/v1/bundles?status=Active!", "status"),
    ("/v1/bundles?status=actve", "status"),
    ("/v1/bundles?from=yesterday", "from"),
    ("/v1/bundles?from=2015-03-01T00:00:00", "from"),
    ("/v1/bundles?to=2015-03-01T00:00:00.5Z", "to"),
    ("/v1/bundles?from=20&to=10", "to"),
    ("/v1/bundles?from=1969-12-31T00:00:00Z", "from"),
    ("/v1/bundles?limit=0", "limit"),
    ("/v1/bundles?limit=ten", "limit"),
    ("/v1/bundles?device=WT1&after=zz", "after"),
    ("/v1/bundles?device=WT1&after=00ff", "after"),
    ("/v1/retirements", "beneficiary"),
    ("/v1/retirements?beneficiary=A&to=x", "to"),
])
def test_invalid_parameters_answer_400_with_the_rule(scenario: QueryScenario, path: str,
                                                      parameter: str) -> None:
    (status, doc), = get_all(scenario, path)
    assert status == 400
    assert (doc["rule"], doc["parameter"]) == ("malformed", parameter)
    assert doc["message"].startswith(f"query parameter {parameter}: ")


def test_unknown_account_and_device_are_404(scenario: QueryScenario) -> None:
    (account_status, account), (device_status, device), (bad_status, _) = get_all(
        scenario, f"/v1/accounts/{'00' * 32}/balance", "/v1/devices/nope/totals",
        "/v1/accounts/xyz/balance")
    assert (account_status, account["rule"]) == (404, "not_found")
    assert (device_status, device["rule"]) == (404, "not_found")
    assert bad_status == 400

"""``bundles``, ``balance`` and ``device totals`` show expired Wh as expired (DESIGN §2).

The CLI talks HTTP to the client API served (aiohttp, 127.0.0.1, a free port, in a thread)
over the expiry scenario of helpers/expiry_scenario.py, its tip after A and B expired.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner, Result
from helpers.chain_builder import DEVICE_ID, key
from helpers.expiry_scenario import B_HELD, B_KEPT, MID_MS, A, C, D, expiry_scenario_at

from greenchain.api import ClientApi, add_client_routes, error_middleware
from greenchain.cli.main import cli
from greenchain.node.devnet import free_ports
from greenchain.node.service import NodeService

OPERATOR, RETAILER = key("operator").public.hex(), key("retailer").public.hex()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """Serve the client API over the scenario at `MID_MS`; yield its base URL."""
    chain = expiry_scenario_at(MID_MS)
    service = NodeService(chain.genesis, chain.store, clock=lambda: MID_MS / 1000)
    app = web.Application(middlewares=[error_middleware])
    add_client_routes(app, ClientApi(service, lambda: {"chain_id": chain.chain_id},
                                     lambda raws: None))
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    port = free_ports(1)[0]
    loop.run_until_complete(runner.setup())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    try:
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        thread.start()
        yield f"http://127.0.0.1:{port}"
    finally:
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def last_json(result: Result) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_bundles_by_status_use_the_derived_status(url: str) -> None:
    expired = last_json(run("bundles", "--status", "expired", "--node", url, "--json"))
    assert {b["bundle_id"] for b in expired["bundles"]} == {A.hex(), B_HELD.hex(),
                                                           B_KEPT.hex()}
    assert {(b["status"], b["stored_status"]) for b in expired["bundles"]} == {
        ("expired", "active")}
    assert (expired["total_wh"], expired["expired_wh"]) == (1400, 1400)
    active = last_json(run("bundles", "--device", DEVICE_ID, "--status", "active", "--node",
                           url, "--json"))
    assert [b["bundle_id"] for b in active["bundles"]] == [C.hex(), D.hex()]
    assert (active["total_wh"], active["expired_wh"]) == (1100, 0)


def test_bundles_of_an_owner_show_expired_ones_as_expired(url: str) -> None:
    text = run("bundles", "--owner", OPERATOR, "--node", url).stdout.strip().splitlines()
    assert text[-1] == "4 bundles, 2000 Wh, of which 900 Wh expired"
    lines = {line.split()[0]: line for line in text[:-1]}
    assert lines[A.hex()].endswith(" expired") and lines[C.hex()].endswith(" active")


def test_balance_lists_expired_wh_apart(url: str) -> None:
    doc = last_json(run("balance", OPERATOR, "--node", url, "--json"))
    assert (doc["total_wh"], doc["expired_wh"]) == (1100, 900)
    text = run("balance", OPERATOR, "--node", url).stdout
    assert "1100 Wh (0.001100 MWh) active" in text
    assert "expired: 900 Wh (0.000900 MWh) as of 2015-03-04T01:30:00Z" in text
    assert "expired by month:\n  2015-02: 500 Wh (0.000500 MWh)\n  2015-03: 400 Wh" in text
    retailer = run("balance", RETAILER, "--node", url).stdout
    assert "0 Wh (0.000000 MWh) active" in retailer and "expired: 500 Wh" in retailer


def test_device_totals_show_expired_wh(url: str) -> None:
    doc = last_json(run("device", "totals", DEVICE_ID, "--node", url, "--json"))
    assert (doc["active_wh"], doc["expired_wh"], doc["retired_wh"]) == (1100, 1400, 100)
    text = run("device", "totals", DEVICE_ID, "--node", url).stdout
    assert "  active: 1100 Wh (0.001100 MWh)\n  expired: 1400 Wh (0.001400 MWh)" in text
    assert "by status: active 1100 Wh, expired 1400 Wh, retired 100 Wh" in text

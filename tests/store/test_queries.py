"""Query indexes (schema 0x04) and the queries over them, on a committed test chain."""

from __future__ import annotations

import pytest
from helpers.chain_builder import DEVICE_ID, PERIOD_START, ChainBuilder, key, provenance_scenario
from helpers.query_scenario import (
    APRIL_START,
    PV,
    SOLAR_TECH,
    QueryScenario,
    pv,
    query_scenario,
    wt,
)

from greenchain.errors import Malformed
from greenchain.model.certificates import SPLIT
from greenchain.store.balances import account_balance, device_totals
from greenchain.store.indexes import production_month
from greenchain.store.queries import AsOf, BundleQuery, query_bundles, query_retirements
from greenchain.store.schema import OWNER_INDEX, STATUS_INDEX, be64, text_prefix

HOUR = 3600
NEVER = AsOf(2**62, None)
"""Any time, no expiry policy (the query scenario's genesis has none)."""


@pytest.fixture(scope="module")
def scenario() -> QueryScenario:
    return query_scenario()


def ranges(page_bundles: tuple) -> list[tuple[str, int, int, str]]:
    return [(b.device_id, b.serial_start, b.serial_end, b.status) for b in page_bundles]


def test_by_device_lists_every_status_in_period_order(scenario: QueryScenario) -> None:
    page = query_bundles(scenario.chain.store, BundleQuery(device_id=DEVICE_ID), as_of=NEVER)
    assert page.next_cursor is None
    assert [b.period_start for b in page.bundles] == sorted(b.period_start for b in page.bundles)
    assert sorted(ranges(page.bundles)) == sorted([
        (DEVICE_ID, 0, 1000, "split"), (DEVICE_ID, 0, 600, "split"),
        (DEVICE_ID, 600, 1000, "active"), (DEVICE_ID, 0, 200, "retired"),
        (DEVICE_ID, 200, 600, "active"), (DEVICE_ID, 1000, 1800, "active"),
        (DEVICE_ID, 1800, 2100, "active")])


def test_filters_combine(scenario: QueryScenario) -> None:
    store = scenario.chain.store
    march = BundleQuery(device_id=DEVICE_ID, status="active", period_from=PERIOD_START,
                        period_to=PERIOD_START + HOUR)
    assert ranges(query_bundles(store, march, as_of=NEVER).bundles) in (
        [(DEVICE_ID, 600, 1000, "active"), (DEVICE_ID, 200, 600, "active")],
        [(DEVICE_ID, 200, 600, "active"), (DEVICE_ID, 600, 1000, "active")])
    april = query_bundles(store, BundleQuery(period_from=APRIL_START), as_of=NEVER)
    assert ranges(april.bundles) == [(DEVICE_ID, 1800, 2100, "active")]
    retired = query_bundles(store, BundleQuery(status="retired"), as_of=NEVER)
    assert sorted(ranges(retired.bundles)) == [(PV, 0, 100, "retired"),
                                               (DEVICE_ID, 0, 200, "retired")]
    assert query_bundles(store, BundleQuery(status="withdrawn"), as_of=NEVER).bundles == ()
    owner = query_bundles(store, BundleQuery(owner=scenario.retailer), as_of=NEVER)
    assert sorted(ranges(owner.bundles)) == [(PV, 100, 500, "active"),
                                             (DEVICE_ID, 200, 600, "active")]
    assert [b.bundle_id for b in owner.bundles] == sorted(b.bundle_id for b in owner.bundles)
    owned_pv = BundleQuery(owner=scenario.operator, device_id=PV)
    assert query_bundles(store, owned_pv, as_of=NEVER).bundles == ()


def test_pages_follow_the_cursor_to_the_end(scenario: QueryScenario) -> None:
    store, query = scenario.chain.store, BundleQuery(device_id=DEVICE_ID)
    whole = query_bundles(store, query, as_of=NEVER).bundles
    seen, after = [], b""
    while True:
        page = query_bundles(store, query, after, limit=2, as_of=NEVER)
        assert len(page.bundles) <= 2
        seen += page.bundles
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == list(whole)


def test_scan_budget_ends_a_page_early_with_a_cursor(scenario: QueryScenario) -> None:
    store, query = scenario.chain.store, BundleQuery(status="retired")
    first = query_bundles(store, BundleQuery(device_id=DEVICE_ID, status="retired"),
                          limit=10, max_scan=1, as_of=NEVER)
    assert first.next_cursor is not None and len(first.bundles) <= 1
    found, after = [], b""
    for _ in range(20):
        page = query_bundles(store, query, after, limit=10, max_scan=1, as_of=NEVER)
        found += page.bundles
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert sorted(b.bundle_id for b in found) == sorted([wt(0, 200), pv(0, 100)])


def test_bad_cursor_is_malformed(scenario: QueryScenario) -> None:
    with pytest.raises(Malformed) as info:
        query_bundles(scenario.chain.store, BundleQuery(device_id=DEVICE_ID), b"\x01" * 5,
                      as_of=NEVER)
    assert info.value.parameter == "after"
    with pytest.raises(Malformed):
        query_bundles(scenario.chain.store, BundleQuery(owner=scenario.operator), b"\x01",
                      as_of=NEVER)


def test_retirements_by_exact_beneficiary(scenario: QueryScenario) -> None:
    store = scenario.chain.store
    acme = query_retirements(store, "ACME", as_of=NEVER)
    assert [b.bundle_id for b in acme.bundles] == [wt(0, 200)]
    assert acme.bundles[0].retirement is not None
    ltd = query_retirements(store, "ACME Ltd", as_of=NEVER)
    assert [b.bundle_id for b in ltd.bundles] == [pv(0, 100)]
    assert query_retirements(store, "ACM", as_of=NEVER).bundles == ()
    later = query_retirements(store, "ACME", period_from=PERIOD_START + HOUR, as_of=NEVER)
    assert later.bundles == ()
    first_hour = query_retirements(store, "ACME", period_to=PERIOD_START + 1, as_of=NEVER)
    assert len(first_hour.bundles) == 1


def test_balance_by_device_technology_and_month(scenario: QueryScenario) -> None:
    store = scenario.chain.store
    operator = account_balance(store, scenario.operator, as_of=NEVER)
    assert operator.by_device == {DEVICE_ID: 400 + 800 + 300}
    assert operator.by_month == {"2015-03": 1200, "2015-04": 300}
    assert operator.by_technology == {"T020001": 1500}
    retailer = account_balance(store, scenario.retailer, as_of=NEVER)
    assert (retailer.total_wh, retailer.by_device) == (800, {DEVICE_ID: 400, PV: 400})
    assert retailer.by_technology == {"T020001": 400, SOLAR_TECH: 400}
    assert retailer.by_month == {"2015-03": 800}
    assert account_balance(store, scenario.trader, as_of=NEVER).total_wh == 0


def test_device_totals(scenario: QueryScenario) -> None:
    store = scenario.chain.store
    wind = device_totals(store, DEVICE_ID, as_of=NEVER)
    assert wind is not None
    assert (wind.issued_wh, wind.moved_wh, wind.retired_wh, wind.active_wh) == (
        2100, 600, 200, 1900)
    assert sum(wind.by_status.values()) == wind.issued_wh
    solar = device_totals(store, PV, as_of=NEVER)
    assert solar is not None
    assert (solar.issued_wh, solar.moved_wh, solar.retired_wh) == (500, 500, 100)
    assert solar.by_status == {"active": 400, "retired": 100}
    assert device_totals(store, "nope", as_of=NEVER) is None


def test_indexes_match_a_rebuild_from_the_bundles() -> None:
    """After every block, the owner index holds exactly the active bundles, and the
    balances and totals equal sums over the bundle records themselves."""
    chain = provenance_scenario().chain
    store = chain.store
    bundles = list(store.iterate_bundles())
    owner_entries = {key for key, _ in store.kv.iterate(OWNER_INDEX)}
    assert owner_entries == {OWNER_INDEX + b.owner + b.bundle_id for b in bundles
                             if b.status == "active"}
    for name in ("operator", "retailer", "trader"):
        owner = key(name).public
        expected: dict[str, int] = {}
        for b in bundles:
            if b.owner == owner and b.status == "active":
                month = production_month(b.period_start)
                expected[month] = expected.get(month, 0) + b.quantity_wh
        assert account_balance(store, owner, as_of=NEVER).by_month == expected
    totals = device_totals(store, DEVICE_ID, as_of=NEVER)
    assert totals is not None
    leaves = [b for b in bundles if b.status != SPLIT]
    assert totals.moved_wh == sum(b.quantity_wh for b in leaves
                                  if b.owner != key("operator").public)
    assert totals.by_status == {"active": 1550, "retired": 250}
    status_entries = {key for key, _ in store.kv.iterate(STATUS_INDEX)}
    assert status_entries == {STATUS_INDEX + text_prefix(b.status) + be64(b.period_start)
                              + b.bundle_id for b in bundles}


def test_device_registered_in_the_block_of_its_first_attestation() -> None:
    chain = ChainBuilder()
    for name in ("operator", "retailer"):
        chain.register_account(key(name), name)
    chain.seal()
    chain.register_device()
    chain.attest(DEVICE_ID, PERIOD_START, PERIOD_START + HOUR, 700)
    chain.seal()
    totals = device_totals(chain.store, DEVICE_ID, as_of=NEVER)
    assert totals is not None and (totals.issued_wh, totals.moved_wh) == (700, 0)

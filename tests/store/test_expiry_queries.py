"""Listings, balances and totals judge expiry at the tip's block time (DESIGN §2).

Scenario: helpers/expiry_scenario.py (expiry 3 days; A, B expire before `MID_MS`, C, D after).
"""

from __future__ import annotations

import pytest
from helpers.chain_builder import DEVICE_ID, ChainBuilder, key
from helpers.expiry_scenario import (
    A_EXPIRES_S,
    B_HELD,
    B_KEPT,
    B_RETIRED,
    C_START,
    EXPIRY_S,
    LATE_MS,
    MARCH_1,
    MID_MS,
    A,
    C,
    D,
    expiry_scenario,
    expiry_scenario_at,
)

from greenchain.model.certificates import ACTIVE, EXPIRED, SPLIT
from greenchain.store.balances import account_balance, device_totals
from greenchain.store.indexes import (
    ACTIVE_DAY_INDEX,
    device_day_key,
    owner_day_key,
    production_day,
)
from greenchain.store.queries import (
    AsOf,
    BundlePage,
    BundleQuery,
    as_of_tip,
    query_bundles,
)

OPERATOR, RETAILER = key("operator").public, key("retailer").public
ALL_HELD = {A, B_HELD, B_KEPT, C, D}
"""Every stored-active bundle of the scenario."""


@pytest.fixture(scope="module")
def mid() -> ChainBuilder:
    return expiry_scenario_at(MID_MS)


def now(chain: ChainBuilder) -> AsOf:
    return as_of_tip(chain.store, EXPIRY_S)


def listed(chain: ChainBuilder, query: BundleQuery) -> dict[bytes, str]:
    """Return bundle id -> status at the tip of every bundle the listing returns."""
    page = query_bundles(chain.store, query, as_of=now(chain))
    assert page.next_cursor is None
    return {b.bundle_id: page.as_of.status_of(b) for b in page.bundles}


def all_pages(chain: ChainBuilder, query: BundleQuery, limit: int,
              max_scan: int = 10_000) -> list[BundlePage]:
    pages, after = [], b""
    for _ in range(50):
        page = query_bundles(chain.store, query, after, limit, max_scan, as_of=now(chain))
        pages.append(page)
        if page.next_cursor is None:
            return pages
        after = page.next_cursor
    raise AssertionError("listing did not end")


def test_before_expiry_everything_lists_as_active() -> None:
    chain = expiry_scenario_at(A_EXPIRES_S * 1000 - 1)
    assert listed(chain, BundleQuery(status=ACTIVE)) == dict.fromkeys(ALL_HELD, ACTIVE)
    assert listed(chain, BundleQuery(status=EXPIRED)) == {}
    totals = device_totals(chain.store, DEVICE_ID, as_of=now(chain))
    assert totals is not None and (totals.active_wh, totals.expired_wh) == (2500, 0)


def test_expiry_date_reached_exactly_at_the_block_time() -> None:
    chain = expiry_scenario_at(A_EXPIRES_S * 1000)
    assert listed(chain, BundleQuery(status=EXPIRED)) == {A: EXPIRED}
    assert A not in listed(chain, BundleQuery(status=ACTIVE))
    assert listed(chain, BundleQuery(owner=OPERATOR))[A] == EXPIRED


def test_status_filters_use_the_derived_status(mid: ChainBuilder) -> None:
    assert listed(mid, BundleQuery(status=ACTIVE)) == {C: ACTIVE, D: ACTIVE}
    assert listed(mid, BundleQuery(status=EXPIRED)) == dict.fromkeys({A, B_HELD, B_KEPT},
                                                                     EXPIRED)
    device = listed(mid, BundleQuery(device_id=DEVICE_ID))
    assert len(device) == 8 and device[B_RETIRED] == "retired" and device[A] == EXPIRED
    assert listed(mid, BundleQuery(device_id=DEVICE_ID, status=EXPIRED)) == listed(
        mid, BundleQuery(status=EXPIRED))
    assert listed(mid, BundleQuery(owner=OPERATOR)) == {A: EXPIRED, B_KEPT: EXPIRED,
                                                        C: ACTIVE, D: ACTIVE}
    assert listed(mid, BundleQuery(owner=OPERATOR, status=ACTIVE)) == {C: ACTIVE, D: ACTIVE}
    assert listed(mid, BundleQuery(owner=RETAILER, status=EXPIRED)) == {B_HELD: EXPIRED}
    assert listed(mid, BundleQuery(owner=RETAILER, status=ACTIVE)) == {}
    assert listed(mid, BundleQuery(status="retired")) == {B_RETIRED: "retired"}
    assert SPLIT not in listed(mid, BundleQuery(status=EXPIRED)).values()


def test_period_filters_combine_with_derived_status(mid: ChainBuilder) -> None:
    # A started on February 28; D on March 2.
    assert set(listed(mid, BundleQuery(status=EXPIRED, period_from=MARCH_1))) == {B_HELD,
                                                                                   B_KEPT}
    assert set(listed(mid, BundleQuery(status=ACTIVE, period_to=MARCH_1 + 86_400))) == {C}
    assert listed(mid, BundleQuery(status=EXPIRED, period_from=C_START)) == {}


def test_status_active_reads_no_entry_of_a_long_expired_period(mid: ChainBuilder) -> None:
    # The device index holds 8 entries, 6 of them before the cutoff's hour: narrowed by
    # period, the two active bundles are the first two entries read.
    page = query_bundles(mid.store, BundleQuery(device_id=DEVICE_ID, status=ACTIVE),
                         max_scan=2, as_of=now(mid))
    assert [b.bundle_id for b in page.bundles] == [C, D]
    expired = query_bundles(mid.store, BundleQuery(status=EXPIRED), max_scan=3, as_of=now(mid))
    assert {b.bundle_id for b in expired.bundles} == {A, B_HELD, B_KEPT}


@pytest.mark.parametrize("query", [
    BundleQuery(device_id=DEVICE_ID, status=ACTIVE),
    BundleQuery(device_id=DEVICE_ID, status=EXPIRED),
    BundleQuery(status=EXPIRED),
    BundleQuery(status=ACTIVE),
    BundleQuery(owner=OPERATOR, status=EXPIRED),
    BundleQuery(owner=OPERATOR, status=ACTIVE),
])
@pytest.mark.parametrize(("limit", "max_scan"), [(1, 10_000), (2, 10_000), (10, 1), (1, 2)])
def test_pages_across_filtered_entries_list_each_match_once(
        mid: ChainBuilder, query: BundleQuery, limit: int, max_scan: int) -> None:
    pages = all_pages(mid, query, limit, max_scan)
    seen = [b.bundle_id for page in pages for b in page.bundles]
    assert all(len(page.bundles) <= limit for page in pages)
    assert len(seen) == len(set(seen))
    assert set(seen) == set(listed(mid, query))


def test_pages_judge_each_page_at_its_own_tip() -> None:
    chain = expiry_scenario()
    first = query_bundles(chain.store, BundleQuery(device_id=DEVICE_ID, status=ACTIVE),
                          limit=2, as_of=now(chain))
    assert first.next_cursor is not None
    chain.seal(time_ms=MID_MS)  # a block commits between two pages: A and B expire
    rest = all_pages_after(chain, first.next_cursor)
    assert [b.bundle_id for b in rest] == [C, D]


def all_pages_after(chain: ChainBuilder, after: bytes) -> list:
    found = []
    while after:
        page = query_bundles(chain.store, BundleQuery(device_id=DEVICE_ID, status=ACTIVE),
                             after, 1, as_of=now(chain))
        found += page.bundles
        after = page.next_cursor or b""
    return found


def test_no_expiry_policy_never_expires(mid: ChainBuilder) -> None:
    never = AsOf(LATE_MS, None)
    page = query_bundles(mid.store, BundleQuery(status=ACTIVE), as_of=never)
    assert {b.bundle_id for b in page.bundles} == ALL_HELD
    assert query_bundles(mid.store, BundleQuery(status=EXPIRED), as_of=never).bundles == ()
    totals = device_totals(mid.store, DEVICE_ID, as_of=never)
    assert totals is not None and totals.expired_wh == 0 and totals.active_wh == 2500


def test_balances_count_expired_wh_as_expired(mid: ChainBuilder) -> None:
    operator = account_balance(mid.store, OPERATOR, as_of=now(mid))
    # C (800) and D (300) active; A (500, February) and B's kept 400 Wh expired.
    assert (operator.total_wh, operator.expired_wh) == (1100, 900)
    assert operator.by_month == {"2015-03": 1100}
    assert operator.expired_by_month == {"2015-02": 500, "2015-03": 400}
    assert operator.by_device == {DEVICE_ID: 1100}
    assert operator.expired_by_technology == {"T020001": 900}
    retailer = account_balance(mid.store, RETAILER, as_of=now(mid))
    assert (retailer.total_wh, retailer.expired_wh) == (0, 500)
    assert (retailer.by_month, retailer.expired_by_month) == ({}, {"2015-03": 500})


def test_balance_before_and_after_every_expiry() -> None:
    chain = expiry_scenario()
    before = account_balance(chain.store, OPERATOR, as_of=now(chain))
    assert (before.total_wh, before.expired_wh) == (2000, 0)
    chain.seal(time_ms=LATE_MS)
    after = account_balance(chain.store, OPERATOR, as_of=now(chain))
    assert (after.total_wh, after.expired_wh) == (0, 2000)
    assert after.expired_by_month == {"2015-02": 500, "2015-03": 1500}


def test_device_totals_count_expired_wh_as_expired(mid: ChainBuilder) -> None:
    totals = device_totals(mid.store, DEVICE_ID, as_of=now(mid))
    assert totals is not None
    assert (totals.issued_wh, totals.moved_wh, totals.retired_wh) == (2600, 600, 100)
    assert (totals.active_wh, totals.expired_wh) == (1100, 1400)
    assert totals.by_status == {"active": 1100, "expired": 1400, "retired": 100}
    assert totals.stored_by_status == {"active": 2500, "retired": 100}
    assert sum(totals.by_status.values()) == totals.issued_wh
    late = expiry_scenario_at(LATE_MS)
    everything = device_totals(late.store, DEVICE_ID, as_of=now(late))
    assert everything is not None
    assert everything.by_status == {"expired": 2500, "retired": 100}


@pytest.mark.parametrize("tip_s", [A_EXPIRES_S - 1, A_EXPIRES_S, MID_MS // 1000,
                                   MID_MS // 1000 + 1800, LATE_MS // 1000 - 1, LATE_MS // 1000])
def test_counters_agree_with_every_bundle_judged_one_by_one(mid: ChainBuilder,
                                                           tip_s: int) -> None:
    as_of = AsOf(tip_s * 1000, EXPIRY_S)
    bundles = list(mid.store.iterate_bundles())
    totals = device_totals(mid.store, DEVICE_ID, as_of=as_of)
    assert totals is not None
    for status in (ACTIVE, EXPIRED):
        assert totals.by_status.get(status, 0) == sum(
            b.quantity_wh for b in bundles if as_of.status_of(b) == status)
    for owner in (OPERATOR, RETAILER):
        balance = account_balance(mid.store, owner, as_of=as_of)
        mine = [b for b in bundles if b.owner == owner]
        assert balance.total_wh == sum(b.quantity_wh for b in mine
                                       if as_of.status_of(b) == ACTIVE)
        assert balance.expired_wh == sum(b.quantity_wh for b in mine
                                         if as_of.status_of(b) == EXPIRED)


def test_day_counters_equal_a_rebuild_from_the_bundles(mid: ChainBuilder) -> None:
    expected: dict[bytes, int] = {}
    for b in mid.store.iterate_bundles():
        if b.status == ACTIVE:  # stored status: the counters never look at expiry
            day = production_day(b.period_start)
            for day_key in (device_day_key(b.device_id, day),
                            owner_day_key(b.owner, b.device_id, day)):
                expected[day_key] = expected.get(day_key, 0) + b.quantity_wh
    stored = {k: int.from_bytes(v, "big") for k, v in mid.store.kv.iterate(ACTIVE_DAY_INDEX)}
    assert stored == expected
    assert stored[device_day_key(DEVICE_ID, MARCH_1)] == 400 + 500 + 800
    assert stored[owner_day_key(RETAILER, DEVICE_ID, MARCH_1)] == 500

"""Hourly matching (24/7 CFE): exact small cases."""

from __future__ import annotations

import io

import pytest

from greenchain.meter import read_consumption_csv
from greenchain.reports.matching import (
    HourMatch,
    compute_matching,
    generation_by_hour,
    hour_of,
)

H0 = 1_425_168_000  # 2015-03-01T00:00:00Z
H = 3600


def test_generation_counts_in_the_hour_of_production() -> None:
    pieces = [(H0, 100), (H0 + 600, 50), (H0 + 3599, 1), (H0 + H, 7), (H0 + 5 * H + 10, 3)]
    assert generation_by_hour(pieces) == {H0: 151, H0 + H: 7, H0 + 5 * H: 3}
    assert hour_of(H0 + H - 1) == H0 and hour_of(H0 + H) == H0 + H


def test_exact_small_case() -> None:
    # Hour 0: short (500 of 1000); hour 1: surplus 1000; hour 2: no generation at all;
    # hour 5: generation with no consumption row (all surplus).
    generation = {H0: 500, H0 + H: 2000, H0 + 5 * H: 100}
    consumption = {H0: 1000, H0 + H: 1000, H0 + 2 * H: 300}
    result = compute_matching(generation, consumption)
    assert [h.hour_start for h in result.hours] == [H0, H0 + H, H0 + 2 * H, H0 + 5 * H]
    assert [(h.matched_wh, h.surplus_wh) for h in result.hours] == [
        (500, 0), (1000, 1000), (0, 0), (0, 100)]
    assert result.consumption_wh == 2300 and result.generation_wh == 2600
    assert result.matched_wh == 1500 and result.unmatched_wh == 800
    assert result.surplus_wh == 1100
    assert result.unmatched_hours == 2  # hours 0 and 2
    assert result.hours_without_consumption_data == 1
    assert result.cfe_score == pytest.approx(1500 / 2300)
    doc = result.to_dict()
    assert doc["cfe_score"] == 0.652174 and doc["hours"] == 4
    assert (doc["from"], doc["to"]) == ("2015-03-01T00:00:00Z", "2015-03-01T06:00:00Z")


def test_surplus_never_covers_another_hour() -> None:
    # Same daily totals (1000 Wh each side), but at different hours: nothing matches.
    result = compute_matching({H0: 1000}, {H0: 0, H0 + H: 1000})
    assert (result.matched_wh, result.surplus_wh, result.cfe_score) == (0, 1000, 0.0)
    assert result.unmatched_hours == 1


def test_full_match_and_empty_cases() -> None:
    full = compute_matching({H0: 1000, H0 + H: 1000}, {H0: 1000, H0 + H: 400})
    assert (full.cfe_score, full.unmatched_hours, full.surplus_wh) == (1.0, 0, 600)
    empty = compute_matching({}, {})
    assert empty.hours == () and empty.cfe_score is None
    assert empty.to_dict()["from"] is None
    no_use = compute_matching({H0: 5}, {H0: 0})
    assert no_use.cfe_score is None and no_use.surplus_wh == 5


def test_window_is_half_open_on_hour_starts() -> None:
    generation = {H0: 10, H0 + H: 20, H0 + 2 * H: 30}
    consumption = {H0: 10, H0 + H: 10, H0 + 2 * H: 10}
    result = compute_matching(generation, consumption, H0 + H, H0 + 2 * H)
    assert result.hours == (HourMatch(H0 + H, 10, 20, True),)
    assert (result.matched_wh, result.surplus_wh) == (10, 10)
    assert compute_matching(generation, consumption, period_from=H0 + 2 * H).matched_wh == 10
    assert compute_matching(generation, consumption, period_to=H0).hours == ()


def test_with_consumption_read_from_csv() -> None:
    text = ("timestamp_utc,energy_kwh\n2015-03-01T00:00:00Z,1.5\n"
            "2015-03-01T01:00:00Z,0.25\n")
    consumption = read_consumption_csv(io.StringIO(text))
    result = compute_matching(generation_by_hour([(H0 + 1200, 1000), (H0 + H, 500)]),
                              consumption)
    assert (result.consumption_wh, result.matched_wh, result.surplus_wh) == (1750, 1250, 250)
    assert result.unmatched_hours == 1

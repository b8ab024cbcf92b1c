"""Hourly matching of retired certificates against metered consumption (24/7 CFE).

EnergyTag's granular certificates let a consumer claim clean energy hour by hour: a
certificate counts only for the UTC hour it was PRODUCED in (``period_start // 3600``),
whatever consumption period its retirement names, and an hour's surplus cannot cover
another hour's shortfall. Production periods never cross a UTC hour (DESIGN §3), so
every certificate falls in exactly one hour.

For the hours ``h`` of the window (union of the hours with consumption data and the hours
with generation), with ``g_h`` the Wh retired for the consumer that were produced in
``h`` and ``c_h`` the Wh consumed in ``h`` (0 where the file has no row):

- matched ``m_h = min(g_h, c_h)``; surplus ``max(g_h - c_h, 0)``;
- CFE score ``= sum(m_h) / sum(c_h)`` (Google's "CFE score", EnergyTag's hourly matching);
- an hour is *unmatched* when ``c_h > m_h`` (some consumption not covered).

All energies are integer Wh; the score is the only float.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from greenchain.model.views import iso_utc

HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class HourMatch:
    """Consumption and retired generation of one UTC hour."""

    hour_start: int
    """Start of the hour, UTC seconds (a multiple of 3600)."""
    consumption_wh: int
    """Wh consumed in the hour (0 when the consumption data has no row for it)."""
    generation_wh: int
    """Wh retired for the consumer that were produced in the hour."""
    has_consumption_data: bool
    """True if the consumption data has a row for this hour."""

    @property
    def matched_wh(self) -> int:
        """Wh of consumption covered by generation of the same hour."""
        return min(self.generation_wh, self.consumption_wh)

    @property
    def surplus_wh(self) -> int:
        """Wh of generation above the hour's consumption (counts for no other hour)."""
        return max(self.generation_wh - self.consumption_wh, 0)


@dataclass(frozen=True, slots=True)
class MatchingResult:
    """The hour-by-hour match and its totals (all Wh)."""

    hours: tuple[HourMatch, ...]
    """Every hour of the window with consumption data or generation, in time order."""
    consumption_wh: int
    """Total consumption."""
    generation_wh: int
    """Total retired generation in the window."""
    matched_wh: int
    """Sum over hours of min(generation, consumption)."""
    surplus_wh: int
    """Sum over hours of generation above consumption."""
    unmatched_hours: int
    """Hours whose consumption is not fully covered."""
    hours_without_consumption_data: int
    """Hours with generation but no consumption row (their generation is surplus)."""

    @property
    def cfe_score(self) -> float | None:
        """Matched share of consumption, 0..1; None when nothing was consumed."""
        return self.matched_wh / self.consumption_wh if self.consumption_wh else None

    @property
    def unmatched_wh(self) -> int:
        """Consumption not covered by generation of its own hour."""
        return self.consumption_wh - self.matched_wh

    def to_dict(self) -> dict[str, Any]:
        """Return the totals as JSON-friendly values (score rounded to 6 decimals)."""
        score = self.cfe_score
        first = self.hours[0].hour_start if self.hours else None
        last = self.hours[-1].hour_start + HOUR_S if self.hours else None
        return {
            "hours": len(self.hours),
            "from": None if first is None else iso_utc(first),
            "to": None if last is None else iso_utc(last),
            "consumption_wh": self.consumption_wh,
            "generation_wh": self.generation_wh,
            "matched_wh": self.matched_wh,
            "unmatched_wh": self.unmatched_wh,
            "surplus_wh": self.surplus_wh,
            "unmatched_hours": self.unmatched_hours,
            "hours_without_consumption_data": self.hours_without_consumption_data,
            "cfe_score": None if score is None else round(score, 6),
        }


def hour_of(period_start: int) -> int:
    """Return the start (UTC seconds) of the UTC hour holding `period_start`."""
    return period_start // HOUR_S * HOUR_S


def generation_by_hour(pieces: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Sum retired Wh by the UTC hour of production.

    Parameters
    ----------
    pieces:
        ``(period_start, wh)`` of each retired bundle: production period start in UTC
        seconds, quantity in Wh.

    Returns
    -------
    dict[int, int]
        Hour start (UTC seconds) -> Wh produced in that hour.
    """
    hours: dict[int, int] = {}
    for period_start, wh in pieces:
        hour = hour_of(period_start)
        hours[hour] = hours.get(hour, 0) + wh
    return hours


def compute_matching(generation: Mapping[int, int], consumption: Mapping[int, int],
                     period_from: int | None = None,
                     period_to: int | None = None) -> MatchingResult:
    """Match generation against consumption hour by hour (see the module docstring).

    Parameters
    ----------
    generation:
        Hour start (UTC seconds) -> retired Wh produced in that hour
        (`generation_by_hour`).
    consumption:
        Hour start (UTC seconds) -> Wh consumed (``greenchain.meter.read_consumption_csv``).
    period_from, period_to:
        Keep only hours starting in ``[period_from, period_to)`` (UTC seconds); None: no
        bound.

    Returns
    -------
    MatchingResult
        The hours in time order and the totals.
    """
    def in_window(hour: int) -> bool:
        return ((period_from is None or hour >= period_from)
                and (period_to is None or hour < period_to))

    starts = sorted(h for h in set(generation) | set(consumption) if in_window(h))
    hours = tuple(HourMatch(h, consumption.get(h, 0), generation.get(h, 0), h in consumption)
                  for h in starts)
    return MatchingResult(
        hours=hours,
        consumption_wh=sum(h.consumption_wh for h in hours),
        generation_wh=sum(h.generation_wh for h in hours),
        matched_wh=sum(h.matched_wh for h in hours),
        surplus_wh=sum(h.surplus_wh for h in hours),
        unmatched_hours=sum(1 for h in hours if h.consumption_wh > h.matched_wh),
        hours_without_consumption_data=sum(
            1 for h in hours if not h.has_consumption_data and h.generation_wh),
    )

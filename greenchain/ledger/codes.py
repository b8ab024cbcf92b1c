"""Checking the codes a transaction names against the genesis code lists (DESIGN §2).

Every certificate attribute that is a code (energy source, technology, country, market
zone, support, issuance purpose) must be in its genesis list; each list has its own
typed error (`greenchain.errors.UnknownCode` leaves) carrying ``code_list`` and ``code``.
"""

from __future__ import annotations

from collections.abc import Mapping

from greenchain.errors import (
    BadTxBody,
    UnknownCode,
    UnknownCountry,
    UnknownEnergySource,
    UnknownIssuancePurpose,
    UnknownMarketZone,
    UnknownSupportCode,
    UnknownTechnology,
)
from greenchain.model.codes import CodeLists
from greenchain.model.lifecycle_txs import Import
from greenchain.model.transactions import RegisterDevice

CODE_ERRORS: dict[str, type[UnknownCode]] = {
    "energy_sources": UnknownEnergySource,
    "technologies": UnknownTechnology,
    "support": UnknownSupportCode,
    "issuance_purposes": UnknownIssuancePurpose,
    "countries": UnknownCountry,
    "market_zones": UnknownMarketZone,
}
"""The error each code list raises for a code it does not hold."""


def validate_code(code_lists: CodeLists | None, list_name: str, code: str) -> None:
    """Raise the list's `UnknownCode` leaf unless `code` is in list `list_name`.

    With `code_lists` None (a caller that did not load genesis data) nothing is checked.

    Raises
    ------
    UnknownEnergySource, UnknownTechnology, UnknownSupportCode, UnknownIssuancePurpose,
    UnknownCountry, UnknownMarketZone
    """
    if code_lists is not None and not code_lists.has(list_name, code):
        raise CODE_ERRORS[list_name](f"{code!r} is not in the genesis {list_name} code list",
                                     code_list=list_name, code=code)


def validate_codes(code_lists: CodeLists | None, codes: Mapping[str, str]) -> None:
    """Check several codes in the order given: list name -> code.

    Raises
    ------
    UnknownCode
        The leaf of the first list that does not hold its code.
    """
    for list_name, code in codes.items():
        validate_code(code_lists, list_name, code)


def resolve_market_zone(zone: str, country: str) -> str:
    """Return the market zone a transaction declares: an empty one is the country's own.

    Most EU countries are one bidding zone named by their ISO code (``FR``, ``GB``), so a
    registration may leave the zone empty; countries split into zones (``DE-LU``,
    ``SE3``...) must name theirs, or the country code fails the ``market_zones`` check.
    """
    return zone or country


def validate_emissions_factor(value: int | None) -> None:
    """Raise `BadTxBody` if a declared emissions factor (gCO2e/MWh) is negative."""
    if value is not None and value < 0:
        raise BadTxBody("emissions factor must be >= 0 gCO2e/MWh", emissions_factor=value)


def certificate_codes(body: RegisterDevice | Import) -> dict[str, str]:
    """Return the codes a registration or an import names, by code list, in checking order.

    The market zone is resolved (empty: the country's own zone, `resolve_market_zone`).
    """
    return {
        "energy_sources": body.energy_source,
        "technologies": body.technology,
        "countries": body.country,
        "market_zones": resolve_market_zone(body.issue_market_zone, body.country),
        "support": body.support_received,
        "issuance_purposes": body.issuance_purpose,
    }

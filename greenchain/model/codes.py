"""Code lists of the registry (DESIGN §2), as DATA in ``genesis.json``.

Six lists: energy sources, technologies, support, issuance purposes, countries and
market zones.

A device registration or an import naming a code that is not in its list is refused by
the ledger (`greenchain.errors.UnknownCode` leaves). Energy source and technology codes
are those of the EECS Rules (AIB, Fact Sheet 5 "Types of Energy Inputs and
Technologies"), countries are ISO 3166-1 alpha-2, market zones are ENTSO-E bidding zones
by their short names. The support and issuance-purpose codes are GreenChain's own words
for the EN 16325 fields "support received" and "purpose of issuance".
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from greenchain.errors import ConfigError

ELECTRICITY = "electricity"
"""The energy carrier of every certificate this ledger issues (EN 16325 covers others)."""
DEFAULT_SUPPORT = "none"
"""Support code of a device registered without one: no support received."""
DEFAULT_ISSUANCE_PURPOSE = "disclosure"
"""Issuance purpose of a device registered without one: disclosure to final customers."""
MAX_CODE_LEN = 32
MAX_LABEL_LEN = 200


@dataclass(frozen=True, slots=True)
class Code:
    """One entry of a code list."""

    code: str
    """The code as it appears in transactions and records, e.g. ``F01050100``."""
    label: str
    """Human-readable meaning, e.g. ``Renewable / Mechanical / Wind``."""


@dataclass(frozen=True, slots=True)
class CodeLists:
    """The six code lists of a chain, each sorted by code."""

    energy_sources: tuple[Code, ...]
    """EECS energy source (input) codes."""
    technologies: tuple[Code, ...]
    """EECS technology codes."""
    support: tuple[Code, ...]
    """Support received by the device (EN 16325)."""
    issuance_purposes: tuple[Code, ...]
    """Purpose of issuance, e.g. disclosure."""
    countries: tuple[Code, ...]
    """ISO 3166-1 alpha-2 country codes (countries of issuance and of consumption)."""
    market_zones: tuple[Code, ...]
    """Market (bidding) zones of the grid a device feeds, e.g. ``FR``, ``DE-LU``."""

    def codes(self, list_name: str) -> tuple[Code, ...]:
        """Return the list called `list_name` (a name of `LIST_NAMES`)."""
        found: tuple[Code, ...] = getattr(self, list_name)
        return found

    def has(self, list_name: str, code: str) -> bool:
        """Return True if `code` is in the list called `list_name`."""
        return any(entry.code == code for entry in self.codes(list_name))

    def label(self, list_name: str, code: str) -> str | None:
        """Return the label of `code` in list `list_name`, or None if it is not listed."""
        return next((e.label for e in self.codes(list_name) if e.code == code), None)

    def to_fields(self) -> list[Any]:
        """Return the canonical array form (hashed into the genesis hash)."""
        return [[[e.code, e.label] for e in self.codes(name)] for name in LIST_NAMES]


LIST_NAMES = tuple(f.name for f in fields(CodeLists))
"""The list names in their canonical order (also the keys of the JSON object)."""


def _code_list(name: str, entries: Any) -> tuple[Code, ...]:
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"genesis code list {name!r} must be a non-empty object "
                          "mapping code to label")
    for code, label in entries.items():
        if not 0 < len(code) <= MAX_CODE_LEN or code != code.strip():
            raise ConfigError(f"code {code!r} of {name!r} must be 1-{MAX_CODE_LEN} characters "
                              "without surrounding spaces")
        if not isinstance(label, str) or len(label) > MAX_LABEL_LEN:
            raise ConfigError(f"label of code {code!r} of {name!r} must be text of at most "
                              f"{MAX_LABEL_LEN} characters")
    return tuple(Code(code, entries[code]) for code in sorted(entries))


def code_lists_from_json(doc: Any) -> CodeLists:
    """Parse and check the ``code_lists`` object of a genesis document.

    Parameters
    ----------
    doc:
        A JSON object with one key per name of `LIST_NAMES`, each an object mapping a
        code to its label.

    Raises
    ------
    ConfigError
        On a missing or unknown list, an empty list, or a code or label out of shape.
    """
    if not isinstance(doc, dict):
        raise ConfigError("genesis code_lists must be a JSON object")
    if set(doc) != set(LIST_NAMES):
        raise ConfigError(f"genesis code_lists must hold exactly {', '.join(LIST_NAMES)}")
    return CodeLists(*(_code_list(name, doc[name]) for name in LIST_NAMES))


def code_lists_to_json(lists: CodeLists) -> dict[str, dict[str, str]]:
    """Return the JSON object of `lists` (inverse of `code_lists_from_json`)."""
    return {name: {e.code: e.label for e in lists.codes(name)} for name in LIST_NAMES}


def _entries(pairs: dict[str, str]) -> tuple[Code, ...]:
    return tuple(Code(code, pairs[code]) for code in sorted(pairs))


_ENERGY_SOURCES = {
    "F01010100": "Renewable / Solar / Photovoltaic",
    "F01010200": "Renewable / Solar / Concentration (solar thermal)",
    "F01050100": "Renewable / Mechanical source or other / Wind",
    "F01050200": "Renewable / Mechanical source or other / Hydro and marine",
}
_TECHNOLOGIES = {
    "T010000": "Solar / Unspecified",
    "T010100": "Solar / Photovoltaic",
    "T010200": "Solar / Concentration",
    "T020000": "Wind / Unspecified",
    "T020001": "Wind / Onshore",
    "T020002": "Wind / Offshore",
    "T030000": "Hydro-electric head installations / Unspecified",
    "T030100": "Hydro-electric head installations / Run-of-river",
    "T030200": "Hydro-electric head installations / Storage",
    "T030300": "Hydro-electric head installations / Pure pumped storage",
    "T030400": "Hydro-electric head installations / Mixed pumped storage",
    "T040000": "Marine / Unspecified",
}
_SUPPORT = {
    "none": "No support received",
    "investment": "Investment support received",
    "production": "Production support received",
    "investment_and_production": "Investment and production support received",
}
_ISSUANCE_PURPOSES = {
    "disclosure": "Guarantee of origin for disclosure to final customers "
                  "(Directive (EU) 2018/2001, Art. 19)",
    "voluntary": "Voluntary certificate (no guarantee-of-origin status)",
}
_COUNTRIES = {
    "AT": "Austria", "BE": "Belgium", "BG": "Bulgaria", "CH": "Switzerland",
    "CY": "Cyprus", "CZ": "Czechia", "DE": "Germany", "DK": "Denmark", "EE": "Estonia",
    "ES": "Spain", "FI": "Finland", "FR": "France", "GB": "United Kingdom",
    "GR": "Greece", "HR": "Croatia", "HU": "Hungary", "IE": "Ireland", "IS": "Iceland",
    "IT": "Italy", "LT": "Lithuania", "LU": "Luxembourg", "LV": "Latvia",
    "ME": "Montenegro", "MK": "North Macedonia", "NL": "Netherlands", "NO": "Norway",
    "PL": "Poland", "PT": "Portugal", "RO": "Romania", "RS": "Serbia", "SE": "Sweden",
    "SI": "Slovenia", "SK": "Slovakia",
}
_SINGLE_ZONE = ("AT", "BE", "BG", "CH", "CZ", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU",
                "LT", "LV", "NL", "PL", "PT", "RO", "RS", "SI", "SK")
_MARKET_ZONES = {
    **{code: _COUNTRIES[code] for code in _SINGLE_ZONE},
    "DE-LU": "Germany-Luxembourg", "DK1": "Denmark West", "DK2": "Denmark East",
    "IE-SEM": "Ireland and Northern Ireland (SEM)", "IT-NORD": "Italy North",
    "IT-CNOR": "Italy Centre-North", "IT-CSUD": "Italy Centre-South", "IT-SUD": "Italy South",
    "IT-CALA": "Italy Calabria", "IT-SICI": "Italy Sicily", "IT-SARD": "Italy Sardinia",
    "NO1": "Norway South-East", "NO2": "Norway South-West", "NO3": "Norway Central",
    "NO4": "Norway North", "NO5": "Norway West", "SE1": "Sweden 1 (Lulea)",
    "SE2": "Sweden 2 (Sundsvall)", "SE3": "Sweden 3 (Stockholm)", "SE4": "Sweden 4 (Malmo)",
}

EECS_CODE_LISTS = CodeLists(
    _entries(_ENERGY_SOURCES), _entries(_TECHNOLOGIES), _entries(_SUPPORT),
    _entries(_ISSUANCE_PURPOSES), _entries(_COUNTRIES), _entries(_MARKET_ZONES))
"""The code lists the development genesis ships (a subset of the EECS codes)."""

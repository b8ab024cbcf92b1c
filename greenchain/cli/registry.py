"""``greenchain account register|suspend`` and ``greenchain device register|suspend``.

All four sign with an issuing body's key (listed in genesis, DESIGN §1), submit, and by
default wait for the commit. Coordinates are given in decimal degrees and stored in
microdegrees exactly (no float); the production start is a UTC date (DESIGN §2). The
certificate attributes a registration or an import declares (market zone, support,
issuance purpose, emissions factor in gCO2e/MWh) share their options (`attribute_options`).
A suspension has no undo: the transaction carries no reactivation flag (DESIGN §3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click

from greenchain.cli.client import Answer
from greenchain.cli.commands import (
    clock_nonce,
    echo_json,
    json_option,
    node_option,
    nonce_option,
    run_tx,
    wait_options,
)
from greenchain.cli.keys import load_signing_key, parse_public_key
from greenchain.errors import BadInput
from greenchain.model.codes import DEFAULT_ISSUANCE_PURPOSE, DEFAULT_SUPPORT
from greenchain.model.transactions import (
    Body,
    RegisterAccount,
    RegisterDevice,
    SuspendAccount,
    SuspendDevice,
    Tx,
    make_tx,
)

DEFAULT_ENERGY_SOURCE = "F01050100"
"""EECS energy source code of onshore wind."""
DEFAULT_TECHNOLOGY = "T020001"
"""EECS technology code of an onshore wind turbine."""
MICRO = 1_000_000
UINT64_MAX = 2**64 - 1
_DEGREES = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]+)?", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)

KEY_FILE = click.Path(path_type=Path, dir_okay=False)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class SendOptions:
    """How a command sends its transaction (``node_option``, ``wait_options``, ...)."""

    node_url: str
    """Base URL of the node."""
    wait: bool
    """Whether to wait for the commit."""
    timeout_s: float
    """Longest wait for the commit, seconds."""
    nonce: int | None
    """Transaction nonce, or None for the clock in ns (`clock_nonce`)."""
    as_json: bool
    """Print one JSON object as the last line instead of text."""


def send_signed(key_file: Path, body: Body, send: SendOptions) -> Answer:
    """Sign `body` with the key in `key_file`, submit it and print the tx line (not JSON).

    Returns
    -------
    Answer
        The final verdict (``pending`` without waiting, else ``committed``).

    Raises
    ------
    BadKeyFile
        If the key file cannot be loaded.
    NodeRefused, CommitTimeout, PeerError
        As `greenchain.cli.commands.run_tx`.
    """
    signer = load_signing_key(key_file)

    def build(chain_id: str) -> Tx:
        return make_tx(signer, chain_id, body, clock_nonce(send.nonce))

    _, answer = run_tx(send.node_url, build, send.wait, send.timeout_s, send.as_json)
    return answer


def attribute_options(func: F) -> F:
    """Add the EN 16325 attribute options of a device or an import (genesis code lists).

    ``--market-zone`` (empty: the country's own zone), ``--support``,
    ``--issuance-purpose`` and ``--emissions-factor`` (gCO2e/MWh, DESIGN §2).
    """
    func = click.option("--emissions-factor", type=click.IntRange(0, UINT64_MAX), default=None,
                        metavar="GCO2E_PER_MWH",
                        help="Emissions factor of the output, gCO2e/MWh (default: not "
                        "declared).")(func)
    func = click.option("--issuance-purpose", default=DEFAULT_ISSUANCE_PURPOSE,
                        show_default=True, help="Purpose of issuance (genesis "
                        "issuance_purposes), e.g. voluntary.")(func)
    func = click.option("--support", default=DEFAULT_SUPPORT, show_default=True,
                        help="Support received (genesis support list), e.g. "
                        "investment.")(func)
    return click.option("--market-zone", default="", metavar="ZONE",
                        help="Market (bidding) zone, e.g. DE-LU (default: the zone named "
                        "like the country).")(func)


def parse_microdegrees(text: str, limit: int, what: str) -> int:
    """Return decimal degrees as integer microdegrees, exactly (DESIGN §2).

    Parameters
    ----------
    text:
        Plain decimal degrees, e.g. ``48.4569`` or ``-5.5847``.
    limit:
        Largest absolute value in degrees (90 for latitude, 180 for longitude).
    what:
        The option's name, for messages.

    Raises
    ------
    BadInput
        If the text is not plain decimal, has more than 6 decimals, or is out of range.
    """
    if not _DEGREES.fullmatch(text):
        raise BadInput(f"{what}: {text!r} is not decimal degrees like 48.4569", value=text)
    micro = Decimal(text) * MICRO
    # Only exact values: a 7th decimal would be silently rounded away.
    if micro != micro.to_integral_value():
        raise BadInput(f"{what}: {text!r} has more than 6 decimals", value=text)
    if abs(micro) > limit * MICRO:
        raise BadInput(f"{what}: {text} is outside -{limit}..{limit} degrees", value=text)
    return int(micro)


def parse_utc_date(text: str, what: str) -> int:
    """Return a ``YYYY-MM-DD`` date as the UTC seconds of its midnight.

    Raises
    ------
    BadInput
        If the text is not such a date.
    """
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise BadInput(f"{what}: {text!r} is not a date YYYY-MM-DD", value=text)
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def parse_country(text: str, what: str = "--country") -> str:
    """Return an ISO 3166-1 alpha-2 code (two capital letters), or raise `BadInput`."""
    if not _COUNTRY.fullmatch(text):
        raise BadInput(f"{what}: {text!r} is not a two-letter country code like FR", value=text)
    return text


@click.group("account")
def account_group() -> None:
    """Register and suspend account holders (issuing body)."""


@account_group.command("register")
@click.option("--issuer-key", required=True, type=KEY_FILE, help="The issuing body's key file.")
@click.option("--account-key", required=True, metavar="PUBHEX_OR_KEYFILE",
              help="The account's public key: 64 hex digits or a key file.")
@click.option("--name", required=True, help="Display name of the holder.")
@node_option
@wait_options
@nonce_option
@json_option
def account_register(issuer_key: Path, account_key: str, name: str, node_url: str, wait: bool,
                     timeout_s: float, nonce: int | None, as_json: bool) -> None:
    """Register an account (signed by an issuing body); print the tx id and height."""
    body = RegisterAccount(parse_public_key(account_key, "--account-key"), name)
    answer = send_signed(issuer_key, body, SendOptions(node_url, wait, timeout_s, nonce, as_json))
    if as_json:
        echo_json(answer | {"account": body.account_key.hex(), "name": name})


@account_group.command("suspend")
@click.option("--issuer-key", required=True, type=KEY_FILE, help="The issuing body's key file.")
@click.option("--account", "account", required=True, metavar="PUBHEX_OR_KEYFILE",
              help="The account to suspend: 64 hex digits or a key file.")
@click.option("--reason", required=True, help="Why the account is suspended.")
@node_option
@wait_options
@nonce_option
@json_option
def account_suspend(issuer_key: Path, account: str, reason: str, node_url: str, wait: bool,
                    timeout_s: float, nonce: int | None, as_json: bool) -> None:
    """Suspend an account (issuing body): it can no longer transfer, retire, export or receive.

    There is no reactivation: the suspension transaction has no such flag (DESIGN §3).
    """
    body = SuspendAccount(parse_public_key(account, "--account"), reason)
    answer = send_signed(issuer_key, body, SendOptions(node_url, wait, timeout_s, nonce, as_json))
    if as_json:
        echo_json(answer | {"account": body.account_key.hex(), "reason": reason})


@click.group("device")
def device_group() -> None:
    """Register, suspend and inspect production devices."""


@device_group.command("register")
@click.option("--issuer-key", required=True, type=KEY_FILE, help="The issuing body's key file.")
@click.option("--device-id", required=True, help="Unique device id, e.g. the turbine id.")
@click.option("--name", required=True, help="Human-readable device name.")
@click.option("--attestation-key", required=True, metavar="PUBHEX_OR_KEYFILE",
              help="Public key of the meter gateway that will sign the attestations.")
@click.option("--owner", required=True, metavar="PUBHEX_OR_KEYFILE",
              help="Registered account receiving the certificates.")
@click.option("--capacity-w", required=True, type=click.IntRange(min=1),
              help="Installed capacity, W.")
@click.option("--energy-source", default=DEFAULT_ENERGY_SOURCE, show_default=True,
              help="EECS energy source code (default: wind, onshore).")
@click.option("--technology", default=DEFAULT_TECHNOLOGY, show_default=True,
              help="EECS technology code (default: onshore wind turbine).")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. FR.")
@click.option("--lat", required=True, metavar="DEG", help="Latitude, decimal degrees (WGS-84).")
@click.option("--lon", required=True, metavar="DEG",
              help="Longitude, decimal degrees (WGS-84).")
@click.option("--production-start", required=True, metavar="YYYY-MM-DD",
              help="Production start date (UTC) declared by the issuing body.")
@attribute_options
@click.option("--grid-id", default="", metavar="ID",
              help="Grid connection point identification, e.g. an EIC code (default: none).")
@click.option("--storage/--no-storage", default=False, show_default=True,
              help="Whether the device is a storage device.")
@node_option
@wait_options
@nonce_option
@json_option
def device_register(issuer_key: Path, device_id: str, name: str, attestation_key: str,
                    owner: str, capacity_w: int, energy_source: str, technology: str,
                    country: str, lat: str, lon: str, production_start: str, market_zone: str,
                    support: str, issuance_purpose: str, emissions_factor: int | None,
                    grid_id: str, storage: bool, node_url: str, wait: bool, timeout_s: float,
                    nonce: int | None, as_json: bool) -> None:
    """Register a production device (signed by an issuing body); print the tx id and height.

    Codes (energy source, technology, country, market zone, support, issuance purpose)
    must be in the genesis code lists, or the node refuses with the list's rule.
    """
    body = RegisterDevice(
        device_id, name, parse_public_key(attestation_key, "--attestation-key"),
        parse_public_key(owner, "--owner"), capacity_w, energy_source, technology,
        parse_country(country), parse_microdegrees(lat, 90, "--lat"),
        parse_microdegrees(lon, 180, "--lon"),
        parse_utc_date(production_start, "--production-start"), market_zone, grid_id,
        support, int(storage), issuance_purpose, emissions_factor)
    answer = send_signed(issuer_key, body, SendOptions(node_url, wait, timeout_s, nonce, as_json))
    if as_json:
        echo_json(answer | {"device_id": device_id})


@device_group.command("suspend")
@click.option("--issuer-key", required=True, type=KEY_FILE, help="The issuing body's key file.")
@click.option("--device-id", required=True, help="The device to suspend.")
@click.option("--reason", required=True, help="Why the device is suspended.")
@node_option
@wait_options
@nonce_option
@json_option
def device_suspend(issuer_key: Path, device_id: str, reason: str, node_url: str, wait: bool,
                   timeout_s: float, nonce: int | None, as_json: bool) -> None:
    """Suspend a device (issuing body): it can no longer attest nor receive imports.

    There is no reactivation: the suspension transaction has no such flag (DESIGN §3).
    """
    body = SuspendDevice(device_id, reason)
    answer = send_signed(issuer_key, body, SendOptions(node_url, wait, timeout_s, nonce, as_json))
    if as_json:
        echo_json(answer | {"device_id": device_id, "reason": reason})

"""``greenchain account register`` and ``greenchain device register`` (issuing body only).

Both sign with the issuing body's key (listed in genesis, DESIGN §1), submit, and by
default wait for the commit. Coordinates are given in decimal degrees and stored in
microdegrees exactly (no float); the production start is a UTC date (DESIGN §2).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import click

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
from greenchain.model.transactions import RegisterAccount, RegisterDevice, Tx, make_tx

DEFAULT_ENERGY_SOURCE = "F01050100"
"""EECS energy source code of onshore wind."""
DEFAULT_TECHNOLOGY = "T020001"
"""EECS technology code of an onshore wind turbine."""
MICRO = 1_000_000
_DEGREES = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]+)?", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)

KEY_FILE = click.Path(path_type=Path, dir_okay=False)


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
    """Register account holders (issuing body)."""


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
    signer = load_signing_key(issuer_key)

    def build(chain_id: str) -> Tx:
        return make_tx(signer, chain_id, body, clock_nonce(nonce))

    _, answer = run_tx(node_url, build, wait, timeout_s, as_json)
    if as_json:
        echo_json(answer | {"account": body.account_key.hex(), "name": name})


@click.group("device")
def device_group() -> None:
    """Register production devices (issuing body)."""


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
@node_option
@wait_options
@nonce_option
@json_option
def device_register(issuer_key: Path, device_id: str, name: str, attestation_key: str,
                    owner: str, capacity_w: int, energy_source: str, technology: str,
                    country: str, lat: str, lon: str, production_start: str, node_url: str,
                    wait: bool, timeout_s: float, nonce: int | None, as_json: bool) -> None:
    """Register a production device (signed by an issuing body); print the tx id and height."""
    body = RegisterDevice(
        device_id, name, parse_public_key(attestation_key, "--attestation-key"),
        parse_public_key(owner, "--owner"), capacity_w, energy_source, technology,
        parse_country(country), parse_microdegrees(lat, 90, "--lat"),
        parse_microdegrees(lon, 180, "--lon"),
        parse_utc_date(production_start, "--production-start"))
    signer = load_signing_key(issuer_key)

    def build(chain_id: str) -> Tx:
        return make_tx(signer, chain_id, body, clock_nonce(nonce))

    _, answer = run_tx(node_url, build, wait, timeout_s, as_json)
    if as_json:
        echo_json(answer | {"device_id": device_id})

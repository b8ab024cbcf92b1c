"""``greenchain transfer`` and ``greenchain retire``: move or claim a bundle's Wh.

The owner signs. Moving or retiring a bundle's whole quantity keeps the bundle; part of
it splits the bundle: the moved (or retired) piece takes the LOW serials
``[s, s + amount)`` and the rest keeps ``[s + amount, e)`` (DESIGN §2). The new bundle ids
follow from the ranges (`compute_bundle_id`), so they are printed even without waiting.
`send_bundle_tx` and `echo_bundles` also serve withdrawal and export (`greenchain.cli.lifecycle`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from greenchain.cli.certs import BUNDLE_KEYS
from greenchain.cli.client import COMMITTED, Answer, NodeClient
from greenchain.cli.commands import (
    clock_nonce,
    echo_json,
    json_option,
    node_option,
    nonce_option,
    run_tx,
    wait_options,
)
from greenchain.cli.keys import load_signing_key, parse_hex32, parse_public_key
from greenchain.cli.registry import KEY_FILE, SendOptions, parse_country, parse_utc_date
from greenchain.errors import BadInput
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.transactions import Body, Retire, Transfer, Tx, make_tx


def parse_utc_time(text: str, what: str) -> int:
    """Return an ISO 8601 time with a zone (``2015-03-01T00:00:00Z``) or a date as UTC seconds.

    Raises
    ------
    BadInput
        If the text is not ISO 8601, has no UTC offset, or has fractional seconds.
    """
    if len(text) == 10:
        return parse_utc_date(text, what)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadInput(f"{what}: {text!r} is not an ISO 8601 time", value=text) from exc
    # A time without a zone is ambiguous, and a claim's period must be exact.
    if moment.tzinfo is None or moment.microsecond:
        raise BadInput(f"{what}: {text!r} needs whole seconds and a zone, e.g. "
                       "2015-03-01T00:00:00Z", value=text)
    return int(moment.astimezone(UTC).timestamp())


def split_pieces(bundle: dict[str, Any], amount_wh: int, moved: str) -> list[tuple[str, bytes]]:
    """Return (role, bundle id) of the bundles a transfer or retirement leaves (DESIGN §2).

    Parameters
    ----------
    bundle:
        The source bundle as the API renders it (device_id, serial_start, serial_end).
    amount_wh:
        Amount moved, Wh.
    moved:
        Role name of the moved piece (``transferred`` or ``retired``).

    Returns
    -------
    list[tuple[str, bytes]]
        The moved piece (low serials), then the rest if the bundle splits.
    """
    device, start, end = bundle["device_id"], bundle["serial_start"], bundle["serial_end"]
    if amount_wh >= end - start:
        return [(moved, bytes.fromhex(bundle["bundle_id"]))]
    return [(moved, compute_bundle_id(device, start, start + amount_wh)),
            ("rest", compute_bundle_id(device, start + amount_wh, end))]


def role_bundle_line(role: str, doc: dict[str, Any]) -> str:
    """Return ``<role>: bundle <id> <device>:[s, e) <Wh> Wh owner <key> status <status>``."""
    return (f"{role}: bundle {doc['bundle_id']} {doc['device_id']}:[{doc['serial_start']}, "
            f"{doc['serial_end']}) {doc['quantity_wh']} Wh owner {doc['owner']} "
            f"status {doc['status']}")


def send_bundle_tx(signer_key: Path, bundle_hex: str, amount_wh: int | None,
                   make_body: Callable[[bytes], Body], role: str,
                   send: SendOptions) -> tuple[Answer, list[dict[str, Any]]]:
    """Submit a transaction on one bundle; return the verdict and the bundles it leaves.

    Parameters
    ----------
    signer_key:
        Key file of the signer (the bundle owner, or its issuing body for a withdrawal).
    bundle_hex:
        The bundle id, 64 hex digits.
    amount_wh:
        Wh the transaction moves (its low serials, DESIGN §2), or None for the whole bundle.
    make_body:
        Builds the transaction body from the bundle id.
    role:
        Name of the moved piece in the output (``transferred``, ``exported``, ...).
    send:
        Node, wait and output options.

    Returns
    -------
    tuple[Answer, list[dict]]
        The final verdict, and the moved piece then the rest (if the bundle splits): as
        the API renders them once committed, else only their role and id.

    Raises
    ------
    BadInput, BadKeyFile
        On a malformed bundle id or an unreadable key file.
    NodeRefused, CommitTimeout, PeerError
        As `run_tx`; ``not_found`` if the node has no such bundle.
    """
    bundle_id = parse_hex32(bundle_hex, "--bundle")
    signer = load_signing_key(signer_key)
    source = NodeClient(send.node_url).get_object(f"/v1/bundles/{bundle_id.hex()}", *BUNDLE_KEYS)
    body = make_body(bundle_id)

    def build(chain_id: str) -> Tx:
        return make_tx(signer, chain_id, body, clock_nonce(send.nonce))

    client, answer = run_tx(send.node_url, build, send.wait, send.timeout_s, send.as_json)
    whole = int(source["quantity_wh"]) if amount_wh is None else amount_wh
    pieces = split_pieces(source, whole, role)
    return answer, [_piece(client, answer, piece_role, piece_id) for piece_role, piece_id in pieces]


def echo_bundles(answer: Answer, docs: list[dict[str, Any]], as_json: bool,
                 extra: dict[str, Any] | None = None) -> None:
    """Print the bundles a transaction left (one line each), or the JSON answer with them."""
    if as_json:
        echo_json(answer | {"bundles": docs} | (extra or {}))
        return
    for doc in docs:
        click.echo(role_bundle_line(doc["role"], doc) if "status" in doc
                   else f"{doc['role']}: bundle {doc['bundle_id']} (once committed)")


def _piece(client: NodeClient, answer: Answer, role: str, bundle_id: bytes) -> dict[str, Any]:
    if answer["status"] != COMMITTED:
        return {"role": role, "bundle_id": bundle_id.hex()}
    return {"role": role} | client.get_object(f"/v1/bundles/{bundle_id.hex()}", *BUNDLE_KEYS)


@click.command("transfer")
@click.option("--key", "owner_key", required=True, type=KEY_FILE,
              help="The bundle owner's key file.")
@click.option("--bundle", "bundle_hex", required=True, metavar="BUNDLE_ID_HEX",
              help="Id of the active bundle to transfer from (64 hex digits).")
@click.option("--amount-wh", required=True, type=click.IntRange(min=1),
              help="Wh to transfer; the bundle's low serials move.")
@click.option("--to", "receiver", required=True, metavar="PUBHEX_OR_KEYFILE",
              help="Receiving account: 64 hex digits or a key file.")
@node_option
@wait_options
@nonce_option
@json_option
def transfer_command(owner_key: Path, bundle_hex: str, amount_wh: int, receiver: str,
                     node_url: str, wait: bool, timeout_s: float, nonce: int | None,
                     as_json: bool) -> None:
    """Transfer AMOUNT Wh of a bundle to another account; print the resulting bundles."""
    to_key = parse_public_key(receiver, "--to")
    send = SendOptions(node_url, wait, timeout_s, nonce, as_json)
    answer, docs = send_bundle_tx(owner_key, bundle_hex, amount_wh,
                                  lambda bundle_id: Transfer(bundle_id, amount_wh, to_key),
                                  "transferred", send)
    echo_bundles(answer, docs, as_json)


@click.command("retire")
@click.option("--key", "owner_key", required=True, type=KEY_FILE,
              help="The bundle owner's key file.")
@click.option("--bundle", "bundle_hex", required=True, metavar="BUNDLE_ID_HEX",
              help="Id of the active bundle to retire from (64 hex digits).")
@click.option("--amount-wh", required=True, type=click.IntRange(min=1),
              help="Wh to retire; the bundle's low serials are retired.")
@click.option("--beneficiary", required=True, help="Who the energy is claimed for.")
@click.option("--consumption-start", required=True, metavar="ISO",
              help="Consumption period start, e.g. 2015-03-01T00:00:00Z.")
@click.option("--consumption-end", required=True, metavar="ISO",
              help="Consumption period end (exclusive), e.g. 2015-03-01T01:00:00Z.")
@click.option("--purpose", required=True, help="Purpose of the claim, e.g. disclosure.")
@click.option("--country", required=True, help="Country of consumption (ISO 3166-1 alpha-2).")
@node_option
@wait_options
@nonce_option
@json_option
def retire_command(owner_key: Path, bundle_hex: str, amount_wh: int, beneficiary: str,
                   consumption_start: str, consumption_end: str, purpose: str, country: str,
                   node_url: str, wait: bool, timeout_s: float, nonce: int | None,
                   as_json: bool) -> None:
    """Retire (claim) AMOUNT Wh of a bundle for a beneficiary; print the resulting bundles."""
    start = parse_utc_time(consumption_start, "--consumption-start")
    end = parse_utc_time(consumption_end, "--consumption-end")
    if end <= start:
        raise BadInput("--consumption-end must be after --consumption-start")
    claim_country = parse_country(country)
    send = SendOptions(node_url, wait, timeout_s, nonce, as_json)
    answer, docs = send_bundle_tx(
        owner_key, bundle_hex, amount_wh,
        lambda bundle_id: Retire(bundle_id, amount_wh, beneficiary, start, end, purpose,
                                 claim_country), "retired", send)
    echo_bundles(answer, docs, as_json)

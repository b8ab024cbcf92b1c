"""Query commands: ``bundles`` (filtered listings), ``balance`` and ``device totals``.

They read the node's query routes (``GET /v1/bundles``, ``/v1/retirements``,
``/v1/accounts/{key}/balance``, ``/v1/devices/{id}/totals``) and follow the ``next``
cursor of a listing until the node says it is complete. Statuses are the node's as of its
tip's block time: ``expired`` is derived from the genesis expiry policy (DESIGN §2), so an
expired bundle shows as ``expired`` and counts as expired, never as active.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import click

from greenchain.cli.certs import bundle_line
from greenchain.cli.client import NodeClient
from greenchain.cli.commands import echo_json, json_option, node_option
from greenchain.cli.keys import parse_public_key
from greenchain.cli.txcmds import parse_utc_time
from greenchain.errors import PeerError
from greenchain.model.certificates import EXPIRED, SPLIT
from greenchain.model.views import mwh_text

PAGE_LIMIT = 500
"""Bundles asked for per page."""


def fetch_all(client: NodeClient, path: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    """Return every bundle of a listing route, following its ``next`` cursor.

    Parameters
    ----------
    client:
        The node client.
    path:
        ``/v1/bundles`` or ``/v1/retirements``.
    params:
        The filters (query parameters as text).

    Raises
    ------
    NodeRefused
        If the node refuses a parameter (its rule, e.g. ``malformed``).
    PeerError
        If unreachable, or the node hands back the same cursor twice.
    """
    found: list[dict[str, Any]] = []
    after = ""
    while True:
        query = {**params, "limit": str(PAGE_LIMIT)} | ({"after": after} if after else {})
        page = client.get_object(f"{path}?{urllib.parse.urlencode(query)}", "bundles")
        found += page["bundles"]
        nxt = page.get("next") or ""
        if not nxt:
            return found
        if nxt == after:  # a node that does not advance would loop forever
            raise PeerError(f"node {client.url}{path} repeated its cursor", url=client.url)
        after = nxt


def period_params(period_from: str | None, period_to: str | None) -> dict[str, str]:
    """Return ``from``/``to`` query parameters (UTC seconds) of ISO 8601 options.

    Raises
    ------
    BadInput
        If a time is not ISO 8601 with a zone (or a date).
    """
    params = {}
    if period_from is not None:
        params["from"] = str(parse_utc_time(period_from, "--from"))
    if period_to is not None:
        params["to"] = str(parse_utc_time(period_to, "--to"))
    return params


def period_options(func: Any) -> Any:
    """Add ``--from ISO`` and ``--to ISO`` (production period start, UTC)."""
    func = click.option("--to", "period_to", metavar="ISO",
                        help="Production periods starting before this time (exclusive), "
                        "e.g. 2015-03-02T00:00:00Z.")(func)
    return click.option("--from", "period_from", metavar="ISO",
                        help="Production periods starting at or after this time, "
                        "e.g. 2015-03-01T00:00:00Z.")(func)


@click.command("bundles")
@click.option("--owner", metavar="PUBHEX_OR_KEYFILE",
              help="Bundles this account holds (active or expired): 64 hex digits or a "
              "key file.")
@click.option("--device", "device_id", metavar="ID", help="Bundles of this device.")
@click.option("--status", metavar="STATUS",
              help="Bundles with this status at the tip's block time: active, expired, "
              "split, retired, withdrawn, exported.")
@period_options
@node_option
@json_option
def bundles_command(owner: str | None, device_id: str | None, status: str | None,
                    period_from: str | None, period_to: str | None, node_url: str,
                    as_json: bool) -> None:
    """List bundles by owner, device, status and production period (all filters combine).

    --owner lists the account's active and expired bundles; without it every status is
    listed. Statuses are as of the node's tip (expired is derived, never stored). The Wh
    total leaves out split bundles (their pieces hold the same Wh) and says how many of
    its Wh expired.
    """
    if not any((owner, device_id, status, period_from, period_to)):
        raise click.UsageError("give at least one of --owner, --device, --status, --from, "
                               "--to")
    params = period_params(period_from, period_to)
    owner_key = parse_public_key(owner, "--owner") if owner else None
    params |= {"owner": owner_key.hex()} if owner_key else {}
    params |= {"device": device_id} if device_id else {}
    params |= {"status": status} if status else {}
    bundles = fetch_all(NodeClient(node_url), "/v1/bundles", params)
    # A split parent's Wh are its pieces' Wh: count them once.
    splits = sum(1 for b in bundles if b["status"] == SPLIT)
    total = sum(int(b["quantity_wh"]) for b in bundles if b["status"] != SPLIT)
    expired = sum(int(b["quantity_wh"]) for b in bundles if b["status"] == EXPIRED)
    if as_json:
        owner_hex = owner_key.hex() if owner_key else None
        echo_json({"owner": owner_hex, "filters": params, "bundles": bundles,
                   "total_wh": total, "expired_wh": expired})
        return
    for doc in bundles:
        click.echo(bundle_line(doc))
    kind = "active bundle" if owner_key and not status and not expired else "bundle"
    plural = "" if len(bundles) == 1 else "s"
    note = f" ({splits} split, not counted)" if splits else ""
    note += f", of which {expired} Wh expired" if expired else ""
    click.echo(f"{len(bundles)} {kind}{plural}, {total} Wh{note}")


@click.command("balance")
@click.argument("account")
@node_option
@json_option
def balance_command(account: str, node_url: str, as_json: bool) -> None:
    """Show ACCOUNT's active Wh (and MWh) by device, technology and month of production.

    ACCOUNT is a public key (64 hex digits) or a key file. Wh held past their expiry date
    (at the node's tip) are listed apart as expired.
    """
    key = parse_public_key(account, "ACCOUNT")
    doc = NodeClient(node_url).get_object(f"/v1/accounts/{key.hex()}/balance", "total_wh",
                                          "by_device", "by_technology", "by_month")
    if as_json:
        echo_json(doc)
        return
    click.echo(f"account {key.hex()}: {doc['total_wh']} Wh ({mwh_text(doc['total_wh'])} MWh)"
               " active")
    _echo_breakdown(doc, "")
    expired_wh = int(doc.get("expired_wh") or 0)
    if expired_wh:
        click.echo(f"expired: {expired_wh} Wh ({mwh_text(expired_wh)} MWh) "
                   f"as of {doc.get('as_of', 'the tip')}")
        _echo_breakdown(doc.get("expired") or {}, "expired ")


def _echo_breakdown(doc: Mapping[str, Any], label: str) -> None:
    """Print the ``by_device``, ``by_technology`` and ``by_month`` Wh of a balance."""
    for title, field in (("device", "by_device"), ("technology", "by_technology"),
                         ("month", "by_month")):
        click.echo(f"{label}by {title}:")
        for name, amount in (doc.get(field) or {}).items():
            click.echo(f"  {name}: {amount['wh']} Wh ({amount['mwh']} MWh)")


@click.command("totals")
@click.argument("device_id")
@node_option
@json_option
def device_totals_command(device_id: str, node_url: str, as_json: bool) -> None:
    """Show DEVICE_ID's issued, transferred, retired, active and expired Wh (at the tip)."""
    path = f"/v1/devices/{urllib.parse.quote(device_id, safe='')}/totals"
    doc = NodeClient(node_url).get_object(path, "issued_wh", "transferred_wh", "retired_wh",
                                          "active_wh", "by_status")
    if as_json:
        echo_json(doc)
        return
    click.echo(f"device {device_id} (owner {doc.get('owner_account')})")
    for label, field in (("issued", "issued_wh"), ("transferred", "transferred_wh"),
                         ("retired", "retired_wh"), ("active", "active_wh"),
                         ("expired", "expired_wh")):
        wh = int(doc.get(field) or 0)
        click.echo(f"  {label}: {wh} Wh ({mwh_text(wh)} MWh)")
    statuses = ", ".join(f"{name} {wh} Wh" for name, wh in doc["by_status"].items())
    click.echo(f"  by status: {statuses or 'nothing issued'}")

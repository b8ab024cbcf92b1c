"""``greenchain withdraw``, ``export to-registry`` and ``import``: the lifecycle commands.

- ``withdraw``: the issuing body of an active bundle withdraws all of it, with a reason;
  ``withdrawn`` is final (`greenchain.ledger.lifecycle`).
- ``export to-registry``: the owner sends part or all of an active bundle to another
  registry; the moved piece (the low serials) becomes ``exported``, the rest stays active.
  The committed transaction with its status proof is the export statement the receiving
  registry checks. It is a subcommand because ``greenchain export`` already names the
  group that writes certificate files (``export bundles``).
- ``import``: an issuing body imports the external range ``[ext_start, ext_end)`` of a
  device of another registry as a bundle of ``ext:<registry>:<device>``
  (`greenchain.ledger.imports`); each external serial is imported once.

All follow the transfer and retire commands: key files, ``--node``, ``--wait``,
``--nonce``, ``--json``, and the node's rule as the error (DESIGN §2, §3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from greenchain.cli.client import COMMITTED, Answer, NodeClient
from greenchain.cli.commands import echo_json, json_option, node_option, nonce_option, wait_options
from greenchain.cli.keys import parse_public_key
from greenchain.cli.queries import fetch_all
from greenchain.cli.registry import (
    KEY_FILE,
    SendOptions,
    attribute_options,
    parse_country,
    send_signed,
)
from greenchain.cli.txcmds import echo_bundles, parse_utc_time, role_bundle_line, send_bundle_tx
from greenchain.errors import BadInput
from greenchain.model.certificates import compute_ext_device_id
from greenchain.model.lifecycle_txs import Export, Import, Withdraw

UINT64_MAX = 2**64 - 1


@click.command("withdraw")
@click.option("--issuer-key", required=True, type=KEY_FILE,
              help="Key file of the issuing body that issued the bundle.")
@click.option("--bundle", "bundle_hex", required=True, metavar="BUNDLE_ID_HEX",
              help="Id of the active bundle to withdraw, whole (64 hex digits).")
@click.option("--reason", required=True, help="Why, e.g. 'meter data correction'.")
@node_option
@wait_options
@nonce_option
@json_option
def withdraw_command(issuer_key: Path, bundle_hex: str, reason: str, node_url: str, wait: bool,
                     timeout_s: float, nonce: int | None, as_json: bool) -> None:
    """Withdraw a whole active bundle (its issuing body only); its status becomes withdrawn.

    A withdrawal is final. Retired, exported or split bundles cannot be withdrawn.
    """
    if not reason.strip():
        raise BadInput("--reason must not be empty")
    send = SendOptions(node_url, wait, timeout_s, nonce, as_json)
    answer, docs = send_bundle_tx(issuer_key, bundle_hex, None,
                                  lambda bundle_id: Withdraw(bundle_id, reason), "withdrawn",
                                  send)
    echo_bundles(answer, docs, as_json)


def export_statement(answer: Answer, docs: list[dict[str, Any]]) -> str:
    """Return how to obtain the export statement: the tx and its proofs (DESIGN §8).

    Parameters
    ----------
    answer:
        The export's verdict (its ``tx_id``).
    docs:
        The bundles it left, the exported piece first (``send_bundle_tx``).
    """
    exported = docs[0]
    if "device_id" not in exported:  # not committed yet: the first serial is not read back
        return (f"export statement: tx {answer['tx_id']} with the status proof of the "
                "exported bundle's first certificate, once committed")
    cert = f"{exported['device_id']}:{exported['serial_start']}"
    return (f"export statement: tx {answer['tx_id']} with its proofs: "
            f"`greenchain provenance {cert} -o export.gcproof` (history ending at the "
            f"export) and `greenchain status-proof {cert} -o export-status.gcproof`")


@click.command("to-registry")
@click.option("--key", "owner_key", required=True, type=KEY_FILE,
              help="The bundle owner's key file.")
@click.option("--bundle", "bundle_hex", required=True, metavar="BUNDLE_ID_HEX",
              help="Id of the active bundle to export from (64 hex digits).")
@click.option("--amount-wh", required=True, type=click.IntRange(1, UINT64_MAX),
              help="Wh to export; the bundle's low serials are exported.")
@click.option("--destination-registry", required=True, metavar="REGISTRY",
              help="Id of the receiving registry, e.g. AIB-NL.")
@click.option("--destination-account", default="", metavar="ACCOUNT",
              help="Account at the receiving registry (default: none given).")
@node_option
@wait_options
@nonce_option
@json_option
def export_to_registry_command(owner_key: Path, bundle_hex: str, amount_wh: int,
                               destination_registry: str, destination_account: str,
                               node_url: str, wait: bool, timeout_s: float, nonce: int | None,
                               as_json: bool) -> None:
    """Export AMOUNT Wh of a bundle to another registry (owner); print the export statement.

    The exported piece becomes final (``exported``); the transaction with its proof is
    the statement the receiving registry checks.
    """
    if not destination_registry.strip():
        raise BadInput("--destination-registry must not be empty")
    send = SendOptions(node_url, wait, timeout_s, nonce, as_json)
    answer, docs = send_bundle_tx(
        owner_key, bundle_hex, amount_wh,
        lambda bundle_id: Export(bundle_id, amount_wh, destination_registry,
                                 destination_account), "exported", send)
    statement = export_statement(answer, docs)
    echo_bundles(answer, docs, as_json, {"statement": statement})
    if not as_json:
        click.echo(statement)


def imported_bundle(client: NodeClient, device_id: str, tx_id: str) -> dict[str, Any] | None:
    """Return the bundle import `tx_id` issued to synthetic device `device_id`, if found.

    Raises
    ------
    NodeRefused, PeerError
        If the node refuses the listing or is unreachable.
    """
    for doc in fetch_all(client, "/v1/bundles", {"device": device_id}):
        if doc["issuance_tx"] == tx_id and not doc.get("parent"):
            return doc
    return None


def _import_body(source_registry: str, source_device: str, ext_start: int, ext_end: int,
                 owner: str, period: tuple[str, str], codes: dict[str, str],
                 emissions_factor: int | None) -> Import:
    """Return the Import body of the command's options, checked for shape."""
    if ext_end <= ext_start:
        raise BadInput(f"--ext-end ({ext_end}) must be above --ext-start ({ext_start})")
    start = parse_utc_time(period[0], "--period-start")
    end = parse_utc_time(period[1], "--period-end")
    if end <= start:
        raise BadInput("--period-end must be after --period-start")
    return Import(source_registry, source_device, ext_start, ext_end,
                  parse_public_key(owner, "--owner"), start, end, codes["energy_source"],
                  codes["technology"], parse_country(codes["country"]), codes["market_zone"],
                  codes["support"], codes["issuance_purpose"], emissions_factor)


@click.command("import")
@click.option("--issuer-key", required=True, type=KEY_FILE, help="The issuing body's key file.")
@click.option("--source-registry", required=True, metavar="REGISTRY",
              help="Id of the registry the certificates come from (no ':'), e.g. AIB-NL.")
@click.option("--source-device", required=True, metavar="ID",
              help="The device id at that registry.")
@click.option("--ext-start", required=True, type=click.IntRange(0, UINT64_MAX),
              help="First external certificate serial (Wh), inclusive.")
@click.option("--ext-end", required=True, type=click.IntRange(1, UINT64_MAX),
              help="External serial end (Wh), exclusive; the amount is end - start.")
@click.option("--owner", required=True, metavar="PUBHEX_OR_KEYFILE",
              help="Registered account receiving the imported bundle.")
@click.option("--period-start", required=True, metavar="ISO",
              help="Production period start, e.g. 2015-03-01T10:00:00Z.")
@click.option("--period-end", required=True, metavar="ISO",
              help="Production period end (exclusive), within the same UTC hour.")
@click.option("--energy-source", required=True, help="EECS energy source code, e.g. F01050100.")
@click.option("--technology", required=True, help="EECS technology code, e.g. T020001.")
@click.option("--country", required=True, help="Country of issuance (ISO 3166-1 alpha-2).")
@attribute_options
@node_option
@wait_options
@nonce_option
@json_option
def import_command(issuer_key: Path, source_registry: str, source_device: str, ext_start: int,
                   ext_end: int, owner: str, period_start: str, period_end: str,
                   energy_source: str, technology: str, country: str, market_zone: str,
                   support: str, issuance_purpose: str, emissions_factor: int | None,
                   node_url: str, wait: bool, timeout_s: float, nonce: int | None,
                   as_json: bool) -> None:
    """Import certificates of another registry (issuing body) as an ext: device's bundle.

    The range [EXT_START, EXT_END) of SOURCE_DEVICE at SOURCE_REGISTRY is issued once, as
    a bundle of device ext:SOURCE_REGISTRY:SOURCE_DEVICE owned by OWNER; importing any of
    it again is refused (already_imported).
    """
    codes = {"energy_source": energy_source, "technology": technology, "country": country,
             "market_zone": market_zone, "support": support,
             "issuance_purpose": issuance_purpose}
    body = _import_body(source_registry, source_device, ext_start, ext_end, owner,
                        (period_start, period_end), codes, emissions_factor)
    answer = send_signed(issuer_key, body, SendOptions(node_url, wait, timeout_s, nonce, as_json))
    device_id = compute_ext_device_id(source_registry, source_device)
    doc = None
    if answer["status"] == COMMITTED:
        doc = imported_bundle(NodeClient(node_url), device_id, str(answer["tx_id"]))
    if as_json:
        echo_json(answer | {"device_id": device_id, "bundle": doc})
    elif doc is not None:
        click.echo(role_bundle_line("imported", doc))
    else:
        click.echo(f"imported: a bundle of device {device_id} (once committed)")


def register(group: click.Group) -> None:
    """Attach ``withdraw`` and ``import`` to `group`, ``to-registry`` to its ``export`` group.

    Call it after `greenchain.cli.commands.register`, which adds the ``export`` group.
    """
    group.add_command(withdraw_command)
    group.add_command(import_command)
    export_group = group.commands["export"]
    assert isinstance(export_group, click.Group), "export"
    export_group.add_command(export_to_registry_command)

"""Reading certificates: ``bundles``, ``cert show``, ``provenance`` and offline ``verify``.

``verify`` needs no node: it checks a provenance proof file with ``genesis.json`` alone
(DESIGN §8) and exits 0 when valid, 5 naming the first failing step otherwise.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import click

from greenchain.cli.client import NodeClient
from greenchain.cli.commands import echo_json, json_option, node_option
from greenchain.cli.keys import parse_public_key
from greenchain.errors import BadInput, DecodeError, ProofError
from greenchain.model.genesis import load_genesis
from greenchain.proof.verify import verify_provenance

EXIT_VERIFY = 5
"""Exit code of a proof that fails verification (as ``greenchain.cli.main``)."""
PAGE_LIMIT = 500
BUNDLE_KEYS = ("bundle_id", "device_id", "serial_start", "serial_end", "quantity_wh", "period",
               "owner", "status", "issuance_tx", "issuance_height")
"""Fields of a bundle as the API renders it (``greenchain.model.views.bundle_json``)."""


def parse_certificate_id(text: str) -> tuple[str, int]:
    """Split ``DEVICE:SERIAL`` (the global certificate id, DESIGN §2).

    Raises
    ------
    BadInput
        If there is no device part or the serial is not a non-negative integer.
    """
    device_id, _, serial = text.rpartition(":")
    if not device_id or not serial.isascii() or not serial.isdigit():
        raise BadInput(f"certificate id must be DEVICE:SERIAL, got {text!r}", value=text)
    return device_id, int(serial)


def certificate_path(prefix: str, text: str) -> str:
    """Return the API path of a certificate, the device id URL-quoted."""
    device_id, serial = parse_certificate_id(text)
    return f"{prefix}/{urllib.parse.quote(device_id, safe='')}:{serial}"


def bundle_line(doc: dict[str, Any]) -> str:
    """Return one line describing a bundle as the API renders it."""
    return (f"{doc['bundle_id']} {doc['device_id']}:[{doc['serial_start']}, "
            f"{doc['serial_end']}) {doc['quantity_wh']} Wh {doc['period']} {doc['status']}")


def list_owner_bundles(client: NodeClient, owner: bytes) -> list[dict[str, Any]]:
    """Return every active bundle of `owner`, following the API's ``next`` cursor."""
    found: list[dict[str, Any]] = []
    after = ""
    while True:
        page = client.get_object(f"/v1/bundles?owner={owner.hex()}&limit={PAGE_LIMIT}"
                                 + (f"&after={after}" if after else ""), "bundles")
        found += page["bundles"]
        after = page.get("next") or ""
        if not after or not page["bundles"]:
            return found


@click.command("bundles")
@click.option("--owner", required=True, metavar="PUBHEX_OR_KEYFILE",
              help="Account whose active bundles to list: 64 hex digits or a key file.")
@node_option
@json_option
def bundles_command(owner: str, node_url: str, as_json: bool) -> None:
    """List the active bundles of an account (id, device:[serials), Wh, period, status)."""
    owner_key = parse_public_key(owner, "--owner")
    bundles = list_owner_bundles(NodeClient(node_url), owner_key)
    total = sum(int(b["quantity_wh"]) for b in bundles)
    if as_json:
        echo_json({"owner": owner_key.hex(), "bundles": bundles, "total_wh": total})
        return
    for doc in bundles:
        click.echo(bundle_line(doc))
    click.echo(f"{len(bundles)} active bundles, {total} Wh")


@click.group("cert")
def cert_group() -> None:
    """Look up certificates by their global id DEVICE:SERIAL."""


@cert_group.command("show")
@click.argument("certificate")
@node_option
@json_option
def cert_show(certificate: str, node_url: str, as_json: bool) -> None:
    """Show the bundle holding CERTIFICATE (DEVICE:SERIAL): owner, status, claim."""
    doc = NodeClient(node_url).get_object(certificate_path("/v1/certificates", certificate),
                                          *BUNDLE_KEYS)
    if as_json:
        echo_json(doc)
        return
    click.echo(f"certificate {certificate} is in bundle {bundle_line(doc)}")
    click.echo(f"  owner {doc['owner']}, issued by tx {doc['issuance_tx']} at height "
               f"{doc['issuance_height']}")
    claim = doc.get("retirement")
    if claim:
        click.echo(f"  retired for {claim['beneficiary']!r}, purpose {claim['purpose']!r}, "
                   f"country {claim['country']}, at height {claim['height']}")


@click.command("provenance")
@click.argument("certificate")
@node_option
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Proof file to write (e.g. proof.gcproof).")
def provenance_command(certificate: str, node_url: str, out: Path) -> None:
    """Fetch the provenance proof of CERTIFICATE (DEVICE:SERIAL) into a file."""
    data = NodeClient(node_url).get_bytes(
        certificate_path("/v1/proofs/provenance", certificate))
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror}", path=str(out)) from exc
    click.echo(f"wrote {len(data)} bytes to {out}")


@click.command("verify")
@click.argument("proof", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--genesis", "genesis_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False), help="The chain's genesis.json.")
@json_option
def verify_command(proof: Path, genesis_path: Path, as_json: bool) -> None:
    """Verify a provenance proof offline with genesis alone (exit 0 valid, 5 invalid)."""
    genesis = load_genesis(genesis_path)
    try:
        data = proof.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read proof file {proof}: {exc.strerror}",
                       path=str(proof)) from exc
    try:
        report = verify_provenance(data, genesis)
    except (ProofError, DecodeError) as exc:
        step = str(getattr(exc, "step", "decoding"))
        if as_json:
            echo_json({"valid": False, "step": step, "rule": exc.rule, "message": exc.message})
        click.echo(f"error: {exc.rule}: {step}: {exc.message}", err=True)
        raise click.exceptions.Exit(EXIT_VERIFY) from exc
    if as_json:
        click.echo(report.to_json())
    else:
        click.echo(report.render_text(), nl=False)

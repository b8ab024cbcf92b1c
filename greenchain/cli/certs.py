"""Reading certificates: ``cert show``, ``provenance``, ``status-proof`` and offline ``verify``.

``verify`` needs no node: it checks a provenance or status proof file (told apart by its
format tag) with ``genesis.json`` alone (DESIGN §8) and exits 0 when valid, 5 naming the
first failing step otherwise.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import click

from greenchain.cli.client import NodeClient
from greenchain.cli.commands import echo_json, json_option, node_option
from greenchain.errors import BadInput, DecodeError, ProofError
from greenchain.model.genesis import Genesis, load_genesis
from greenchain.proof.report import ProvenanceReport
from greenchain.proof.status import verify_status_proof
from greenchain.proof.status_format import StatusReport, is_status_proof_file
from greenchain.proof.verify import verify_provenance

EXIT_VERIFY = 5
"""Exit code of a proof that fails verification (as ``greenchain.cli.main``)."""
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
    fetch_proof_file(node_url, "/v1/proofs/provenance", certificate, out)


@click.command("status-proof")
@click.argument("certificate")
@node_option
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Proof file to write (e.g. status.gcproof).")
def status_proof_command(certificate: str, node_url: str, out: Path) -> None:
    """Fetch the current status proof of CERTIFICATE (DEVICE:SERIAL) into a file.

    The proof shows the certificate's bundle, owner, status and plant as of the node's
    latest committed block (DESIGN §8); ``verify`` checks it offline.
    """
    fetch_proof_file(node_url, "/v1/proofs/status", certificate, out)


def fetch_proof_file(node_url: str, prefix: str, certificate: str, out: Path) -> None:
    """Fetch a proof file from the node's route `prefix` and write it to `out`.

    Raises
    ------
    BadInput
        If the certificate id is malformed or `out` cannot be written.
    NodeRefused, PeerError
        If the node refuses (e.g. ``not_found``) or is unreachable.
    """
    data = NodeClient(node_url).get_bytes(certificate_path(prefix, certificate))
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror}", path=str(out)) from exc
    click.echo(f"wrote {len(data)} bytes to {out}")


def verify_proof_file(data: bytes, genesis: Genesis) -> ProvenanceReport | StatusReport:
    """Verify a proof file of either kind, told apart by its format tag (DESIGN §8).

    Raises
    ------
    DecodeError, ProofError
        As `verify_status_proof` or `verify_provenance`; a file that is not a status
        proof is read as a provenance proof, whose decoder names a wrong tag.
    """
    if is_status_proof_file(data):
        return verify_status_proof(data, genesis)
    return verify_provenance(data, genesis)


@click.command("verify")
@click.argument("proof", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--genesis", "genesis_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False), help="The chain's genesis.json.")
@json_option
def verify_command(proof: Path, genesis_path: Path, as_json: bool) -> None:
    """Verify a provenance or status proof offline with genesis alone (exit 0 valid, 5 invalid)."""
    genesis = load_genesis(genesis_path)
    try:
        data = proof.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read proof file {proof}: {exc.strerror}",
                       path=str(proof)) from exc
    try:
        report = verify_proof_file(data, genesis)
    except (ProofError, DecodeError) as exc:
        step = str(getattr(exc, "step", "decoding"))
        if as_json:
            echo_json({"valid": False, "step": step, "rule": exc.rule, "message": exc.message})
        click.echo(f"error: {exc.rule}: {step}: {exc.message}", err=True)
        raise click.exceptions.Exit(EXIT_VERIFY) from exc
    if as_json:
        echo_json({"valid": True, **report.to_dict()})
    else:
        click.echo(report.render_text(), nl=False)

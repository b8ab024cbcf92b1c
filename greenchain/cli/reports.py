"""``greenchain report matching`` (hourly 24/7 CFE matching) and ``greenchain statement``.

Both start from the bundles retired for a beneficiary (``GET /v1/retirements``). The
computations live in `greenchain.reports`; this module fetches, writes files and prints.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

import click

from greenchain.cli.client import NodeClient
from greenchain.cli.commands import echo_json, json_option, node_option
from greenchain.cli.queries import fetch_all, period_options
from greenchain.cli.txcmds import parse_utc_time
from greenchain.errors import BadInput
from greenchain.meter import read_consumption_csv
from greenchain.model.genesis import load_genesis
from greenchain.model.views import mwh_text
from greenchain.reports.matching import MatchingResult, compute_matching, generation_by_hour
from greenchain.reports.plot import plot_matching  # imports matplotlib only when drawing
from greenchain.reports.statement import Statement, render_statement_html, statement_line

FILE = click.Path(path_type=Path, dir_okay=False)
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


# --- helpers shared with the export command ----------------------------------------------
def issuing_body_names(genesis_path: Path | None) -> dict[str, str]:
    """Return issuing body key (hex) -> name from a genesis file ({} without one).

    Raises
    ------
    ConfigError
        If the genesis file cannot be read.
    """
    if genesis_path is None:
        return {}
    return {body.pubkey.hex(): body.name for body in load_genesis(genesis_path).issuing_bodies}


class DeviceRecords:
    """``GET /v1/devices/{id}`` answers, each fetched once."""

    def __init__(self, client: NodeClient) -> None:
        self.client = client
        self.records: dict[str, dict[str, Any]] = {}

    def get(self, device_id: str) -> dict[str, Any]:
        """Return the device's JSON record.

        Raises
        ------
        NodeRefused, PeerError
            If the node does not know it or cannot be reached.
        """
        if device_id not in self.records:
            path = f"/v1/devices/{urllib.parse.quote(device_id, safe='')}"
            self.records[device_id] = self.client.get_object(
                path, "device_name", "country", "technology", "issuing_body")
        return self.records[device_id]


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path`, creating its folder.

    Raises
    ------
    BadInput
        If the file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}", path=str(path)) from exc


def proof_file_name(device_id: str, serial: int) -> str:
    """Return a safe file name for the proof of certificate ``device_id:serial``.

    A device id with characters unsafe in file names gets them replaced and a short hash
    of the id appended, so two devices never share a file.
    """
    safe = _UNSAFE_NAME.sub("_", device_id)
    if safe != device_id:
        safe += "-" + hashlib.sha256(device_id.encode()).hexdigest()[:8]
    return f"{safe}_{serial}.gcproof"


def save_proof(client: NodeClient, bundle: dict[str, Any], folder: Path, base: Path) -> str:
    """Download the provenance proof of a bundle's first certificate into `folder`.

    Returns
    -------
    str
        The file's path relative to `base` (``/``-separated), for a link.

    Raises
    ------
    NodeRefused, PeerError, BadInput
        If the node cannot build it, cannot be reached, or the file cannot be written.
    """
    device_id, serial = str(bundle["device_id"]), int(bundle["serial_start"])
    proof = folder / proof_file_name(device_id, serial)
    cert = f"{urllib.parse.quote(device_id, safe='')}:{serial}"
    write_file(proof, client.get_bytes(f"/v1/proofs/provenance/{cert}"))
    return Path(os.path.relpath(proof, base)).as_posix()


# --- report matching ---------------------------------------------------------------------
@click.group("report")
def report_group() -> None:
    """Report on the certificates retired for a beneficiary."""


@report_group.command("matching")
@click.option("--beneficiary", required=True, help="Whose retired certificates to match.")
@click.option("--consumption-csv", required=True, type=FILE,
              help="Hourly consumption: timestamp_utc (hour start), energy_kwh.")
@period_options
@click.option("--plot", "plot_path", type=FILE, help="Also draw the hours into this PNG.")
@node_option
@json_option
def matching_command(beneficiary: str, consumption_csv: Path, period_from: str | None,
                     period_to: str | None, plot_path: Path | None, node_url: str,
                     as_json: bool) -> None:
    """Match retired certificates to consumption hour by hour (EnergyTag, 24/7 CFE).

    Each certificate counts only for the UTC hour it was produced in; the CFE score is
    the sum over hours of min(generation, consumption) over total consumption.
    """
    start = parse_utc_time(period_from, "--from") if period_from else None
    end = parse_utc_time(period_to, "--to") if period_to else None
    consumption = read_consumption_csv(consumption_csv)
    params = {"beneficiary": beneficiary}
    params |= {"from": str(start)} if start is not None else {}
    params |= {"to": str(end)} if end is not None else {}
    bundles = fetch_all(NodeClient(node_url), "/v1/retirements", params)
    generation = generation_by_hour((int(b["period_start"]), int(b["quantity_wh"]))
                                    for b in bundles)
    result = compute_matching(generation, consumption, start, end)
    if plot_path is not None:
        score = result.cfe_score
        title = f"{beneficiary}: hourly matching" + (
            "" if score is None else f", CFE score {score:.2%}")
        plot_matching(result, plot_path, title)
    if as_json:
        echo_json(result.to_dict() | {"beneficiary": beneficiary, "bundles": len(bundles),
                                      "plot": None if plot_path is None else str(plot_path)})
        return
    for line in matching_lines(beneficiary, result, len(bundles)):
        click.echo(line)
    if plot_path is not None:
        click.echo(f"plot: {plot_path}")


def matching_lines(beneficiary: str, result: MatchingResult, bundle_count: int) -> list[str]:
    """Return the text report of an hourly match."""
    doc = result.to_dict()
    score = result.cfe_score
    lines = [
        f"hourly matching for {beneficiary!r}: {doc['hours']} hours"
        + (f", {doc['from']} to {doc['to']}" if doc["from"] else ""),
        f"consumption: {result.consumption_wh} Wh ({mwh_text(result.consumption_wh)} MWh)",
        f"retired generation: {result.generation_wh} Wh ({mwh_text(result.generation_wh)} "
        f"MWh) in {bundle_count} bundles",
        f"matched: {result.matched_wh} Wh; CFE score "
        + ("n/a (no consumption)" if score is None else f"{score:.2%}"),
        f"unmatched hours: {result.unmatched_hours} of {doc['hours']} "
        f"({result.unmatched_wh} Wh not covered)",
        f"surplus: {result.surplus_wh} Wh (generation above its own hour's consumption)",
    ]
    if result.hours_without_consumption_data:
        lines.append(f"hours with generation but no consumption data: "
                     f"{result.hours_without_consumption_data}")
    return lines


# --- statement ---------------------------------------------------------------------------
@click.command("statement")
@click.option("--beneficiary", required=True, help="Whose retired certificates to list.")
@node_option
@click.option("-o", "--out", required=True, type=FILE, help="The HTML file to write.")
@click.option("--proofs-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where to save the proof files (default: <OUT name>-proofs beside OUT).")
@click.option("--genesis", "genesis_path", type=FILE,
              help="The chain's genesis.json, to name issuing bodies (default: their keys).")
@json_option
def statement_command(beneficiary: str, node_url: str, out: Path, proofs_dir: Path | None,
                      genesis_path: Path | None, as_json: bool) -> None:
    """Write an HTML retirement statement with one proof file per line.

    Lists every bundle retired for the beneficiary up to the node's current block,
    downloads the provenance proof of each bundle's first certificate and links it.
    """
    client = NodeClient(node_url)
    names = issuing_body_names(genesis_path)
    status = client.status()  # first: lines are cut at this height, so "as of" is exact
    height = int(status["height"])
    retired = [b for b in fetch_all(client, "/v1/retirements", {"beneficiary": beneficiary})
               if int(b["retirement"]["height"]) <= height]
    folder = proofs_dir if proofs_dir is not None else out.parent / f"{out.stem}-proofs"
    devices = DeviceRecords(client)
    lines = [statement_line(bundle, devices.get(str(bundle["device_id"])), names,
                            save_proof(client, bundle, folder, out.parent))
             for bundle in retired]
    statement = Statement(beneficiary, str(status["chain_id"]), height,
                          int(status.get("time_ms") or 0), tuple(lines))
    write_file(out, render_statement_html(statement).encode())
    summary = {"beneficiary": beneficiary, "statement": str(out), "proofs_dir": str(folder),
               "lines": len(lines), "total_wh": statement.total_wh, "height": height}
    if as_json:
        echo_json(summary)
        return
    click.echo(f"wrote {out}: {len(lines)} lines, {statement.total_wh} Wh "
               f"({mwh_text(statement.total_wh)} MWh) as of block {height}; "
               f"proofs in {folder}")

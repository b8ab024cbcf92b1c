"""``greenchain export bundles``: bundles as EnergyTag granular certificate bundles.

The field mapping is documented in `greenchain.reports.energytag`. JSON is an array with
one object per bundle; CSV has the same columns. Split bundles (kept only for lineage)
are never exported: their pieces are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from greenchain.cli.client import NodeClient
from greenchain.cli.commands import echo_json, json_option, node_option
from greenchain.cli.keys import parse_public_key
from greenchain.cli.queries import fetch_all
from greenchain.cli.reports import FILE, DeviceRecords, issuing_body_names, write_file
from greenchain.model.certificates import SPLIT
from greenchain.reports.energytag import energytag_bundle, records_csv


class BlockTimes:
    """Block times (UTC seconds) by height, each header fetched once."""

    def __init__(self, client: NodeClient) -> None:
        self.client = client
        self.times: dict[int, int] = {}

    def get(self, height: int) -> int:
        """Return the time of the block at `height`, UTC seconds.

        Raises
        ------
        NodeRefused, PeerError
            If the node does not have it or cannot be reached.
        """
        if height not in self.times:
            header = self.client.get_object(f"/v1/blocks/{height}", "timestamp_ms")
            self.times[height] = int(header["timestamp_ms"]) // 1000
        return self.times[height]


def select_bundles(client: NodeClient, owner: str | None, device_id: str | None,
                   beneficiary: str | None) -> list[dict[str, Any]]:
    """Return the bundles to export, as the client API renders them.

    An owner's bundles (active and expired), a device's leaf (not split) bundles, or
    the bundles retired for a beneficiary.

    Raises
    ------
    click.UsageError
        Unless exactly one selector is given.
    BadInput
        If the owner is not a public key or key file.
    """
    chosen = [name for name, value in (("--owner", owner), ("--device", device_id),
                                       ("--beneficiary", beneficiary)) if value]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --owner, --device, --beneficiary")
    if owner:
        return fetch_all(client, "/v1/bundles",
                         {"owner": parse_public_key(owner, "--owner").hex()})
    if device_id:
        return [b for b in fetch_all(client, "/v1/bundles", {"device": device_id})
                if b["status"] != SPLIT]
    return fetch_all(client, "/v1/retirements", {"beneficiary": str(beneficiary)})


@click.group("export")
def export_group() -> None:
    """Export certificates in standard formats."""


@export_group.command("bundles")
@click.option("--owner", metavar="PUBHEX_OR_KEYFILE",
              help="An account's bundles (active and expired).")
@click.option("--device", "device_id", metavar="ID",
              help="A device's bundles, any status (split ones left out).")
@click.option("--beneficiary", help="The bundles retired for a beneficiary.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True, help="EnergyTag-style JSON array, or CSV.")
@click.option("-o", "--out", required=True, type=FILE, help="The file to write.")
@click.option("--genesis", "genesis_path", type=FILE,
              help="The chain's genesis.json, to name issuing bodies (default: their keys).")
@node_option
@json_option
def export_bundles_command(owner: str | None, device_id: str | None, beneficiary: str | None,
                           fmt: str, out: Path, genesis_path: Path | None, node_url: str,
                           as_json: bool) -> None:
    """Export bundles as EnergyTag granular certificate bundles (JSON or CSV)."""
    client = NodeClient(node_url)
    names = issuing_body_names(genesis_path)
    bundles = select_bundles(client, owner, device_id, beneficiary)
    devices, blocks = DeviceRecords(client), BlockTimes(client)
    # A bundle that carries its issuance date needs no block header.
    records = [energytag_bundle(b, devices.get(str(b["device_id"])), names,
                                None if b.get("issuance_date")
                                else blocks.get(int(b["issuance_height"])))
               for b in bundles]
    if fmt == "csv":
        data = records_csv(records).encode()
    else:
        data = (json.dumps(records, indent=2, ensure_ascii=False) + "\n").encode()
    write_file(out, data)
    total = sum(int(r["bundle_quantity"]) for r in records)
    if as_json:
        echo_json({"file": str(out), "format": fmt, "bundles": len(records), "total_wh": total})
        return
    click.echo(f"wrote {len(records)} bundles ({total} Wh) to {out} as {fmt}")

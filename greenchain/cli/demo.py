"""``greenchain demo``: a 4-validator network certifying real wind-farm meter data.

Starts the dev network's 4 validators as separate processes on 127.0.0.1 (free ports,
fresh data directories and sign-state files in a temporary folder), runs the demo steps
(`demo_flow`), checks that all nodes agree, stops them cleanly and prints a summary;
with ``--json`` the last line of stdout is one JSON object.
"""

from __future__ import annotations

import json
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from greenchain.cli.client import NodeClient
from greenchain.cli.demo_flow import (
    BENEFICIARY,
    LA_HAUTE_BORNE,
    Demo,
    DemoResult,
    Plant,
    check_tampered,
)
from greenchain.cli.localnet import LocalNetwork
from greenchain.errors import DemoFailed, GreenChainError
from greenchain.meter import (
    CONSUMPTION_SAMPLE,
    WIND_SAMPLE,
    MeterReading,
    read_consumption_csv,
    read_meter_csv,
    sample_path,
)
from greenchain.model.views import mwh_text
from greenchain.node.devnet import dev_genesis
from greenchain.reports.matching import MatchingResult, hour_of

AGREE_TIMEOUT_S = 30.0


def load_rows(meter_csv: Path | None, device_column: str | None, device: str | None,
              interval_s: int, capacity_w: int | None,
              country: str) -> tuple[MeterReading, Plant]:
    """Read the shipped wind sample, or a user's file, and the plant to register."""
    if meter_csv is None:
        reading = read_meter_csv(sample_path("wind"), device_column="turbine_id",
                                 interval_s=600)
        return reading, LA_HAUTE_BORNE
    if (device_column is None) == (device is None):
        raise click.UsageError("with --meter-csv give exactly one of --device-column, --device")
    reading = read_meter_csv(meter_csv, device_column=device_column, device=device,
                             interval_s=interval_s)
    ids = sorted({row.device_id for row in reading.rows})
    plant = Plant(meter_csv.stem, {i: (0, 0) for i in ids}, capacity_w or 2_050_000, country)
    return reading, plant


def nodes_agree(net: LocalNetwork) -> tuple[bool, int]:
    """Wait until all nodes report one height and app_hash; return (agree, height)."""
    deadline = time.monotonic() + AGREE_TIMEOUT_S
    while True:
        statuses = [net.status(i) for i in range(len(net.homes))]
        tips = {(s["height"], s["app_hash"]) for s in statuses}
        if len(tips) == 1:
            return True, int(statuses[0]["height"])
        if time.monotonic() > deadline:
            return False, max(int(s["height"]) for s in statuses)
        time.sleep(0.1)


def demand_for(reading: MeterReading, consumption: dict[int, int]) -> dict[int, int]:
    """Return the hourly demand (hour start UTC s -> Wh) the demo buys certificates for.

    The consumption series where it overlaps the production hours; otherwise (another
    plant's data, other dates) half of each hour's output.
    """
    produced: dict[int, int] = {}
    for row in reading.rows:
        hour = hour_of(row.period_start)
        produced[hour] = produced.get(hour, 0) + row.energy_wh
    if any(hour in consumption for hour in produced):
        return consumption
    return {hour: wh // 2 for hour, wh in produced.items()}


def matching_line(matching: MatchingResult) -> str:
    """Return a one-line summary of a matching result."""
    score = matching.cfe_score
    share = "n/a" if score is None else f"{score:.1%}"
    return (f"CFE score {share} over {len(matching.hours)} hours; consumption "
            f"{mwh_text(matching.consumption_wh)}, matched {mwh_text(matching.matched_wh)}, "
            f"{matching.unmatched_hours} hours not fully matched")


def run_demo(reading: MeterReading, plant: Plant, consumption: dict[int, int],
             plot: Path | None, log: Any) -> dict[str, Any]:
    """Run the whole demo on a fresh local network; return the summary dict."""
    started = time.monotonic()
    genesis = dev_genesis(4)
    result = DemoResult()
    with tempfile.TemporaryDirectory(prefix="greenchain-demo-") as tmp, \
            LocalNetwork(Path(tmp), genesis) as net:
        log(f"starting 4 validators on 127.0.0.1 ports {[h.port for h in net.homes]}")
        net.start_all()
        demo = Demo(NodeClient(net.urls[0]), genesis, log)
        demo.register(plant)
        demo.attest(reading.rows, result)
        retired_piece = demo.procure_hourly(demand_for(reading, consumption), result)
        matching = demo.match(consumption, plot, result)
        demo.withdraw_and_export(result)
        log(f"hourly matching: {matching_line(matching)}")
        proof = demo.prove(retired_piece, result)
        check_tampered(proof, genesis, result)
        log(f"tampered proof rejected: {result.tampered_proof_rejected} "
            f"(failing step: {result.tampered_step})")
        agree, height = nodes_agree(net)
        codes = net.stop_all()
        log(f"nodes stopped cleanly: {all(c == 0 for c in codes)}")
    return {
        "validators": len(genesis.validators),
        "final_height": height,
        "attestations_accepted": result.attestations_accepted,
        "attestations_rejected": result.attestations_rejected,
        "rows_skipped": reading.skipped,
        "issued_wh": result.issued_wh,
        "transferred_wh": result.transferred_wh,
        "withdrawn_wh": result.withdrawn_wh,
        "exported_wh": result.exported_wh,
        "retired_wh": result.retired_wh,
        "proof_certificate": result.proof_certificate,
        "proof_verified": result.proof_verified,
        "tampered_proof_rejected": result.tampered_proof_rejected,
        "nodes_agree": agree,
        "elapsed_s": round(time.monotonic() - started, 1),
        "tx_per_s": result.tx_per_s,
        "cfe_score": result.cfe_score,
        "matching_plot": result.matching_plot,
        "_proof_text": result.proof_text,
    }


def render_summary(summary: dict[str, Any]) -> str:
    """Return the human summary of a demo run."""
    mwh = summary["issued_wh"] / 1e6
    lines = [
        "",
        summary["_proof_text"],
        "",
        f"GreenChain demo: {summary['validators']} validators, final height "
        f"{summary['final_height']}, nodes agree: {summary['nodes_agree']}",
        f"  attestations accepted {summary['attestations_accepted']}, refused by the ledger "
        f"{summary['attestations_rejected'] or 'none'}",
        f"  rows skipped {summary['rows_skipped']}",
        f"  issued {summary['issued_wh']} Wh ({mwh:.3f} MWh), transferred "
        f"{summary['transferred_wh']} Wh, retired {summary['retired_wh']} Wh, withdrawn "
        f"{summary['withdrawn_wh']} Wh, exported {summary['exported_wh']} Wh",
        f"  proof of {summary['proof_certificate']}: verified {summary['proof_verified']}, "
        f"tampered copy rejected {summary['tampered_proof_rejected']}",
        f"  hourly matching for {BENEFICIARY} (illustrative: plant in FR, consumer in GB): "
        f"CFE score {_percent(summary['cfe_score'])}, "
        f"plot {summary['matching_plot'] or 'not drawn'}",
        f"  {summary['elapsed_s']} s in all, {summary['tx_per_s']} attestations/s",
    ]
    return "\n".join(lines)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.command("demo")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of figures.")
@click.option("--meter-csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=f"Another plant's meter CSV (default: the shipped {WIND_SAMPLE}).")
@click.option("--device-column", help="Column holding the device id (with --meter-csv).")
@click.option("--device", help="One device id for every row (with --meter-csv).")
@click.option("--interval-s", default=600, show_default=True, help="Production period, s.")
@click.option("--capacity-w", type=int,
              help="Capacity of each device, W (with --meter-csv; default 2,050,000).")
@click.option("--country", default="FR", show_default=True,
              help="Country of the devices (with --meter-csv), ISO 3166-1 alpha-2.")
@click.option("--consumption-csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=f"Hourly consumption of the buyer (default: the shipped {CONSUMPTION_SAMPLE}).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("greenchain-demo-matching.png"), show_default=True,
              help="Where to draw the hourly matching chart (PNG).")
def demo_command(as_json: bool, meter_csv: Path | None, device_column: str | None,
                 device: str | None, interval_s: int, capacity_w: int | None,
                 country: str, consumption_csv: Path | None, plot: Path) -> None:
    """Run 4 validators on 127.0.0.1 and certify a wind farm's real meter data end to end."""
    if meter_csv is None and (device_column or device or capacity_w):
        raise click.UsageError("--device-column, --device and --capacity-w go with --meter-csv")
    reading, plant = load_rows(meter_csv, device_column, device, interval_s, capacity_w,
                               country.upper())
    consumption = read_consumption_csv(consumption_csv or sample_path("consumption"))

    def log(message: str) -> None:
        click.echo(f"[demo] {message}", err=True)

    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the nodes are stopped.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        summary = run_demo(reading, plant, consumption, plot, log)
    except GreenChainError as exc:
        raise DemoFailed(f"{exc.rule}: {exc.message}") from exc
    click.echo(render_summary(summary))
    if as_json:
        click.echo(json.dumps({k: v for k, v in summary.items() if not k.startswith("_")}))
    ok = summary["nodes_agree"] and summary["proof_verified"] and \
        summary["tampered_proof_rejected"]
    if not ok:
        raise SystemExit(1)


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"

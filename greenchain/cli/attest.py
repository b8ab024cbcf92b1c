"""``greenchain attest``: a meter CSV into device-signed attestations (DESIGN §3).

Rows are read with `greenchain.meter.read_meter_csv`, signed in file order and sent in
batches, one batch after another, to one node (DESIGN §3: a batch is admitted item by
item in its order). Each refusal is counted by the rule the node names; refusals by
ledger rules are a normal outcome (exit 0), reported, never retried, unless every row was
refused (exit 1). Bad input and an unreachable node are errors (exit 3 and 4).

Each attestation's nonce is the row's line number in the file, so signing the same file
again gives the same transaction ids: a re-run is answered ``committed`` or ``pending``
for what the ledger already holds (a safe retry), and no Wh is issued twice.

With ``--register-start-column`` and ``--register-end-column`` each attestation also
carries the meter's cumulative register readings at the period's start and end (kWh in
the file, whole Wh on the ledger); the ledger checks that they never decrease and differ
by the period's energy (DESIGN §3). An empty reading is sent as absent.
"""

from __future__ import annotations

import contextlib
import csv
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from greenchain.cli.client import COMMITTED, PENDING, Answer, NodeClient
from greenchain.cli.commands import echo_json, json_option, node_option
from greenchain.cli.keys import load_signing_key
from greenchain.crypto.keys import KeyPair
from greenchain.errors import MeterError
from greenchain.meter import MeterReading, MeterRow, attestation_txs, read_meter_csv
from greenchain.model.transactions import Attest, Tx, make_tx
from greenchain.params import MAX_BLOCK_TXS, MAX_PERIOD_S

DEFAULT_WAIT_S = 120.0
ACCEPTED = (PENDING, COMMITTED)
MAX_REGISTER_TEXT = 40  # characters; bounds the work of exact decimal arithmetic
_REGISTER_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)

Readings = Mapping[int, tuple[int | None, int | None]]
"""Register readings at period start and end (Wh, None if empty) by the row's line number."""


def parse_register_wh(text: str) -> int | None:
    """Return a cumulative register reading in kWh as whole Wh, exactly; None if empty.

    Raises
    ------
    MeterError
        If the text is not plain non-negative decimal kWh or is not a whole number of Wh.
    """
    if text == "":
        return None
    if len(text) > MAX_REGISTER_TEXT or not _REGISTER_TEXT.fullmatch(text):
        raise MeterError(f"register reading is not plain non-negative decimal kWh: "
                         f"{text[:50]!r}", text=text)
    wh = Decimal(text) * 1000
    # The ledger compares readings with the energy exactly: no rounding of a reading.
    if wh != wh.to_integral_value():
        raise MeterError(f"register reading {text} kWh is not a whole number of Wh", text=text)
    return int(wh)


def read_register_readings(path: Path, start_column: str, end_column: str) -> dict[
        int, tuple[int | None, int | None]]:
    """Read the register columns of a meter CSV that `read_meter_csv` has accepted.

    Lines are counted as `read_meter_csv` counts them (a row's first line), so the
    readings match `MeterRow.line_no`.

    Parameters
    ----------
    path:
        The meter CSV file (UTF-8, header row).
    start_column, end_column:
        Columns holding the cumulative register readings at the period start and end, kWh.

    Returns
    -------
    dict[int, tuple[int | None, int | None]]
        (start, end) in Wh by line number; None for an empty cell.

    Raises
    ------
    MeterError
        If a column is missing, the file is unreadable, or a reading is malformed
        (names the file and line).
    """
    readings: dict[int, tuple[int | None, int | None]] = {}
    try:
        with path.open("rb") as handle:
            lines = (raw.decode("utf-8").removeprefix("\ufeff") for raw in handle)
            reader = csv.reader(lines, strict=True)
            header = next(reader, [])
            columns = [_column_index(header, name, path) for name in (start_column, end_column)]
            last_line = reader.line_num
            for cells in reader:  # a row's line is the line after the previous row's last
                line_no, last_line = last_line + 1, reader.line_num
                readings[line_no] = _row_reading(cells, columns, path, line_no)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MeterError(f"cannot read register readings of {path}: {exc}",
                         path=str(path)) from exc
    return readings


def _column_index(header: list[str], name: str, path: Path) -> int:
    if name not in header:
        raise MeterError(f"{path}: line 1: missing register column {name!r}", path=str(path))
    return header.index(name)


def _row_reading(cells: list[str], columns: list[int], path: Path,
                 line_no: int) -> tuple[int | None, int | None]:
    try:
        return parse_register_wh(cells[columns[0]]), parse_register_wh(cells[columns[1]])
    except MeterError as exc:
        raise MeterError(f"{path}: line {line_no}: {exc.message}", path=str(path),
                         line_no=line_no) from exc


def signed_attestations(rows: Sequence[MeterRow], key: KeyPair, chain_id: str,
                        readings: Readings | None = None) -> Iterator[Tx]:
    """Sign one attestation per row; its nonce is the row's line number (stable ids).

    Parameters
    ----------
    rows:
        The meter rows (Wh, UTC seconds).
    key:
        The meter gateway's attestation key.
    chain_id:
        The chain the transactions are for.
    readings:
        Register readings by line number (`read_register_readings`), or None to send
        none.
    """
    for row in rows:
        if readings is None:
            yield from attestation_txs([row], key, chain_id, nonce_base=row.line_no)
            continue
        start_wh, end_wh = readings.get(row.line_no, (None, None))
        body = Attest(row.device_id, row.period_start, row.period_end, row.energy_wh,
                      start_wh, end_wh)
        yield make_tx(key, chain_id, body, row.line_no)


def submit_in_batches(client: NodeClient, txs: Sequence[Tx], batch_size: int,
                      advance: Callable[[int], None]) -> list[Answer]:
    """Send `txs` in batches of `batch_size`, one after another; return one verdict each."""
    verdicts: list[Answer] = []
    for first in range(0, len(txs), batch_size):
        batch = txs[first:first + batch_size]
        verdicts += client.submit_batch([tx.raw for tx in batch])
        advance(len(batch))
    return verdicts


def summarize(reading: MeterReading, verdicts: Sequence[Answer],
              finals: dict[str, Answer] | None) -> dict[str, Any]:
    """Return the run's summary: rows, skips, verdicts by rule, Wh; commits if waited.

    Parameters
    ----------
    reading:
        The meter file as read (rows with positive energy, skip counts).
    verdicts:
        The node's verdict of each row at submission, in row order.
    finals:
        Final status by tx id (hex) of the rows admitted as pending, or None without
        ``--wait``.
    """
    accepted = [(row, v) for row, v in zip(reading.rows, verdicts, strict=True)
                if v["status"] in ACCEPTED]
    summary: dict[str, Any] = {
        "rows_read": len(reading.rows) + sum(reading.skipped.values()),
        "skipped": dict(reading.skipped),
        "submitted": len(verdicts),
        "accepted": len(accepted),
        "already_committed": sum(v["status"] == COMMITTED for v in verdicts),
        "rejected": dict(Counter(_rule(v) for v in verdicts if v["status"] not in ACCEPTED)),
        "wh_accepted": sum(row.energy_wh for row, _ in accepted),
    }
    if finals is not None:
        outcomes = [finals.get(v["tx_id"], v) for _, v in accepted]
        committed = [(row, o) for (row, _), o in zip(accepted, outcomes, strict=True)
                     if o["status"] == COMMITTED]
        summary |= {
            "committed": len(committed),
            "wh_committed": sum(row.energy_wh for row, _ in committed),
            "not_committed": dict(Counter(_rule(o) for o in outcomes
                                          if o["status"] != COMMITTED)),
            "last_height": max((int(o["height"]) for _, o in committed), default=None),
        }
    return summary


def _rule(answer: Answer) -> str:
    return str(answer.get("rule") or answer["status"])


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """Return the human-readable form of `summarize`'s result."""
    skipped = ", ".join(f"{reason} {n}" for reason, n in summary["skipped"].items()) or "none"
    lines = [f"rows read: {summary['rows_read']} (skipped: {skipped})",
             f"submitted: {summary['submitted']}, accepted: {summary['accepted']} "
             f"(already committed: {summary['already_committed']}), rejected: "
             f"{sum(summary['rejected'].values())}"]
    lines += [f"  rejected {rule}: {n}" for rule, n in sorted(summary["rejected"].items())]
    lines.append(f"energy accepted: {summary['wh_accepted']} Wh")
    if "committed" in summary:
        last = summary["last_height"]
        lines.append(f"committed: {summary['committed']} ({summary['wh_committed']} Wh)"
                     + ("" if last is None else f", last height {last}"))
        lines += [f"  not committed {rule}: {n}"
                  for rule, n in sorted(summary["not_committed"].items())]
    return lines


def rejection_lines(rows: Sequence[MeterRow], answers: Sequence[Answer]) -> list[str]:
    """Return one line per row whose answer is not accepted or committed (``--verbose``)."""
    return [f"line {row.line_no}: {row.device_id} [{row.period_start}, {row.period_end}) "
            f"{row.energy_wh} Wh: {_rule(answer)}: {answer.get('message', '')}"
            for row, answer in zip(rows, answers, strict=True)
            if answer["status"] not in ACCEPTED]


@contextlib.contextmanager
def progress(total: int) -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(n)`` callback: a progress bar on a terminal, else nothing."""
    if not sys.stdout.isatty():
        yield lambda _: None
        return
    with click.progressbar(length=total, label="submitting", file=sys.stdout) as bar:
        yield bar.update


@click.command("attest")
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The meter gateway's attestation key file.")
@click.option("--meter-csv", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="CSV with timestamp_utc (period start), energy_kwh and a device column.")
@click.option("--device-column", default=None, metavar="COL",
              help="Column holding the device id (e.g. turbine_id).")
@click.option("--device", default=None, metavar="ID", help="One device id for every row.")
@click.option("--interval-s", type=click.IntRange(1, MAX_PERIOD_S), default=600,
              show_default=True, help="Length of each row's period, seconds.")
@click.option("--batch-size", type=click.IntRange(1, MAX_BLOCK_TXS), default=500,
              show_default=True, help="Attestations per request.")
@node_option
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until every accepted attestation is committed.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.0), default=DEFAULT_WAIT_S,
              show_default=True, help="Longest wait for the commits, seconds.")
@click.option("--register-start-column", default=None, metavar="COL",
              help="Column of the cumulative meter register reading at each period's start, "
              "kWh (whole Wh).")
@click.option("--register-end-column", default=None, metavar="COL",
              help="Column of the cumulative meter register reading at each period's end, "
              "kWh (whole Wh).")
@click.option("--verbose", "-v", is_flag=True, help="One line per refused row.")
@json_option
def attest_command(key_file: Path, meter_csv: Path, device_column: str | None,
                   device: str | None, interval_s: int, batch_size: int, node_url: str,
                   wait: bool, timeout_s: float, register_start_column: str | None,
                   register_end_column: str | None, verbose: bool, as_json: bool) -> None:
    """Attest every row with positive energy of a meter CSV, signed by KEY.

    Rows go in file order, in batches sent one after another. Rows the ledger refuses
    (e.g. period_overlap) are counted by rule and the command still exits 0, unless it
    refused every row (wrong key, unknown or suspended device): then it exits 1. Re-running
    the same file is safe: it signs the same transactions (the nonce is the row's line
    number), which the node answers as already committed or pending. With the register
    columns, each attestation carries the meter's cumulative readings (DESIGN §3).
    """
    if (device_column is None) == (device is None):
        raise click.UsageError("give exactly one of --device-column or --device")
    if (register_start_column is None) != (register_end_column is None):
        raise click.UsageError("give both --register-start-column and "
                               "--register-end-column, or neither")
    reading = read_meter_csv(meter_csv, device_column=device_column, device=device,
                             interval_s=interval_s)
    readings = None
    if register_start_column is not None and register_end_column is not None:
        readings = read_register_readings(meter_csv, register_start_column,
                                          register_end_column)
    key = load_signing_key(key_file)
    client = NodeClient(node_url)
    status = client.status()
    txs = list(signed_attestations(reading.rows, key, status["chain_id"], readings))
    with progress(len(txs)) as advance:
        verdicts = submit_in_batches(client, txs, batch_size, advance)
    finals = None
    if wait:
        waiting = [bytes.fromhex(v["tx_id"]) for v in verdicts if v["status"] == PENDING]
        found = client.wait_for_all(waiting, int(status["height"]), timeout_s)
        finals = {tx_id.hex(): answer for tx_id, answer in found.items()}
    summary = _report(reading, verdicts, finals, verbose, as_json)
    if summary["rejected"] and not summary["accepted"]:
        click.echo("error: every attestation was refused (see the rules above)", err=True)
        raise click.exceptions.Exit(1)


def _report(reading: MeterReading, verdicts: Sequence[Answer], finals: dict[str, Answer] | None,
            verbose: bool, as_json: bool) -> dict[str, Any]:
    if verbose:
        outcomes = [(finals or {}).get(v["tx_id"] or "", v) for v in verdicts]
        for line in rejection_lines(reading.rows, outcomes):
            click.echo(line)
    summary = summarize(reading, verdicts, finals)
    if as_json:
        echo_json(summary)
    else:
        for line in summary_lines(summary):
            click.echo(line)
    return summary

"""Meter data files into attestations (DESIGN §2, §3, §9).

Reads metered generation (and a consumer's hourly consumption) from CSV, converts kWh text
to whole Wh in exact decimal arithmetic and signs ``attest`` transactions. It judges the
file only: duplicate or overlapping periods are the ledger's to refuse.

CSV: UTF-8 (leading BOM ignored), a header row, columns in any order, extras ignored.
``timestamp_utc`` is ``YYYY-MM-DDTHH:MM:SSZ``, the START of the period, UTC; the device id
comes from a named column or is fixed; ``energy_kwh`` is plain decimal text, empty if
missing: ``[+-]digits[.digits]``. ``1e3``, ``NaN``, spaces and ``,`` are refused.
"""

from __future__ import annotations

import contextlib
import csv
import os
import pathlib
import re
from collections import Counter
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, Inexact, localcontext
from importlib import resources
from typing import TextIO

from greenchain.crypto.keys import KeyPair
from greenchain.errors import MeterError
from greenchain.model.transactions import Attest, Tx, make_tx
from greenchain.params import MAX_PERIOD_S

TIMESTAMP_COLUMN = "timestamp_utc"
ENERGY_COLUMN = "energy_kwh"

SKIP_EMPTY = "empty"
SKIP_ZERO = "zero"
SKIP_NEGATIVE = "negative"
SKIP_BELOW_1_WH = "below_1_wh"
SKIP_REASONS = (SKIP_EMPTY, SKIP_ZERO, SKIP_NEGATIVE, SKIP_BELOW_1_WH)
"""Every reason a meter row is skipped, in the order reports list them."""

WIND_SAMPLE = "wind_la-haute-borne_2015-03_10min.csv"
CONSUMPTION_SAMPLE = "consumption_cambridge-estates-b2_2015-03_hourly.csv"
SAMPLES = {"wind": WIND_SAMPLE, "consumption": CONSUMPTION_SAMPLE}
"""Short names of the shipped sample files (see ``greenchain/samples/README.md``)."""

HOUR_S = 3600
MAX_ENERGY_TEXT = 40  # characters; bounds the work of exact decimal arithmetic.
UINT64_MAX = 2**64 - 1  # nonces and Attest fields are uint64 on the wire (DESIGN §3, §4)

_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_TIMESTAMP_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z", re.ASCII
)


@dataclass(frozen=True, slots=True)
class MeterRow:
    """One metered production period of one device, ready to attest."""

    device_id: str
    """The producing device."""
    period_start: int
    """Start of the period, UTC seconds (inclusive): the row's ``timestamp_utc``."""
    period_end: int
    """End of the period, UTC seconds (exclusive): start plus the interval."""
    energy_wh: int
    """Generation in whole Wh (> 0), rounded down from the kWh text (EnergyTag)."""
    line_no: int
    """1-based line of the row in the file; the header is line 1."""


@dataclass(frozen=True, slots=True)
class MeterReading:
    """The usable rows of a meter file and the count of rows skipped, by reason."""

    rows: tuple[MeterRow, ...]
    """Rows with positive energy, in file order; duplicates are kept."""
    skipped: dict[str, int]
    """Reason (one of `SKIP_REASONS`) -> number of rows; only reasons that occurred."""


def parse_energy_wh(text: str) -> int | str:
    """Convert a kWh cell to whole Wh, or name why the row carries no energy.

    Exact decimal arithmetic, never float; a positive value is rounded DOWN to whole Wh
    (EnergyTag): ``"0.0019"`` gives 1, ``"238.2829"`` gives 238282.

    Parameters
    ----------
    text:
        The ``energy_kwh`` cell, plain decimal text in kWh (see the module docstring).

    Returns
    -------
    int or str
        Energy in Wh (>= 1), or the skip reason: ``"empty"`` (empty cell), ``"zero"``
        (``0``, ``-0.000``), ``"negative"``, ``"below_1_wh"`` (positive, under 1 Wh).

    Raises
    ------
    MeterError
        If the text is not plain decimal text (``1e3``, ``NaN``, `` 5``), is over
        `MAX_ENERGY_TEXT` characters, or exceeds a uint64 of Wh.
    """
    if text == "":
        return SKIP_EMPTY
    if len(text) > MAX_ENERGY_TEXT or not _DECIMAL_TEXT.fullmatch(text):
        raise MeterError(f"energy_kwh is not a plain decimal number: {text[:50]!r}", text=text)
    kwh = Decimal(text)
    if kwh == 0:
        return SKIP_ZERO
    if kwh < 0:
        return SKIP_NEGATIVE
    with localcontext() as ctx:
        # Enough digits that the product is exact; Inexact would signal a bug, not data.
        ctx.prec = MAX_ENERGY_TEXT + 10
        ctx.traps[Inexact] = True
        wh = int(kwh * 1000)  # int() truncates toward zero: rounds a positive value down
    if wh == 0:
        return SKIP_BELOW_1_WH
    if wh > UINT64_MAX:
        raise MeterError(f"energy_kwh {text!r} is too large", text=text)
    return wh


def read_meter_csv(
    path: str | os.PathLike[str] | TextIO,
    *,
    device_column: str | None = None,
    device: str | None = None,
    interval_s: int = 600,
) -> MeterReading:
    """Read a meter CSV file into attestable rows, skipping rows without energy.

    Each row covers ``[timestamp_utc, timestamp_utc + interval_s)``. Rows whose energy is
    empty, zero, negative or under 1 Wh are counted in `MeterReading.skipped`, never
    returned. Nothing is de-duplicated: the ledger refuses overlapping periods (DESIGN §3).

    Parameters
    ----------
    path:
        File path, or an open text stream.
    device_column:
        Name of the column holding the device id (e.g. ``turbine_id``).
    device:
        A fixed device id for every row. Give exactly one of `device_column`, `device`.
    interval_s:
        Length of every period in seconds, 1 to 3600 (DESIGN §3).

    Returns
    -------
    MeterReading
        The rows with positive energy (Wh, UTC seconds) and the skip counts.

    Raises
    ------
    MeterError
        On a bad argument or file (unreadable, not UTF-8, missing column, bad timestamp,
        empty device id, non-numeric energy, truncated row), naming file, line, problem.
    """
    _validate_device_choice(device_column, device)
    if not 0 < interval_s <= MAX_PERIOD_S:
        raise MeterError(f"interval must be 1 to {MAX_PERIOD_S} s, got {interval_s}")
    columns = (TIMESTAMP_COLUMN, ENERGY_COLUMN) + ((device_column,) if device_column else ())
    rows: list[MeterRow] = []
    skipped: Counter[str] = Counter()
    with contextlib.closing(_iter_records(path, columns)) as records:
        for record in records:
            with _located(record):
                outcome = _meter_row(record, device_column, device, interval_s)
            if isinstance(outcome, str):
                skipped[outcome] += 1
            else:
                rows.append(outcome)
    return MeterReading(tuple(rows), {r: skipped[r] for r in SKIP_REASONS if skipped[r]})


def read_consumption_csv(path: str | os.PathLike[str] | TextIO) -> dict[int, int]:
    """Read an hourly consumption CSV (columns ``timestamp_utc``, ``energy_kwh``).

    Parameters
    ----------
    path:
        File path, or an open text stream. Each timestamp is the START of a UTC hour.

    Returns
    -------
    dict[int, int]
        Hour start (UTC seconds) -> consumed energy in whole Wh (exact decimal, rounded
        down; zero allowed), in file order.

    Raises
    ------
    MeterError
        On a bad file (as `read_meter_csv`), and on an empty or negative energy cell, a
        timestamp that is not the start of a UTC hour, or an hour given twice.
    """
    hours: dict[int, int] = {}
    with contextlib.closing(_iter_records(path, (TIMESTAMP_COLUMN, ENERGY_COLUMN))) as records:
        for record in records:
            with _located(record):
                start = _hour_start(record.cells[TIMESTAMP_COLUMN], hours)
                hours[start] = _consumed_wh(record.cells[ENERGY_COLUMN])
    return hours


def sample_path(name: str) -> pathlib.Path:
    """Return the path of a sample file shipped in the package (``greenchain/samples``).

    Parameters
    ----------
    name:
        ``"wind"`` or ``"consumption"`` (see `SAMPLES`).

    Returns
    -------
    pathlib.Path
        The file, found with ``importlib.resources`` (works from an installed package).

    Raises
    ------
    MeterError
        If the name is unknown or the package's data files are not on the file system.
    """
    file_name = SAMPLES.get(name)
    if file_name is None:
        raise MeterError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}", name=name)
    resource = resources.files("greenchain") / "samples" / file_name
    if not isinstance(resource, pathlib.Path) or not resource.is_file():
        raise MeterError(f"sample {file_name} is not installed as a file", name=name)
    return resource


def attestation_txs(
    rows: Iterable[MeterRow], key: KeyPair, chain_id: str, nonce_base: int = 0
) -> Iterator[Tx]:
    """Sign one ``attest`` transaction per meter row (DESIGN §3).

    Parameters
    ----------
    rows:
        Meter rows, e.g. `MeterReading.rows`.
    key:
        The devices' attestation key (the plant's meter gateway key, DESIGN §1).
    chain_id:
        The chain the transactions are for.
    nonce_base:
        Nonce of the first transaction; the i-th (0-based) gets ``nonce_base + i``, so the
        ids are unique within a run and the same on every run.

    Yields
    ------
    Tx
        Signed transactions in the order of `rows`. Raises `MeterError` if a nonce
        falls outside uint64.
    """
    for index, row in enumerate(rows):
        nonce = nonce_base + index
        if not 0 <= nonce <= UINT64_MAX:
            raise MeterError(f"nonce {nonce} is outside uint64", nonce=nonce)
        body = Attest(row.device_id, row.period_start, row.period_end, row.energy_wh)
        yield make_tx(key, chain_id, body, nonce)


@dataclass(frozen=True, slots=True)
class _Record:
    """One data row of a CSV file: its file name, 1-based first line, required cells."""

    source: str
    line_no: int
    cells: dict[str, str]


def _validate_device_choice(device_column: str | None, device: str | None) -> None:
    # Exactly one source of device ids, so no row's device is ambiguous.
    if (device_column is None) == (device is None) or not (device_column or device):
        raise MeterError("give exactly one of device_column or device, and not empty")


def _meter_row(
    record: _Record, device_column: str | None, device: str | None, interval_s: int
) -> MeterRow | str:
    start = _parse_timestamp(record.cells[TIMESTAMP_COLUMN])
    device_id = record.cells[device_column] if device_column else device
    if not device_id:
        raise MeterError(f"empty device id in column {device_column!r}")
    energy = parse_energy_wh(record.cells[ENERGY_COLUMN])
    if isinstance(energy, str):
        return energy
    return MeterRow(device_id, start, start + interval_s, energy, record.line_no)


def _hour_start(text: str, seen: dict[int, int]) -> int:
    start = _parse_timestamp(text)
    # Hourly matching (DESIGN §3) needs whole UTC hours, each given once.
    if start % HOUR_S:
        raise MeterError(f"timestamp {text!r} is not the start of a UTC hour")
    if start in seen:
        raise MeterError(f"hour {text} appears twice")
    return start


def _consumed_wh(text: str) -> int:
    outcome = parse_energy_wh(text)
    if outcome == SKIP_EMPTY:
        raise MeterError("empty energy_kwh: consumption must be given for every hour")
    if outcome == SKIP_NEGATIVE:
        raise MeterError(f"negative consumption {text!r}")
    return outcome if isinstance(outcome, int) else 0  # zero or under 1 Wh


def _parse_timestamp(text: str) -> int:
    match = _TIMESTAMP_TEXT.fullmatch(text)
    if match is None:
        raise MeterError(f"bad timestamp {text[:50]!r}: expected YYYY-MM-DDTHH:MM:SSZ")
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise MeterError(f"bad timestamp {text!r}: {exc}") from exc
    return int(moment.timestamp())


@contextlib.contextmanager
def _located(record: _Record) -> Iterator[None]:
    """Re-raise a cell's MeterError with the file and line it came from."""
    try:
        yield
    except MeterError as exc:
        raise _line_error(record.source, record.line_no, exc.message) from exc


def _line_error(source: str, line_no: int, problem: str) -> MeterError:
    return MeterError(f"{source}: line {line_no}: {problem}", path=source, line_no=line_no)


def _iter_records(
    path: str | os.PathLike[str] | TextIO, required: tuple[str, ...]
) -> Generator[_Record, None, None]:
    source = _source_name(path)
    with contextlib.closing(_iter_lines(path, source)) as lines:
        reader = csv.reader(lines, strict=True)
        index, width = _header_index(reader, source, required)
        last_line = reader.line_num
        while (cells := _next_cells(reader, source, last_line + 1)) is not None:
            line_no, last_line = last_line + 1, reader.line_num
            if len(cells) != width:  # a truncated or over-long row, or an empty line
                raise _line_error(source, line_no, f"{len(cells)} fields, header has {width}")
            yield _Record(source, line_no, {name: cells[i] for name, i in index.items()})


def _header_index(
    reader: Iterator[list[str]], source: str, required: tuple[str, ...]
) -> tuple[dict[str, int], int]:
    header = _next_cells(reader, source, 1)
    if not header:
        raise _line_error(source, 1, "no header row")
    if len(set(header)) != len(header):  # a required column must not be ambiguous
        raise _line_error(source, 1, "duplicate column names")
    for name in required:
        if name not in header:
            raise _line_error(source, 1, f"missing column {name!r} in {','.join(header)[:200]}")
    return {name: header.index(name) for name in required}, len(header)


def _next_cells(reader: Iterator[list[str]], source: str, line_no: int) -> list[str] | None:
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        raise _line_error(source, line_no, f"bad CSV: {exc}") from exc
    except UnicodeDecodeError as exc:  # from a text stream: it decodes ahead, in chunks
        raise _line_error(source, line_no, "not UTF-8 (here or in a later line)") from exc


def _source_name(path: str | os.PathLike[str] | TextIO) -> str:
    if isinstance(path, (str, os.PathLike)):
        return os.fspath(path)
    return str(getattr(path, "name", "<stream>"))


def _iter_lines(path: str | os.PathLike[str] | TextIO, source: str) -> Generator[str, None, None]:
    """Yield the lines of `path`; a file is decoded line by line so errors name the line."""
    if not isinstance(path, (str, os.PathLike)):
        yield from path  # decoded by the stream; _next_cells reports a UnicodeDecodeError
        return
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise MeterError(f"cannot read {source}: {exc.strerror}", path=source) from exc
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _line_error(source, line_no, f"not UTF-8 (byte {exc.start + 1})") from exc
            yield text.removeprefix("\ufeff") if line_no == 1 else text

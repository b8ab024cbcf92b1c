"""Tests of greenchain.meter: kWh text to Wh, meter and consumption CSV files, attest txs."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from greenchain.crypto.keys import key_from_seed
from greenchain.errors import MeterError
from greenchain.meter import (
    CONSUMPTION_SAMPLE,
    WIND_SAMPLE,
    MeterReading,
    MeterRow,
    attestation_txs,
    parse_energy_wh,
    read_consumption_csv,
    read_meter_csv,
    sample_path,
)
from greenchain.model.transactions import Attest, decode_tx

WIND_SHA256 = "9b37addd654204ef2d00400fd112f9b8e330d316bcdde74cc2a7d0a16ab4dad1"
CONSUMPTION_SHA256 = "8bc328196932aee4bf3e713f60ada11b011f8d31d7b848120cb3eef33f253a74"
TURBINES = {"R80711", "R80721", "R80736", "R80790"}


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def write(tmp_path: Path, text: str | bytes, name: str = "meter.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.fixture(scope="module")
def wind() -> MeterReading:
    return read_meter_csv(sample_path("wind"), device_column="turbine_id", interval_s=600)


# --- parse_energy_wh -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("0", "zero"),
        ("0.000", "zero"),
        ("-0.000", "zero"),
        ("+0", "zero"),
        ("-0.5", "negative"),
        ("-16.07", "negative"),
        ("0.0009", "below_1_wh"),
        ("0.000999999999", "below_1_wh"),
        ("0.001", 1),
        ("0.0019", 1),
        ("238.282", 238_282),
        ("238.2829", 238_282),  # rounded down, not to nearest
        ("1", 1_000),
        ("+1.5", 1_500),
        ("007.5", 7_500),
        # Beyond float precision: exact decimal arithmetic keeps every digit.
        ("123456789012345.678999", 123_456_789_012_345_678),
    ],
)
def test_parse_energy_wh(text: str, expected: int | str) -> None:
    result = parse_energy_wh(text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        "1e3",  # exponent notation is refused: a feed printing it went through a float
        "1E3",
        "NaN",
        "nan",
        "Infinity",
        "-inf",
        " 5",
        "5 ",
        "1,5",
        "1_000",  # Decimal() would accept it
        ".5",
        "5.",
        "--1",
        "0x10",
        "abc",
        "\u0661\u0662",  # Arabic-Indic digits: int() and Decimal() would accept them
        "1" * 41,  # longer than MAX_ENERGY_TEXT
        "18446744073709552",  # 2**64 Wh and more: not a uint64
    ],
)
def test_parse_energy_wh_rejects_non_decimal_text(text: str) -> None:
    with pytest.raises(MeterError):
        parse_energy_wh(text)


def test_parse_energy_wh_largest_uint64() -> None:
    assert parse_energy_wh("18446744073709551.615") == 2**64 - 1


# --- shipped samples -------------------------------------------------------------------
def test_sample_files_are_shipped_unchanged() -> None:
    for name, file_name, digest in [
        ("wind", WIND_SAMPLE, WIND_SHA256),
        ("consumption", CONSUMPTION_SAMPLE, CONSUMPTION_SHA256),
    ]:
        path = sample_path(name)
        assert path.name == file_name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_sample_readme_keeps_attributions_and_licence() -> None:
    readme = (sample_path("wind").parent / "README.md").read_text(encoding="utf-8")
    assert "Licence Ouverte v2.0; redistributed by NREL OpenOA" in readme
    assert "doi:10.5281/zenodo.10955332" in readme
    assert "Permission is hereby granted, free of charge" in readme
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in readme
    assert "/work" not in readme


def test_sample_path_unknown_name() -> None:
    with pytest.raises(MeterError, match="unknown sample"):
        sample_path("solar")


def test_wind_sample_skips_and_counts(wind: MeterReading) -> None:
    assert wind.skipped == {"empty": 541, "zero": 148, "negative": 3332}
    assert len(wind.rows) == 13_859
    assert len(wind.rows) + sum(wind.skipped.values()) == 17_880
    assert sum(row.energy_wh for row in wind.rows) == 1_290_458_521
    assert all(row.energy_wh > 0 for row in wind.rows)
    assert {row.device_id for row in wind.rows} == TURBINES


def test_wind_sample_rows_in_file_order_with_periods(wind: MeterReading) -> None:
    first = wind.rows[0]
    assert first == MeterRow("R80711", utc("2015-03-01T00:00:00"), utc("2015-03-01T00:10:00"),
                             238_282, 2)
    line_numbers = [row.line_no for row in wind.rows]
    assert line_numbers == sorted(set(line_numbers))
    assert line_numbers[-1] <= 17_881
    assert all(row.period_end - row.period_start == 600 for row in wind.rows)
    assert min(r.period_start for r in wind.rows) == utc("2015-03-01T00:00:00")
    assert max(r.period_start for r in wind.rows) == utc("2015-03-31T23:50:00")


def test_wind_sample_keeps_dst_duplicates(wind: MeterReading) -> None:
    per_key = Counter((row.device_id, row.period_start) for row in wind.rows)
    repeated = {key: n for key, n in per_key.items() if n > 1}
    assert sum(repeated.values()) == 48  # 4 turbines x 6 intervals x 2 copies
    assert set(repeated.values()) == {2}
    starts = {utc(f"2015-03-29T01:{minute:02d}:00") for minute in range(0, 60, 10)}
    assert {start for _, start in repeated} == starts
    assert {device for device, _ in repeated} == TURBINES
    # The two copies differ in value: neither is dropped or merged.
    r80711 = [r.energy_wh for r in wind.rows
              if (r.device_id, r.period_start) == ("R80711", utc("2015-03-29T01:00:00"))]
    assert len(set(r80711)) == 2


def test_wind_sample_fixed_device_mode() -> None:
    reading = read_meter_csv(sample_path("wind"), device="la-haute-borne")
    assert reading.skipped == {"empty": 541, "zero": 148, "negative": 3332}
    assert len(reading.rows) == 13_859
    assert {row.device_id for row in reading.rows} == {"la-haute-borne"}


def test_consumption_sample() -> None:
    hours = read_consumption_csv(sample_path("consumption"))
    assert len(hours) == 744
    assert sum(hours.values()) == 823_448_300
    start = utc("2015-03-01T00:00:00")
    assert list(hours) == [start + 3600 * i for i in range(744)]
    assert min(hours.values()) == hours[utc("2015-03-01T03:00:00")] == 917_500
    assert max(hours.values()) == hours[utc("2015-03-03T15:00:00")] == 1_425_100


# --- read_meter_csv on small files ---------------------------------------------------
SMALL = (
    "timestamp_utc,meter,energy_kwh\n"
    "2015-03-01T00:00:00Z,m1,1.5\n"
    "2015-03-01T00:15:00Z,m1,\n"
    "2015-03-01T00:30:00Z,m2,0.0004\n"
    "2015-03-01T00:30:00Z,m2,2.0009\n"
)


def test_fixed_device_with_text_stream() -> None:
    reading = read_meter_csv(io.StringIO(SMALL), device="plant-7", interval_s=900)
    t0 = utc("2015-03-01T00:00:00")
    assert reading.rows == (
        MeterRow("plant-7", t0, t0 + 900, 1_500, 2),
        MeterRow("plant-7", t0 + 1800, t0 + 2700, 2_000, 5),
    )
    assert reading.skipped == {"empty": 1, "below_1_wh": 1}


def test_device_column_any_order_crlf_and_bom(tmp_path: Path) -> None:
    text = "\ufeffenergy_kwh,extra,meter,timestamp_utc\r\n1.25,x,m9,2015-03-01T01:00:00Z\r\n"
    reading = read_meter_csv(write(tmp_path, text), device_column="meter", interval_s=3600)
    t0 = utc("2015-03-01T01:00:00")
    assert reading == MeterReading((MeterRow("m9", t0, t0 + 3600, 1_250, 2),), {})


def test_line_numbers_follow_multiline_quoted_cells(tmp_path: Path) -> None:
    text = (
        "timestamp_utc,meter,note,energy_kwh\n"
        '2015-03-01T00:00:00Z,m1,"two\nlines",1\n'
        "2015-03-01T00:10:00Z,m1,,2\n"
    )
    reading = read_meter_csv(write(tmp_path, text), device_column="meter")
    assert [row.line_no for row in reading.rows] == [2, 4]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({}, "exactly one"),
        ({"device_column": "meter", "device": "m1"}, "exactly one"),
        ({"device": ""}, "exactly one"),
        ({"device_column": ""}, "exactly one"),
        ({"device": "m1", "interval_s": 0}, "interval"),
        ({"device": "m1", "interval_s": 3601}, "interval"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(MeterError, match=problem):
        read_meter_csv(io.StringIO(SMALL), **kwargs)  # type: ignore[arg-type]


HEADER = "timestamp_utc,meter,energy_kwh\n"
GOOD = "2015-03-01T00:00:00Z,m1,1.0\n"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("", 1, "no header row"),
        ("timestamp_utc,energy_kwh\n" + "2015-03-01T00:00:00Z,1\n", 1, "missing column 'meter'"),
        ("timestamp_utc,meter,kwh\n" + "2015-03-01T00:00:00Z,m1,1\n", 1,
         "missing column 'energy_kwh'"),
        ("timestamp_utc,meter,meter,energy_kwh\n", 1, "duplicate column"),
        (HEADER + GOOD + "2015-03-01 00:10:00,m1,1.0\n", 3, "bad timestamp"),
        (HEADER + GOOD + "2015-03-01T00:10:00+00:00,m1,1.0\n", 3, "bad timestamp"),
        (HEADER + GOOD + "2015-03-01T00:10:00.5Z,m1,1.0\n", 3, "bad timestamp"),
        (HEADER + "2015-02-30T00:00:00Z,m1,1.0\n", 2, "bad timestamp"),
        (HEADER + "2015-03-01T24:00:00Z,m1,1.0\n", 2, "bad timestamp"),
        (HEADER + GOOD + GOOD + "2015-03-01T00:20:00Z,m1,1e3\n", 4, "not a plain decimal"),
        (HEADER + "2015-03-01T00:00:00Z,m1,abc\n", 2, "not a plain decimal"),
        (HEADER + "2015-03-01T00:00:00Z,,1.0\n", 2, "empty device id"),
        (HEADER + GOOD + "2015-03-01T00:10:00Z,m1\n", 3, "2 fields, header has 3"),
        (HEADER + "2015-03-01T00:10:00Z,m1,1.0,9\n", 2, "4 fields, header has 3"),
        (HEADER + GOOD + "\n" + GOOD, 3, "0 fields, header has 3"),
        (HEADER + GOOD + '2015-03-01T00:10:00Z,m1,"1.0\n', 3, "bad CSV"),
    ],
)
def test_bad_file_names_line_and_problem(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(MeterError, match=problem) as caught:
        read_meter_csv(path, device_column="meter")
    assert f"meter.csv: line {line}: " in caught.value.message
    assert "\n" not in caught.value.message  # the CLI prints one line
    assert caught.value.data["line_no"] == line


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, (HEADER + GOOD).encode() + b"2015-03-01T00:10:00Z,caf\xe9,1.0\n")
    with pytest.raises(MeterError, match=r"line 3: not UTF-8"):
        read_meter_csv(path, device_column="meter")


def test_not_utf8_in_a_text_stream(tmp_path: Path) -> None:
    path = write(tmp_path, (HEADER + GOOD).encode() + b"2015-03-01T00:10:00Z,caf\xe9,1.0\n")
    with path.open(encoding="utf-8") as stream, pytest.raises(MeterError, match="not UTF-8"):
        read_meter_csv(stream, device_column="meter")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MeterError, match="cannot read"):
        read_meter_csv(tmp_path / "absent.csv", device="m1")


def test_stream_without_name_in_message() -> None:
    with pytest.raises(MeterError, match=r"<stream>: line 2: bad timestamp"):
        read_meter_csv(io.StringIO(HEADER + "yesterday,m1,1\n"), device="m1")


# --- read_consumption_csv ----------------------------------------------------------------
def test_consumption_small_file_rounds_down_and_allows_zero() -> None:
    text = ("timestamp_utc,energy_kwh\n2015-03-01T00:00:00Z,0.0\n"
            "2015-03-01T01:00:00Z,0.0005\n2015-03-01T02:00:00Z,917.5999\n")
    t0 = utc("2015-03-01T00:00:00")
    assert read_consumption_csv(io.StringIO(text)) == {t0: 0, t0 + 3600: 0, t0 + 7200: 917_599}


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("2015-03-01T01:00:00Z,\n", "empty energy_kwh"),
        ("2015-03-01T01:00:00Z,-1.0\n", "negative consumption"),
        ("2015-03-01T01:30:00Z,1.0\n", "not the start of a UTC hour"),
        ("2015-03-01T00:00:00Z,1.0\n", "appears twice"),
        ("2015-03-01T01:00:00Z,1,0\n", "3 fields, header has 2"),
        ("2015-03-01T01:00:00Z,NaN\n", "not a plain decimal"),
    ],
)
def test_consumption_bad_rows(row: str, problem: str) -> None:
    text = "timestamp_utc,energy_kwh\n2015-03-01T00:00:00Z,1.0\n" + row
    with pytest.raises(MeterError, match=f"line 3: .*{problem}"):
        read_consumption_csv(io.StringIO(text))


def test_consumption_missing_column() -> None:
    with pytest.raises(MeterError, match="line 1: missing column 'energy_kwh'"):
        read_consumption_csv(io.StringIO("timestamp_utc,kwh\n2015-03-01T00:00:00Z,1\n"))


# --- attestation_txs -------------------------------------------------------------------
def test_attestation_txs_sign_attest_bodies(wind: MeterReading) -> None:
    key = key_from_seed("meter-gateway")
    rows = wind.rows[:3]
    txs = list(attestation_txs(rows, key, "greenchain-test", nonce_base=100))
    assert [tx.nonce for tx in txs] == [100, 101, 102]
    assert len({tx.tx_id for tx in txs}) == 3
    public = Ed25519PublicKey.from_public_bytes(key.public)
    for tx, row in zip(txs, rows, strict=True):
        assert tx.type == "attest"
        assert tx.chain_id == "greenchain-test"
        assert tx.signer == key.public
        assert tx.body == Attest(row.device_id, row.period_start, row.period_end, row.energy_wh)
        public.verify(tx.signature, tx.sign_bytes)  # raises if the signature is wrong
        assert decode_tx(tx.raw).tx_id == tx.tx_id
    again = list(attestation_txs(rows, key, "greenchain-test", nonce_base=100))
    assert [tx.raw for tx in again] == [tx.raw for tx in txs]


def test_attestation_txs_of_duplicates_have_distinct_ids(wind: MeterReading) -> None:
    dup_start = utc("2015-03-29T01:00:00")
    rows = [r for r in wind.rows if (r.device_id, r.period_start) == ("R80711", dup_start)]
    txs = list(attestation_txs(rows, key_from_seed("meter-gateway"), "c"))
    assert len(txs) == 2
    assert txs[0].tx_id != txs[1].tx_id


def test_attestation_txs_nonce_must_stay_uint64(wind: MeterReading) -> None:
    key = key_from_seed("meter-gateway")
    txs = attestation_txs(wind.rows[:2], key, "c", nonce_base=2**64 - 1)
    assert next(txs).nonce == 2**64 - 1
    with pytest.raises(MeterError, match="uint64"):
        next(txs)
    with pytest.raises(MeterError, match="uint64"):
        next(attestation_txs(wind.rows[:1], key, "c", nonce_base=-1))

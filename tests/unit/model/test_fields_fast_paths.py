"""Field arrays: the trusted and copying fast paths agree with the strict, generic ones."""

from __future__ import annotations

import dataclasses

import pytest

from greenchain.codec import decode, decode_trusted, encode
from greenchain.model.blocks import Commit, CommitSig, Header
from greenchain.model.certificates import (
    ACTIVE,
    RETIRED,
    Account,
    Bundle,
    Device,
    ExportRecord,
    Retirement,
    Withdrawal,
    compute_bundle_id,
)
from greenchain.model.fields import from_fields, from_trusted_fields, replace_fields, to_fields
from greenchain.model.transactions import UpdateValidators, ValidatorSignature
from greenchain.p2p.messages import TxBatch

H0 = 1_425_168_000
KEY, OTHER = b"\x01" * 32, b"\x02" * 32
BUNDLE = Bundle(compute_bundle_id("WT1", 0, 600), "WT1", 0, 600, H0, H0 + 600, KEY, ACTIVE,
                b"\x03" * 32, 2, b"", b"\x03" * 32, None, energy_source="F01050100",
                emissions_factor=12)
RECORDS = [
    Account(KEY, "Alice", ACTIVE, OTHER, 3),
    Device("WT1", "Turbine", KEY, OTHER, 2_000_000, "F01050100", "T020001", "FR", 1, -2,
           0, OTHER, ACTIVE, 500, 2, last_register_wh=77),
    BUNDLE,
    dataclasses.replace(BUNDLE, status=RETIRED,
                        retirement=Retirement("Bob", 0, 3600, "disclosure", "FR", KEY, 9)),
    dataclasses.replace(BUNDLE, withdrawal=Withdrawal("fault", KEY, 4),
                        export=ExportRecord("AIB-NL", "", OTHER, 5)),
    UpdateValidators((KEY,), (), 10, (ValidatorSignature(KEY, bytes(64)),)),
    Commit(3, 0, KEY, (CommitSig(KEY, bytes(64)), CommitSig(OTHER, b"\x01" * 64))),
    Header("c", 1, 0, 5, KEY, KEY, KEY, KEY, KEY, KEY),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_trusted_decoding_gives_the_strictly_decoded_record(record: object) -> None:
    raw = encode(to_fields(record))
    strict = from_fields(type(record), decode(raw))
    trusted = from_trusted_fields(type(record), decode_trusted(raw))
    assert trusted == strict == record
    assert type(trusted) is type(record)
    assert encode(to_fields(trusted)) == raw  # tuples and nested records rebuilt


def test_to_fields_of_a_one_field_record_is_a_one_item_array() -> None:
    assert to_fields(TxBatch((b"a", b"b"))) == [[b"a", b"b"]]


@pytest.mark.parametrize("changes", [
    {}, {"owner": OTHER}, {"status": RETIRED, "serial_end": 300},
    {"retirement": Retirement("Bob", 0, 3600, "disclosure", "FR", KEY, 9)},
    {"emissions_factor": None, "bundle_id": OTHER},
])
def test_replace_fields_is_dataclasses_replace(changes: dict[str, object]) -> None:
    copied = replace_fields(BUNDLE, **changes)
    assert copied == dataclasses.replace(BUNDLE, **changes)  # type: ignore[arg-type]
    assert copied is not BUNDLE and type(copied) is Bundle


def test_replace_fields_refuses_an_unknown_field() -> None:
    with pytest.raises(KeyError):
        replace_fields(BUNDLE, colour="green")

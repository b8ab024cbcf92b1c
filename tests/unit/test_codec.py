"""Canonical strict msgpack (DESIGN §4): round trips and every rejection.

Vectors: tests/vectors/codec/ (format in its README.md). Encodings there are derived from
the msgpack specification by hand, not from our encoder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenchain import errors
from greenchain.codec import decode, encode
from greenchain.params import MAX_ARRAY_LEN

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "codec"
VALID: list[dict[str, Any]] = json.loads((VECTORS / "valid.json").read_text())
INVALID: list[dict[str, Any]] = json.loads((VECTORS / "invalid.json").read_text())


def untag(tagged: dict[str, Any]) -> Any:
    """Python value of a tagged JSON value (tests/vectors/codec/README.md)."""
    ((kind, payload),) = tagged.items()
    if kind == "int":
        return int(payload)
    if kind == "bytes":
        return bytes.fromhex(payload)
    if kind == "array":
        return [untag(item) for item in payload]
    if kind == "map":
        return {untag(k): untag(v) for k, v in payload}
    return payload  # str, bool, nil


# --- vectors --------------------------------------------------------------------------
@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_valid_vector_decodes_and_encodes_to_the_same_bytes(vector: dict[str, Any]) -> None:
    value, data = untag(vector["value"]), bytes.fromhex(vector["hex"])
    decoded = decode(data, allow_maps=vector["allow_maps"])
    assert decoded == value
    assert type(decoded) is type(value)
    assert encode(value, allow_maps=vector["allow_maps"]) == data


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v["name"])
def test_invalid_vector_is_refused_with_the_named_error(vector: dict[str, Any]) -> None:
    options: dict[str, Any] = {"allow_maps": vector["allow_maps"]}
    if vector["max_bytes"] is not None:
        options["max_bytes"] = vector["max_bytes"]
    with pytest.raises(errors.DecodeError) as info:
        decode(bytes.fromhex(vector["hex"]), **options)
    assert type(info.value).__name__ == vector["error"]


def test_vectors_cover_each_rejection_named_by_design() -> None:
    names = " ".join(v["name"] for v in INVALID)
    for word in ("uint8", "float", "trailing", "truncated", "ext", "map", "utf-8",
                 "max_bytes", "nested", "duplicate"):
        assert word in names
    assert {v["error"] for v in INVALID} == {"NonCanonical", "Malformed", "TooLarge"}


# --- round trips ----------------------------------------------------------------------
_scalars = (st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.binary(max_size=300)
            | st.text(max_size=300) | st.booleans() | st.none())
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=8), max_leaves=30)


@settings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(_values)
def test_encode_then_decode_is_the_identity(value: Any) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@settings(derandomize=True, database=None, max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _scalars, max_size=6)
       | st.dictionaries(st.binary(max_size=8), _scalars, max_size=6))
def test_maps_round_trip_when_allowed(value: dict[Any, Any]) -> None:
    ordered = dict(sorted(value.items()))
    assert decode(encode(ordered, allow_maps=True), allow_maps=True) == ordered


def test_tuples_encode_as_arrays() -> None:
    assert encode((1, (b"a", "b"))) == encode([1, [b"a", "b"]]) == bytes.fromhex("920192c40161a162")


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_decode_accepts_any_bytes_like_input(wrap: Any) -> None:
    assert decode(wrap(bytes.fromhex("93010203"))) == [1, 2, 3]


def test_input_of_exactly_max_bytes_is_accepted_and_one_more_is_too_large() -> None:
    data = encode([b"x" * 10])
    assert decode(data, max_bytes=len(data)) == [b"x" * 10]
    with pytest.raises(errors.TooLarge) as info:
        decode(data, max_bytes=len(data) - 1)
    assert info.value.to_dict()["size"] == len(data)
    assert info.value.to_dict()["limit"] == len(data) - 1


def test_array_of_max_array_len_items_decodes() -> None:
    assert len(decode(encode([0] * MAX_ARRAY_LEN))) == MAX_ARRAY_LEN


# --- encode rejections ----------------------------------------------------------------
def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("value", [
    1.5, [0.0], 2**64, -(2**63) - 1, {"a": 1}, [{"a": 1}], {1, 2}, bytearray(b"x"),
    object(), _nested(33),
], ids=["float", "float-in-array", "2^64", "below-int64", "map", "map-in-array", "set",
        "bytearray", "object", "34-arrays"])
def test_encode_refuses_what_canonical_data_cannot_hold(value: Any) -> None:
    with pytest.raises(errors.Malformed):
        encode(value)


def test_encode_and_decode_agree_on_the_depth_limit() -> None:
    deepest = encode(_nested(32))
    assert decode(deepest) == _nested(32)
    with pytest.raises(errors.Malformed):
        decode(b"\x91" + deepest)


@pytest.mark.parametrize("data", ["93010203", [1, 2], None, 5])
def test_decode_refuses_input_that_is_not_bytes(data: Any) -> None:
    with pytest.raises(errors.Malformed):
        decode(data)


def test_decode_error_family_is_shared_by_all_leaves() -> None:
    for cls in (errors.Malformed, errors.NonCanonical, errors.TooLarge):
        assert issubclass(cls, errors.DecodeError)


# --- known gaps (see the report; remove the marks once codec.py is changed) -----------
def test_map_keys_must_be_text_on_both_sides() -> None:
    with pytest.raises(errors.Malformed):
        encode({1: 2}, allow_maps=True)
    assert decode(encode({"a": 2}, allow_maps=True), allow_maps=True) == {"a": 2}


def test_a_map_with_unsorted_keys_is_not_canonical() -> None:
    with pytest.raises(errors.NonCanonical):
        encode({"b": 1, "a": 2}, allow_maps=True)
    with pytest.raises(errors.NonCanonical):
        decode(bytes.fromhex("82a16201a16102"), allow_maps=True)

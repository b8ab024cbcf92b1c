"""The fast decoding paths give the verdicts of the strict reference, input for input.

`decode_tx` parses once, checks the typed shape, then the canonical form, and slices the
sign bytes out of the envelope (`codec.decode_typed`). The reference here is the plain
pipeline it replaced: `decode` (every DESIGN §4 rule, in its order), then the shape rules.
Both must refuse the same inputs with the same error class, and accept the same ones with
the same transaction. Inputs: the tx vectors, every type of body, and seeded mutations.
"""

from __future__ import annotations

import json
import random
import struct
import threading
from pathlib import Path
from typing import Any

import msgpack
import pytest
from test_model_transactions import BODIES, CHAIN, ISSUER

from greenchain import codec, errors
from greenchain.codec import _pack, decode, decode_typed, encode
from greenchain.model import transactions as txm
from greenchain.model.fields import to_fields
from greenchain.params import MAX_TX_BYTES

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "tx"
VECTOR_INPUTS = [bytes.fromhex(json.loads(p.read_text())["input"])
                 for p in sorted(VECTORS.glob("*.json"))]
SEED = 20240611


def reference_decode_tx(raw: bytes) -> txm.Tx:
    """The strict pipeline: size, `decode` (generic rules first), then the shape rules."""
    if len(raw) > MAX_TX_BYTES:
        raise errors.TooLarge("transaction too large")
    return txm.tx_from_fields(decode(raw, max_bytes=MAX_TX_BYTES), raw)


def verdict(decoder: Any, raw: bytes) -> tuple[str, Any]:
    try:
        tx = decoder(raw)
    except errors.GreenChainError as exc:
        return "refused", type(exc).__name__
    return "accepted", (tx, tx.sign_bytes, tx.tx_id)


def assert_same_verdict(raw: bytes) -> str:
    fast, slow = verdict(txm.decode_tx, raw), verdict(reference_decode_tx, raw)
    assert fast == slow, raw.hex()
    return fast[0]


def valid_raws() -> list[bytes]:
    return [txm.make_tx(ISSUER, CHAIN, body, 7).raw for body in BODIES.values()]


def item_encodings(raw: bytes) -> list[bytes]:
    """The six canonical item encodings of an envelope."""
    return [_pack(item) for item in msgpack.unpackb(raw, raw=False)]


# --- sign bytes -----------------------------------------------------------------------
@pytest.mark.parametrize("tx_type", sorted(BODIES))
def test_sliced_sign_bytes_equal_the_encoded_sign_bytes(tx_type: str) -> None:
    for nonce in (0, 1, 127, 128, 2**16, 2**32, 2**64 - 1):
        tx = txm.decode_tx(txm.make_tx(ISSUER, CHAIN, BODIES[tx_type], nonce).raw)
        assert tx.sign_bytes == txm.tx_sign_bytes(CHAIN, tx.type, tx.signer, tx.nonce,
                                                  tx.body)


def test_sliced_sign_bytes_hold_for_long_chain_ids() -> None:
    # str8 and str16 headers for the chain id (fixstr up to 31 bytes).
    for chain_id in ("x" * 31, "x" * 32, "é" * 200, "y" * 300):
        tx = txm.make_tx(ISSUER, chain_id, BODIES["transfer"], 3)
        decoded = txm.decode_tx(tx.raw)
        assert decoded.sign_bytes == tx.sign_bytes and decoded.tx_id == tx.tx_id


# --- same verdicts --------------------------------------------------------------------
def test_vectors_get_the_reference_verdicts() -> None:
    outcomes = {assert_same_verdict(raw) for raw in VECTOR_INPUTS + valid_raws()}
    assert outcomes == {"accepted", "refused"}


def test_seeded_byte_mutations_get_the_reference_verdicts() -> None:
    rng = random.Random(SEED)
    refused = 0
    for raw in valid_raws():
        for _ in range(150):
            mutated = bytearray(raw)
            position = rng.randrange(len(mutated))
            mutated[position] = rng.randrange(256)
            refused += assert_same_verdict(bytes(mutated)) == "refused"
        for cut in sorted(rng.sample(range(1, len(raw)), 10)):
            assert assert_same_verdict(raw[:cut]) == "refused"
        assert assert_same_verdict(raw + b"\x00") == "refused"
    assert refused > 100


FLOAT64_ONE = b"\xcb" + struct.pack(">d", 1.0)
FLOAT32_ONE = b"\xca" + struct.pack(">f", 1.0)


@pytest.mark.parametrize("replacement, expected", [
    (FLOAT64_ONE, "Malformed"),           # canonical float: the generic walk refuses it
    (FLOAT32_ONE, "Malformed"),           # non-canonical float: still Malformed first
    (b"\xc3", "Malformed"),               # a boolean where the nonce is
    (b"\x80", "Malformed"),               # an empty map
    (b"\x81\xa1a\x01", "Malformed"),      # a map
    (b"\xd4\x01\x00", "Malformed"),       # an extension type
    (b"\xcd\x00\x05", "NonCanonical"),    # a non-minimal integer
    (b"\xd9\x01x", "NonCanonical"),       # a str8 where a fixstr fits (wrong type too)
])
def test_nonce_replacements_get_the_reference_verdict(replacement: bytes,
                                                      expected: str) -> None:
    items = item_encodings(txm.make_tx(ISSUER, CHAIN, BODIES["transfer"], 5).raw)
    items[3] = replacement
    raw = b"\x96" + b"".join(items)
    assert verdict(txm.decode_tx, raw) == ("refused", expected)
    assert_same_verdict(raw)


def test_unknown_type_with_a_float_is_malformed_as_before() -> None:
    # Both rules broken: DESIGN §4 (no floats) comes before the unknown type.
    items = item_encodings(txm.make_tx(ISSUER, CHAIN, BODIES["transfer"], 5).raw)
    items[0], items[3] = _pack("mint"), FLOAT64_ONE
    raw = b"\x96" + b"".join(items)
    assert verdict(txm.decode_tx, raw) == ("refused", "Malformed")
    assert_same_verdict(raw)


def test_deep_nesting_inside_a_body_gets_the_reference_verdict() -> None:
    tx = txm.make_tx(ISSUER, CHAIN, BODIES["update_validators"], 1)
    body = to_fields(tx.body)
    deep: list[Any] = []
    for _ in range(40):
        deep = [deep]
    for changed in ([*body[:3], deep], [deep, *body[1:]]):
        # Packed without `encode`, which would refuse the nesting itself.
        raw = _pack([tx.type, CHAIN, tx.signer, 1, changed, tx.signature])
        assert verdict(txm.decode_tx, raw) == ("refused", "Malformed")
        assert_same_verdict(raw)


# --- decode_typed in general ----------------------------------------------------------
def test_decode_typed_builds_only_canonical_accepted_values() -> None:
    def build(value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or not all(type(v) is int for v in value):
            raise errors.Malformed("ints only")
        return tuple(value)

    assert decode_typed(encode([1, 2, 300]), build, max_bytes=100) == (1, 2, 300)
    with pytest.raises(errors.NonCanonical):
        decode_typed(b"\x92\x01\xcd\x00\x02", build, max_bytes=100)
    with pytest.raises(errors.Malformed):  # build's own rule
        decode_typed(encode([1, b"x"]), build, max_bytes=100)
    with pytest.raises(errors.TooLarge):
        decode_typed(encode([1] * 200), build, max_bytes=100)


# --- the per-thread packer ------------------------------------------------------------
def test_packer_gives_msgpack_bytes_in_every_thread_and_after_an_error() -> None:
    values = [[i, b"x" * i, "s" * (i % 40), None, [i, [i]]] for i in range(300)]
    expected = [msgpack.packb(v, use_bin_type=True) for v in values]
    results: dict[int, list[bytes]] = {}

    def worker(index: int) -> None:
        with pytest.raises(TypeError):
            _pack([1, object()])  # a failed pack leaves nothing behind in the buffer
        results[index] = [_pack(v) for v in values]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[i] == expected for i in range(4))
    assert [encode(v) for v in values] == expected


def test_a_large_encoding_leaves_a_fresh_small_packer_behind() -> None:
    big = [b"x" * 300_000, list(range(1000))]
    assert _pack(big) == msgpack.packb(big, use_bin_type=True)
    assert getattr(codec._PACKERS, "packer", None) is None  # its grown buffer is let go
    assert _pack([1, b"y"]) == b"\x92\x01\xc4\x01y"

"""Transaction envelope (DESIGN §3, §4): signing, ids, strict decoding, domain separation.

Vectors: tests/vectors/tx/*.json (format and keys in its README.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from pathlib import Path
from typing import Any, get_type_hints

import msgpack
import pytest

from greenchain import errors
from greenchain.codec import encode
from greenchain.crypto.keys import key_from_seed
from greenchain.crypto.signing import check_signature, verify_signature
from greenchain.model import transactions as txm
from greenchain.model.blocks import PRECOMMIT, PREVOTE, proposal_sign_bytes, vote_sign_bytes
from greenchain.model.fields import to_fields
from greenchain.params import (
    MAX_STR_LEN,
    MAX_TX_BYTES,
    PROPOSAL_DOMAIN,
    TX_DOMAIN,
    VALSET_DOMAIN,
    VOTE_DOMAIN,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "tx"
TX_VECTORS = {p.stem: json.loads(p.read_text()) for p in sorted(VECTORS.glob("*.json"))}
CHAIN = "greenchain-test"
ALICE, BOB, ISSUER = (key_from_seed(n) for n in ("alice", "bob", "issuer"))
BUNDLE = hashlib.sha256(b"bundle").digest()

BODIES: dict[str, Any] = {
    "register_account": txm.RegisterAccount(ALICE.public, "Alice"),
    "register_device": txm.RegisterDevice("WT-01", "Turbine 1", BOB.public, ALICE.public,
                                          3_000_000, "F01050100", "T020001", "DE",
                                          53_551_086, -9_993_682, 1_420_070_400, "DE-LU",
                                          "GRID-1", "production", 1, "voluntary", 35),
    "attest": txm.Attest("WT-01", 1_420_070_400, 1_420_074_000, 2_500_000, 10, 2_500_010),
    "transfer": txm.Transfer(BUNDLE, 1000, BOB.public),
    "retire": txm.Retire(BUNDLE, 1, "Bob AG", 0, 3600, "disclosure", "FR"),
    "suspend_device": txm.SuspendDevice("WT-01", "fault"),
    "suspend_account": txm.SuspendAccount(BOB.public, "fraud"),
    "update_validators": txm.UpdateValidators(
        (BOB.public,), (ALICE.public,), 10,
        (txm.ValidatorSignature(ALICE.public, bytes(64)),
         txm.ValidatorSignature(BOB.public, b"\x01" * 64))),
    "withdraw": txm.Withdraw(BUNDLE, "meter fault"),
    "export": txm.Export(BUNDLE, 700, "AIB-NL", ""),
    "import": txm.Import("AIB-NL", "NL-PV-3", 5, 905, ALICE.public, 1_420_070_400,
                         1_420_074_000, "F01010100", "T010100", "NL", "NL", "none",
                         "disclosure", 7),
}


def _transfer(nonce: int = 1) -> txm.Tx:
    return txm.make_tx(ALICE, CHAIN, BODIES["transfer"], nonce)


def _envelope(tx: txm.Tx) -> list[Any]:
    return [tx.type, tx.chain_id, tx.signer, tx.nonce, to_fields(tx.body), tx.signature]


def _signature_ok(tx: txm.Tx) -> bool:
    return verify_signature(tx.signer, tx.sign_bytes, tx.signature)


# --- vectors --------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TX_VECTORS))
def test_tx_vector(name: str) -> None:
    vector = TX_VECTORS[name]
    raw, expected = bytes.fromhex(vector["input"]), vector["expected"]
    if "error" in expected:
        with pytest.raises(errors.GreenChainError) as info:
            txm.decode_tx(raw)
        assert type(info.value).__name__ == expected["error"]
        return
    tx = txm.decode_tx(raw)
    assert (tx.tx_id.hex(), tx.type, tx.signer.hex(), tx.nonce) == (
        expected["tx_id"], expected["type"], expected["signer"], expected["nonce"])
    assert tx.raw == raw == encode(_envelope(tx))
    if expected["signature_error"] is None:
        check_signature(tx.signer, tx.sign_bytes, tx.signature)
    else:
        with pytest.raises(errors.SignatureError) as sig_info:
            check_signature(tx.signer, tx.sign_bytes, tx.signature)
        assert type(sig_info.value).__name__ == expected["signature_error"]


def test_vectors_hold_every_tx_type_and_both_outcomes() -> None:
    types = {v["expected"]["type"] for v in TX_VECTORS.values() if "type" in v["expected"]}
    assert types == set(txm.BODY_TYPES)
    assert any("error" in v["expected"] for v in TX_VECTORS.values())


def test_second_signature_vector_is_another_valid_signature_with_the_same_id() -> None:
    first = txm.decode_tx(bytes.fromhex(TX_VECTORS["valid_transfer"]["input"]))
    second = txm.decode_tx(bytes.fromhex(TX_VECTORS["second_signature"]["input"]))
    assert first.signature != second.signature and first.raw != second.raw
    assert _signature_ok(first) and _signature_ok(second)
    assert first.tx_id == second.tx_id


# --- round trips and ids --------------------------------------------------------------
@pytest.mark.parametrize("tx_type", sorted(BODIES))
def test_make_then_decode_round_trips_every_type(tx_type: str) -> None:
    tx = txm.make_tx(ISSUER, CHAIN, BODIES[tx_type], 42)
    assert tx.type == tx_type
    decoded = txm.decode_tx(tx.raw)
    assert decoded == tx
    assert decoded.body == BODIES[tx_type]
    assert _signature_ok(decoded)


def test_tx_id_is_sha256_of_the_domain_tagged_sign_bytes() -> None:
    tx = _transfer(7)
    expected = TX_DOMAIN + encode([CHAIN, "transfer", ALICE.public, 7, to_fields(tx.body)])
    assert tx.sign_bytes == expected
    assert tx.tx_id == hashlib.sha256(expected).digest()
    assert tx.raw == encode(["transfer", CHAIN, ALICE.public, 7, to_fields(tx.body),
                             tx.signature])


def test_tx_id_ignores_the_signature_but_every_signed_field_changes_it() -> None:
    tx = _transfer(1)
    resigned = txm.decode_tx(encode(_envelope(tx)[:5] + [bytes(64)]))
    assert resigned.tx_id == tx.tx_id and not _signature_ok(resigned)
    others = [_transfer(2), txm.make_tx(ALICE, "other", tx.body, 1),
              txm.make_tx(BOB, CHAIN, tx.body, 1),
              txm.make_tx(ALICE, CHAIN, txm.Transfer(BUNDLE, 1001, BOB.public), 1)]
    assert len({tx.tx_id} | {o.tx_id for o in others}) == 5


def test_nonce_bounds_are_those_of_a_uint64() -> None:
    assert txm.decode_tx(_transfer(2**64 - 1).raw).nonce == 2**64 - 1
    assert txm.decode_tx(_transfer(0).raw).nonce == 0


# --- tampering ------------------------------------------------------------------------
def test_every_single_bit_flip_is_refused_at_decoding_or_at_the_signature() -> None:
    tx = _transfer(3)
    accepted = []
    for position in range(len(tx.raw)):
        for bit in (0, 5, 7):
            raw = bytearray(tx.raw)
            raw[position] ^= 1 << bit
            try:
                decoded = txm.decode_tx(bytes(raw))
            except (errors.DecodeError, errors.InvalidTransaction):
                continue
            if _signature_ok(decoded):
                accepted.append((position, bit))
    assert accepted == []


@pytest.mark.parametrize("index, raw_item", [
    (3, b"\xcd\x00\x05"), (3, b"\xd0\x05"), (1, b"\xd9\x0f" + CHAIN.encode()),
    (0, b"\xda\x00\x08transfer"), (2, b"\xc5\x00\x20" + ALICE.public),
])
def test_non_minimal_re_encodings_of_a_field_are_refused(index: int, raw_item: bytes) -> None:
    tx = _transfer(5)
    items = [msgpack.packb(f, use_bin_type=True) for f in _envelope(tx)]
    items[index] = raw_item
    with pytest.raises(errors.NonCanonical):
        txm.decode_tx(b"\x96" + b"".join(items))


def test_non_minimal_integer_inside_the_body_is_refused() -> None:
    tx = _transfer(5)
    items = [msgpack.packb(f, use_bin_type=True) for f in _envelope(tx)]
    body = msgpack.packb(BUNDLE, use_bin_type=True)
    items[4] = b"\x93" + body + b"\xce\x00\x00\x03\xe8" + msgpack.packb(BOB.public)
    with pytest.raises(errors.NonCanonical):
        txm.decode_tx(b"\x96" + b"".join(items))


# --- field types ----------------------------------------------------------------------
def _wrong_values(value: Any) -> list[Any]:
    if isinstance(value, bool) or isinstance(value, int):
        return ["1", b"\x01", True, None, [value]]
    if isinstance(value, bytes):
        return [value.hex(), 1, None, [value]]
    if isinstance(value, str):
        return [value.encode(), 1, None, "x" * (MAX_STR_LEN + 1)]
    return [b"", 1, "list", [1]]  # a tuple field or a nested record


def _optional_positions(cls: type) -> set[int]:
    """Positions of fields declared ``X | None``: for them None is a valid value."""
    hints = get_type_hints(cls)
    return {i for i, f in enumerate(dataclasses.fields(cls))
            if type(None) in typing.get_args(hints[f.name])}


def test_every_tx_type_has_a_body_here() -> None:
    assert set(BODIES) == set(txm.BODY_TYPES)


@pytest.mark.parametrize("tx_type", sorted(BODIES))
def test_wrong_field_type_in_any_body_field_is_malformed(tx_type: str) -> None:
    tx = txm.make_tx(ISSUER, CHAIN, BODIES[tx_type], 1)
    body = to_fields(tx.body)
    optional = _optional_positions(type(tx.body))
    for position, value in enumerate(body):
        assert value is not None, "give optional fields a value so their type is tested"
        for wrong in _wrong_values(value):
            if wrong is None and position in optional:
                continue
            changed = body[:position] + [wrong] + body[position + 1:]
            raw = encode(_envelope(tx)[:4] + [changed, tx.signature])
            with pytest.raises(errors.Malformed):
                txm.decode_tx(raw)


def test_wrong_shape_inside_a_nested_record_is_malformed() -> None:
    tx = txm.make_tx(ISSUER, CHAIN, BODIES["update_validators"], 1)
    body = to_fields(tx.body)
    for bad_signatures in ([[ALICE.public]], [[ALICE.public, bytes(64), 0]], [[1, bytes(64)]],
                           [b"x"]):
        raw = encode(_envelope(tx)[:4] + [body[:3] + [bad_signatures], tx.signature])
        with pytest.raises(errors.Malformed):
            txm.decode_tx(raw)


@pytest.mark.parametrize("index, wrong", [
    (0, b"transfer"), (1, 5), (1, None), (2, "ab" * 16), (2, b"\x00" * 33), (3, -1),
    (3, False), (3, "1"), (5, "sig"), (5, b"\x00" * 65),
])
def test_wrong_envelope_field_is_malformed(index: int, wrong: Any) -> None:
    fields = _envelope(_transfer())
    fields[index] = wrong
    with pytest.raises(errors.Malformed):
        txm.decode_tx(encode(fields))


def test_unknown_type_is_its_own_error_carrying_the_type() -> None:
    fields = _envelope(_transfer())
    fields[0] = "mint"
    with pytest.raises(errors.UnknownTxType) as info:
        txm.decode_tx(encode(fields))
    assert info.value.to_dict()["tx_type"] == "mint"


def test_size_limit_is_exactly_max_tx_bytes() -> None:
    tx = _transfer()
    assert len(tx.raw) < MAX_TX_BYTES
    padded = tx.raw + b"\x00" * (MAX_TX_BYTES + 1 - len(tx.raw))
    with pytest.raises(errors.TooLarge):
        txm.decode_tx(padded)
    with pytest.raises(errors.Malformed):  # at the limit: read, then refused as trailing
        txm.decode_tx(padded[:-1])


# --- domain separation ----------------------------------------------------------------
def test_no_domain_tag_is_a_prefix_of_another() -> None:
    tags = [TX_DOMAIN, VOTE_DOMAIN, PROPOSAL_DOMAIN, VALSET_DOMAIN]
    assert len(set(tags)) == 4
    for tag in tags:
        assert not any(other != tag and other.startswith(tag) for other in tags)


def test_a_vote_signature_does_not_verify_as_a_transaction() -> None:
    tx = _transfer(9)
    for vote_type in (PREVOTE, PRECOMMIT):
        vote_sig = ALICE.sign(vote_sign_bytes(CHAIN, vote_type, 1, 0, tx.tx_id))
        forged = txm.decode_tx(encode(_envelope(tx)[:5] + [vote_sig]))
        with pytest.raises(errors.BadSignature):
            check_signature(forged.signer, forged.sign_bytes, forged.signature)


def test_a_tx_signature_does_not_verify_as_a_vote_or_a_proposal() -> None:
    tx = _transfer(9)
    for message in (vote_sign_bytes(CHAIN, PRECOMMIT, 1, 0, tx.tx_id),
                    proposal_sign_bytes(CHAIN, 1, 0, -1, tx.tx_id)):
        assert not verify_signature(ALICE.public, message, tx.signature)


def test_a_signature_for_one_chain_does_not_verify_on_another() -> None:
    tx = _transfer(9)
    moved = txm.decode_tx(encode([tx.type, "other-chain", *_envelope(tx)[2:]]))
    assert moved.tx_id != tx.tx_id
    assert not _signature_ok(moved)

"""Ed25519 verification policy (DESIGN §4) against published and generated vectors.

Vectors: tests/vectors/ed25519/ (format and per-case reasoning in its README.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greenchain import errors
from greenchain.crypto import signing
from greenchain.crypto.keys import KeyPair, key_from_seed

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "ed25519"
P = 2**255 - 19


def _read(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


SPECCHECK: list[dict[str, Any]] = _read("cases.json")["cases"]
EXTRA: list[dict[str, Any]] = _read("policy_extra.json")["cases"]

# The verdicts of DESIGN §4 for "Taming the many EdDSAs" cases 0..11, derived by hand
# (README.md beside the vectors): only case 3 (mixed-order A and R, valid cofactorless
# equation) passes; this is libsodium's row in the speccheck results table.
EXPECTED_SPECCHECK = {
    0: "SmallOrderKey", 1: "SmallOrderKey", 2: "NonCanonicalSignature", 3: None,
    4: "BadSignature", 5: "BadSignature", 6: "NonCanonicalSignature",
    7: "NonCanonicalSignature", 8: "NonCanonicalSignature", 9: "NonCanonicalSignature",
    10: "SmallOrderKey", 11: "SmallOrderKey",
}

# RFC 8032 §7.1 TEST 1-3: secret key, public key, message, signature.
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


def _inputs(case: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    return (bytes.fromhex(case["pub_key"]), bytes.fromhex(case["message"]),
            bytes.fromhex(case["signature"]))


def _assert_verdict(case: dict[str, Any]) -> None:
    pub, msg, sig = _inputs(case)
    if case["error"] is None:
        signing.check_signature(pub, msg, sig)
    else:
        with pytest.raises(errors.SignatureError) as info:
            signing.check_signature(pub, msg, sig)
        assert type(info.value).__name__ == case["error"]
    assert signing.verify_signature(pub, msg, sig) is case["accept"]


def _policy_from_properties(facts: dict[str, Any]) -> str | None:
    if not facts["a_canonical"] or facts["a_small_order"]:
        return "SmallOrderKey"
    if not facts["r_canonical"] or facts["r_small_order"] or not facts["s_below_l"]:
        return "NonCanonicalSignature"
    return None if facts["cofactorless_equation"] else "BadSignature"


# --- published edge cases -------------------------------------------------------------
@pytest.mark.parametrize("case", SPECCHECK, ids=lambda c: f"case{c['id']}")
def test_speccheck_case_gets_the_policy_verdict(case: dict[str, Any]) -> None:
    _assert_verdict(case)


def test_speccheck_file_holds_the_twelve_published_cases_in_order() -> None:
    published = _read("speccheck_cases.json")
    assert [c["id"] for c in SPECCHECK] == list(range(12))
    assert [{k: c[k] for k in ("message", "pub_key", "signature")} for c in SPECCHECK] == published


def test_speccheck_verdicts_match_the_hand_derived_table() -> None:
    assert {c["id"]: c["error"] for c in SPECCHECK} == EXPECTED_SPECCHECK
    assert [c["id"] for c in SPECCHECK if c["accept"]] == [3]


@pytest.mark.parametrize("case", SPECCHECK, ids=lambda c: f"case{c['id']}")
def test_recorded_verdict_follows_from_the_case_properties(case: dict[str, Any]) -> None:
    assert _policy_from_properties(case["properties"]) == case["error"]


def test_speccheck_covers_each_rule_of_the_policy() -> None:
    # Cases 4 and 5 pass the cofactored equation only: the cofactorless choice matters.
    by_id = {c["id"]: c["properties"] for c in SPECCHECK}
    assert by_id[4]["cofactored_equation"] and not by_id[4]["cofactorless_equation"]
    assert by_id[6]["cofactorless_equation"] and not by_id[6]["s_below_l"]
    assert not by_id[8]["r_canonical"] and not by_id[10]["a_canonical"]
    assert by_id[0]["a_small_order"] and by_id[0]["r_small_order"] and by_id[0]["s_is_zero"]


# --- generated boundary cases ---------------------------------------------------------
@pytest.mark.parametrize("case", EXTRA, ids=lambda c: c["description"])
def test_boundary_case_gets_the_policy_verdict(case: dict[str, Any]) -> None:
    _assert_verdict(case)


def test_boundary_cases_include_two_distinct_valid_signatures() -> None:
    valid = [c for c in EXTRA if c["accept"]]
    assert len(valid) == 2
    assert valid[0]["signature"] != valid[1]["signature"]
    assert valid[0]["pub_key"] == valid[1]["pub_key"]


# --- RFC 8032 and round trips ---------------------------------------------------------
@pytest.mark.parametrize("secret, public, message, signature", RFC8032)
def test_rfc8032_vectors_verify_and_sign_identically(
        secret: str, public: str, message: str, signature: str) -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert signing.sign(private, bytes.fromhex(message)).hex() == signature
    signing.check_signature(bytes.fromhex(public), bytes.fromhex(message),
                            bytes.fromhex(signature))


def test_sign_then_verify_round_trip_and_a_changed_message_fails() -> None:
    key = key_from_seed("alice")
    sig = key.sign(b"greenchain/tx/v1 payload")
    assert sig == signing.sign(key.private, b"greenchain/tx/v1 payload")
    assert signing.verify_signature(key.public, b"greenchain/tx/v1 payload", sig)
    # The public-key cache must not turn into a verdict cache.
    with pytest.raises(errors.BadSignature):
        signing.check_signature(key.public, b"greenchain/tx/v1 payloaD", sig)


@pytest.mark.parametrize("bad", [None, "a" * 32, 7, b""])
def test_verify_signature_returns_false_for_junk_instead_of_raising(bad: Any) -> None:
    key: KeyPair = key_from_seed("bob")
    sig = key.sign(b"m")
    assert signing.verify_signature(bad, b"m", sig) is False
    assert signing.verify_signature(key.public, b"m", bad) is False


# --- the predicates -------------------------------------------------------------------
@pytest.mark.parametrize("y, canonical", [
    (0, True), (1, True), (P - 1, True), (P, False), (P + 1, False), (2**255 - 1, False),
])
def test_is_canonical_point_compares_y_with_p_whatever_the_sign_bit(
        y: int, canonical: bool) -> None:
    for sign in (0, 1):
        assert signing.is_canonical_point((y | sign << 255).to_bytes(32, "little")) is canonical


def test_is_canonical_point_is_false_for_a_wrong_length() -> None:
    assert not signing.is_canonical_point(bytes(31))
    assert not signing.is_canonical_point(bytes(33))


def test_every_small_order_encoding_is_refused_as_key_and_as_r() -> None:
    key = key_from_seed("carol")
    sig = key.sign(b"m")
    small = [c for c in EXTRA
             if c["description"].startswith("A ") and c["error"] == "SmallOrderKey"]
    assert len(small) == 14
    for case in small:
        encoding = bytes.fromhex(case["pub_key"])
        with pytest.raises(errors.SmallOrderKey):
            signing.validate_public_key(encoding)
        if signing.is_canonical_point(encoding):
            with pytest.raises(errors.NonCanonicalSignature):
                signing.validate_signature_encoding(encoding + sig[32:])


def test_a_regular_key_is_neither_small_order_nor_non_canonical() -> None:
    public = key_from_seed("alice").public
    assert signing.is_canonical_point(public)
    assert not signing.is_small_order(public)
    signing.validate_public_key(public)


def test_s_equal_to_l_is_refused_and_l_minus_one_passes_the_encoding_check() -> None:
    r_bytes = key_from_seed("alice").sign(b"m")[:32]
    with pytest.raises(errors.NonCanonicalSignature):
        signing.validate_signature_encoding(r_bytes + signing.L.to_bytes(32, "little"))
    signing.validate_signature_encoding(r_bytes + (signing.L - 1).to_bytes(32, "little"))

"""Write the test vectors that come from GreenChain's reference functions (STYLE.md §12).

Run: ``.venv/bin/python scripts/gen_vectors.py``. Writes ed25519/*.json (but the published
speccheck_cases.json), merkle/paths.json, tx/*.json and proofs/*.{gcproof,json} (from the
test chain builders) under tests/vectors; the tests only read them. Published and
spec-derived inputs (merkle/rfc6962_known_answers.json, codec/*.json) are data this script
never writes. Each kind's README.md gives the format. Output is deterministic.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
from ed25519_ref import (
    IDENTITY,
    L,
    P,
    challenge,
    decode_lenient,
    ed25519_properties,
    encode_point,
    mul,
    policy_verdict,
    sign_with_nonce,
)

from greenchain.codec import encode
from greenchain.crypto.keys import key_from_seed
from greenchain.crypto.merkle import inclusion_path, merkle_root
from greenchain.model import transactions as txm
from greenchain.model.blocks import PRECOMMIT, vote_sign_bytes
from greenchain.model.fields import to_fields
from greenchain.params import TX_DOMAIN

VECTORS = Path(__file__).resolve().parents[1] / "tests" / "vectors"
CHAIN_ID = "greenchain-vectors"



def gen_ed25519() -> None:
    published = json.loads((VECTORS / "ed25519" / "speccheck_cases.json").read_text())
    cases = []
    for number, case in enumerate(published):
        pub, msg, sig = (bytes.fromhex(case[k]) for k in ("pub_key", "message", "signature"))
        facts = ed25519_properties(pub, msg, sig)
        verdict = policy_verdict(facts)
        cases.append({"id": number, **case, "properties": facts,
                      "accept": verdict is None, "error": verdict})
    write("ed25519/cases.json", {
        "source": "novifinancial/ed25519-speccheck cases.txt (12 cases, numbered 0..11 as in "
                  "'Taming the many EdDSAs', Chalkias, Garillot, Nikolaenko 2020)",
        "policy": "DESIGN §4: A canonical and not small order; R canonical and not small "
                  "order; S < L; cofactorless [S]B == R + [k]A",
        "cases": cases})
    write("ed25519/policy_extra.json", {"cases": _extra_ed25519_cases()})


def _extra_ed25519_cases() -> list[dict[str, Any]]:
    key, other = key_from_seed("alice"), key_from_seed("bob")
    msg = b"greenchain ed25519 policy vector"
    sig = key.sign(msg)
    s_plus_l = (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    alt = sign_with_nonce(key, msg, challenge(b"alternative", b"nonce", msg))
    rows: list[tuple[str, bytes, bytes, bytes]] = [
        ("valid signature by key_from_seed('alice')", key.public, msg, sig),
        ("second valid signature, other nonce r", key.public, msg, alt),
        ("S + L: same equation, S not reduced", key.public, msg, sig[:32] + s_plus_l),
        ("signature by another key", other.public, msg, sig),
        ("message changed", key.public, msg + b".", sig),
        ("A canonical but not on the curve (y = 2)", (2).to_bytes(32, "little"), msg, sig),
        ("R with y = p + 3 (alias of y = 3)", key.public, msg,
         (P + 3).to_bytes(32, "little") + sig[32:]),
        ("signature 63 bytes", key.public, msg, sig[:63]),
        ("signature 65 bytes", key.public, msg, sig + b"\x00"),
        ("public key 31 bytes", key.public[:31], msg, sig),
    ]
    torsion_y = {"0": 0, "1": 1, "p - 1": P - 1, "p (alias of 0)": P, "p + 1 (alias of 1)": P + 1}
    for label, y in torsion_y.items():  # y of the torsion points, and the y >= p aliases
        for sign in (0, 1):
            enc = (y | sign << 255).to_bytes(32, "little")
            rows.append((f"A with y = {label}, sign bit {sign}", enc, msg, sig))
            rows.append((f"R with y = {label}, sign bit {sign}", key.public, msg,
                         enc + sig[32:]))
    order8 = decode_lenient(bytes.fromhex(
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")) or IDENTITY
    for k in range(1, 8, 2):
        enc = encode_point(mul(k, order8))
        rows.append((f"A = [{k}]T8 (order 8)", enc, msg, sig))
        rows.append((f"R = [{k}]T8 (order 8)", key.public, msg, enc + sig[32:]))
    out = []
    for description, pub, message, signature in rows:
        if len(pub) != 32:
            verdict: str | None = "SmallOrderKey"
        elif len(signature) != 64:
            verdict = "NonCanonicalSignature"
        else:
            verdict = policy_verdict(ed25519_properties(pub, message, signature))
        out.append({"description": description, "pub_key": pub.hex(), "message": message.hex(),
                    "signature": signature.hex(), "accept": verdict is None, "error": verdict})
    assert alt != sig and out[1]["accept"]
    return out


# --- Merkle: audit paths from merkle.py over fixed leaves -----------------------------
def gen_merkle() -> None:
    leaves = [b"leaf-%d" % i for i in range(13)]
    proofs, tampered = [], []
    for size in range(1, 14):
        root = merkle_root(leaves[:size])
        for index in range(size):
            path = inclusion_path(leaves[:size], index)
            proofs.append({"size": size, "index": index, "leaf": leaves[index].hex(),
                           "root": root.hex(), "path": [h.hex() for h in path]})
    for proof in (p for p in proofs if p["size"] in (5, 8, 13)):
        for how, change in _TAMPERS.items():
            bad = change(dict(proof))
            if bad is not None:
                tampered.append({"how": how, **bad})
    write("merkle/paths.json", {"leaves": [leaf.hex() for leaf in leaves],
                                "proofs": proofs, "tampered": tampered})


def _flip_first(p: dict[str, Any]) -> dict[str, Any] | None:
    if not p["path"]:
        return None
    first = bytes.fromhex(p["path"][0])
    return {**p, "path": [bytes([first[0] ^ 8]).hex() + first[1:].hex()] + p["path"][1:]}


_TAMPERS: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    "index + 1": lambda p: {**p, "index": p["index"] + 1},
    "index - 1": lambda p: {**p, "index": p["index"] - 1},
    "size * 2": lambda p: {**p, "size": p["size"] * 2},
    "size // 2": lambda p: {**p, "size": p["size"] // 2},
    "first path hash bit 3 flipped": _flip_first,
    "last path hash dropped": lambda p: {**p, "path": p["path"][:-1]} if p["path"] else None,
    "root appended to the path": lambda p: {**p, "path": p["path"] + [p["root"]]},
    "empty hash prepended": lambda p: {**p, "path": [""] + p["path"]},
    "root of the empty tree": lambda p: {**p, "root": hashlib.sha256(b"").hexdigest()},
    "leaf changed": lambda p: {**p, "leaf": p["leaf"] + "21"},
}


def write(relative: str, payload: Any) -> None:
    target = VECTORS / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")


# --- transactions: envelopes signed with deterministic keys ----------------------------
KEYS = {n: key_from_seed(n) for n in ("issuer", "alice", "bob", "meter_gateway", "validator_1")}


def _valid_bodies() -> dict[str, tuple[str, Any]]:
    alice, bob, gateway = (KEYS[n].public for n in ("alice", "bob", "meter_gateway"))
    bundle = hashlib.sha256(encode(["WT-01", 0, 1500])).digest()
    approval = txm.ValidatorSignature(KEYS["validator_1"].public, b"\x11" * 64)
    return {  # signer name, body
        "register_account": ("issuer", txm.RegisterAccount(alice, "Alice Energy GmbH")),
        "register_device": ("issuer", txm.RegisterDevice(
            "WT-01", "Wind turbine 1", gateway, alice, 2_000_000, "F01050100", "T020001",
            "DE", 53_551_086, 9_993_682, 1_420_070_400, "DE-LU", "GRID-POINT-WT-01",
            "investment", 0, "disclosure", 12)),
        "attest": ("meter_gateway", txm.Attest("WT-01", 1_420_070_400, 1_420_074_000, 1500,
                                               9_000_000, 9_001_500)),
        "transfer": ("alice", txm.Transfer(bundle, 1000, bob)),
        "retire": ("alice", txm.Retire(bundle, 500, "Alice Energy GmbH", 1_420_070_400,
                                       1_420_074_000, "disclosure", "DE")),
        "suspend_device": ("issuer", txm.SuspendDevice("WT-01", "meter fault")),
        "suspend_account": ("issuer", txm.SuspendAccount(bob, "unpaid fees")),
        "update_validators": ("validator_1", txm.UpdateValidators(
            (KEYS["bob"].public,), (), 100, (approval,))),
        "withdraw": ("issuer", txm.Withdraw(bundle, "meter fault")),
        "export": ("alice", txm.Export(bundle, 500, "AIB-NL", "NL-GREEN-1")),
        "import": ("issuer", txm.Import("AIB-NL", "NL-PV-3", 1000, 1600, alice, 1_420_070_400,
                                        1_420_074_000, "F01010100", "T010100", "NL", "NL",
                                        "none", "disclosure", None)),
    }


def _decoded(fields: list[Any], description: str) -> dict[str, Any]:
    """Expected outcome of an envelope that decodes; the verdict from the reference policy."""
    tx_type, chain_id, signer, nonce, body, signature = fields
    sign_bytes = TX_DOMAIN + encode([chain_id, tx_type, signer, nonce, body])
    verdict = policy_verdict(ed25519_properties(signer, sign_bytes, signature))
    return {"description": description, "input": encode(fields).hex(),
            "expected": {"tx_id": hashlib.sha256(sign_bytes).hexdigest(), "type": tx_type,
                         "signer": signer.hex(), "nonce": nonce, "signature_error": verdict}}


def _failing(raw: bytes, error: str, description: str) -> dict[str, Any]:
    return {"description": description, "input": raw.hex(), "expected": {"error": error}}


def _splice(fields: list[Any], index: int, raw_item: bytes) -> bytes:
    """Envelope bytes with item `index` replaced by `raw_item` (hand-made, maybe invalid)."""
    items = [msgpack.packb(f, use_bin_type=True) for f in fields]
    items[index] = raw_item
    return bytes([0x90 | len(items)]) + b"".join(items)


def gen_tx() -> None:
    made = {}
    for nonce, (tx_type, (signer, body)) in enumerate(_valid_bodies().items(), start=1):
        made[tx_type] = txm.make_tx(KEYS[signer], CHAIN_ID, body, nonce)
        fields = [tx_type, CHAIN_ID, KEYS[signer].public, nonce, to_fields(body),
                  made[tx_type].signature]
        write(f"tx/valid_{tx_type}.json", _decoded(fields, f"a valid {tx_type}"))
    tx = made["transfer"]
    fields = [tx.type, tx.chain_id, tx.signer, tx.nonce, to_fields(tx.body), tx.signature]
    for name, vector in {**_signature_variants(tx, fields), **_decode_failures(fields)}.items():
        write(f"tx/{name}.json", vector)


def _signature_variants(tx: txm.Tx, fields: list[Any]) -> dict[str, dict[str, Any]]:
    key, sig, body = KEYS["alice"], tx.signature, fields[4]

    def with_(index: int, value: Any) -> list[Any]:
        return fields[:index] + [value] + fields[index + 1:]

    alt = sign_with_nonce(key, tx.sign_bytes, challenge(b"second", b"signature", b""))
    s_plus_l = (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    top = txm.make_tx(key, CHAIN_ID, tx.body, 2**64 - 1)
    vote_sig = key.sign(vote_sign_bytes(CHAIN_ID, PRECOMMIT, 1, 0, tx.tx_id))
    return {
        "second_signature": _decoded(with_(5, alt), "the transfer signed again with another "
                                     "nonce r: a different valid signature, the same tx_id"),
        "max_nonce": _decoded([*fields[:3], 2**64 - 1, body, top.signature],
                              "nonce 2^64 - 1, the largest uint64"),
        "sig_malleated_s_plus_l": _decoded(with_(5, sig[:32] + s_plus_l),
                                           "S + L: the same tx_id, refused by the policy"),
        "sig_tampered_amount": _decoded(with_(4, [body[0], body[1] + 1, body[2]]),
                                        "amount changed after signing: another tx_id"),
        "sig_tampered_signature": _decoded(with_(5, sig[:32] + bytes([sig[32] ^ 1]) + sig[33:]),
                                           "lowest bit of S flipped"),
        "sig_wrong_chain": _decoded(with_(1, "other-chain"), "chain id changed; the "
                                    "signature was made for greenchain-vectors"),
        "sig_vote_signature": _decoded(with_(5, vote_sig), "a precommit signature by the "
                                       "signer (domain greenchain/vote/v1) used as tx signature"),
        "sig_small_order_signer": _decoded(with_(2, b"\x01" + bytes(31)), "signer is the "
                                           "identity point, a small-order key"),
    }


def _decode_failures(fields: list[Any]) -> dict[str, dict[str, Any]]:
    body, enc, packb = fields[4], encode(fields), msgpack.packb

    def with_(index: int, value: Any) -> bytes:
        return encode(fields[:index] + [value] + fields[index + 1:])

    def retire(beneficiary: str) -> bytes:
        retire_body = txm.Retire(body[0], 1, beneficiary, 0, 3600, "disclosure", "DE")
        return encode(["retire", *fields[1:4], to_fields(retire_body), fields[5]])

    cases: list[tuple[str, bytes, str, str]] = [
        ("non_minimal_nonce", _splice(fields, 3, b"\xcf" + fields[3].to_bytes(8, "big")),
         "NonCanonical", "nonce 4 written as uint64"),
        ("str8_chain_id", _splice(fields, 1, b"\xd9\x12" + CHAIN_ID.encode()),
         "NonCanonical", "the 18-byte chain id written as str8 instead of fixstr"),
        ("trailing_byte", enc + b"\x00", "Malformed", "one byte after the envelope"),
        ("truncated", enc[:-1], "Malformed", "last byte missing"),
        ("unknown_type", with_(0, "mint"), "UnknownTxType", "type 'mint' is not defined"),
        ("type_not_str", with_(0, 3), "Malformed", "type is an int"),
        ("amount_str", with_(4, [body[0], "1000", body[2]]), "Malformed", "amount is a str"),
        ("amount_bool", with_(4, [body[0], True, body[2]]), "Malformed", "amount is a bool"),
        ("amount_float", _splice(fields, 4, packb([body[0], 1000.0, body[2]])),
         "Malformed", "amount is a float64"),
        ("amount_ext", _splice(fields, 4, b"\x93" + packb(body[0]) + b"\xd4\x01\x00"
                               + packb(body[2])), "Malformed", "amount is an ext type"),
        ("bundle_id_str", with_(4, ["ab", body[1], body[2]]), "Malformed",
         "bundle_id is a str"),
        ("nonce_negative", with_(3, -1), "Malformed", "nonce is -1"),
        ("nonce_bool", with_(3, True), "Malformed", "nonce is a bool"),
        ("signature_63", with_(5, fields[5][:63]), "Malformed", "signature of 63 bytes"),
        ("signer_31", with_(2, fields[2][:31]), "Malformed", "signer of 31 bytes"),
        ("signer_str", with_(2, "alice"), "Malformed", "signer is a str"),
        ("body_short", with_(4, body[:2]), "Malformed", "transfer body of 2 fields"),
        ("body_long", with_(4, body + [0]), "Malformed", "transfer body of 4 fields"),
        ("body_int", with_(4, 7), "Malformed", "body is an int"),
        ("body_map", _splice(fields, 4, packb({"amount_wh": 1})), "Malformed",
         "body is a map"),
        ("envelope_5", encode(fields[:5]), "Malformed", "envelope of 5 fields"),
        ("envelope_7", encode(fields + [0]), "Malformed", "envelope of 7 fields"),
        ("envelope_str", encode("transfer"), "Malformed", "envelope is a str"),
        ("envelope_map", packb({"type": "transfer"}), "Malformed", "envelope is a map"),
        ("string_too_long", retire("x" * 1025), "Malformed",
         "beneficiary of 1025 characters (MAX_STR_LEN is 1024)"),
        ("too_large", retire("x" * 17_000), "TooLarge",
         "17,000-character beneficiary: above MAX_TX_BYTES (16 KiB)"),
    ]
    return {f"err_{name}": _failing(raw, error, why) for name, raw, error, why in cases}


# --- provenance proofs: the chains are the test builders (proofs/README.md) ----------
def gen_proofs() -> None:
    sys.path[:0] = [str(VECTORS.parent), str(VECTORS.parent / "unit" / "proof")]
    from helpers.chain_builder import write_proof_vector
    from lifecycle_chain import write_lifecycle_vectors
    write_proof_vector(VECTORS / "proofs")
    write_lifecycle_vectors(VECTORS / "proofs")


def main() -> None:
    gen_ed25519()
    gen_merkle()
    gen_tx()
    gen_proofs()


if __name__ == "__main__":
    main()

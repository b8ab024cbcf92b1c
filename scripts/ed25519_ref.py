"""Ed25519 reference arithmetic (RFC 8032 §5.1 and §6), independent of OpenSSL.

Used by scripts/gen_vectors.py to sign with chosen nonces and to state, for each edge-case
vector, which properties it has (canonical encodings, small order, which verification
equation holds) and the verdict GreenChain's policy (DESIGN §4) gives it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives import serialization

from greenchain.crypto.keys import KeyPair

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)
IDENTITY: Point = (0, 1, 1, 0)


def _add(p: Point, q: Point) -> Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(scalar: int, point: Point) -> Point:
    result = IDENTITY
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same(p: Point, q: Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def decode_lenient(encoded: bytes) -> Point | None:
    """Decode like ref10 does: y taken mod p, the sign of x = 0 ignored; None off-curve."""
    y = (int.from_bytes(encoded, "little") & ((1 << 255) - 1)) % P
    sign = encoded[31] >> 7
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x and x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def encode_point(point: Point) -> bytes:
    zinv = pow(point[2], P - 2, P)
    x, y = point[0] * zinv % P, point[1] * zinv % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


BASE = decode_lenient((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))
assert BASE is not None


def _is_canonical(encoded: bytes) -> bool:
    """RFC 8032 §5.1.3: y < p, and no sign bit on x = 0."""
    point = decode_lenient(encoded)
    y = int.from_bytes(encoded, "little") & ((1 << 255) - 1)
    return y < P and not (point is not None and point[0] == 0 and encoded[31] >> 7)


def challenge(r_bytes: bytes, a_bytes: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r_bytes + a_bytes + message).digest(), "little") % L


def sign_with_nonce(key: KeyPair, message: bytes, nonce: int) -> bytes:
    """Sign like RFC 8032 §5.1.6 but with a chosen nonce r: another valid signature."""
    seed = key.private.private_bytes(serialization.Encoding.Raw,
                                     serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
    digest = hashlib.sha512(seed).digest()
    scalar = (int.from_bytes(digest[:32], "little") & ((1 << 254) - 8)) | (1 << 254)
    assert BASE is not None and encode_point(mul(scalar, BASE)) == key.public
    r_bytes = encode_point(mul(nonce, BASE))
    s = (nonce + challenge(r_bytes, key.public, message) * scalar) % L
    return r_bytes + s.to_bytes(32, "little")


def ed25519_properties(pub: bytes, msg: bytes, sig: bytes) -> dict[str, Any]:
    """Facts about one (A, M, R || S) computed with the reference arithmetic."""
    a_pt, r_pt = decode_lenient(pub), decode_lenient(sig[:32])
    s = int.from_bytes(sig[32:], "little")

    def small(pt: Point | None) -> bool | None:
        return None if pt is None else _same(mul(8, pt), IDENTITY)

    facts: dict[str, Any] = {
        "a_canonical": _is_canonical(pub), "a_small_order": small(a_pt),
        "r_canonical": _is_canonical(sig[:32]), "r_small_order": small(r_pt),
        "s_below_l": s < L, "s_is_zero": s == 0,
        "cofactorless_equation": None, "cofactored_equation": None,
    }
    if a_pt is not None and r_pt is not None and BASE is not None:
        rhs = _add(r_pt, mul(challenge(sig[:32], pub, msg), a_pt))
        lhs = mul(s, BASE)
        facts["cofactorless_equation"] = _same(lhs, rhs)
        facts["cofactored_equation"] = _same(mul(8, lhs), mul(8, rhs))
    return facts


def policy_verdict(facts: dict[str, Any]) -> str | None:
    """DESIGN §4 in order: A, then R, then S, then the cofactorless equation."""
    if not facts["a_canonical"] or facts["a_small_order"]:
        return "SmallOrderKey"
    if not facts["r_canonical"] or facts["r_small_order"]:
        return "NonCanonicalSignature"
    if not facts["s_below_l"]:
        return "NonCanonicalSignature"
    return None if facts["cofactorless_equation"] else "BadSignature"

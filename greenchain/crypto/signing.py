"""Ed25519 signing and the strict verification policy of DESIGN §4.

Policy (the same verdict on every path and every node): public key and R must be
canonical encodings (y < p) and not of small order; S must be below the group order L;
then a cofactorless verification (OpenSSL, through `cryptography`). Reference for the
edge cases: Chalkias, Garillot, Nikolaenko, "Taming the many EdDSAs", 2020.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from greenchain.errors import BadSignature, NonCanonicalSignature, SmallOrderKey

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493

# Encodings of the 8 torsion points of edwards25519 and their non-canonical aliases
# (sign bit set where x = 0), as listed by libsodium's blocklist.
_SMALL_ORDER = frozenset(
    bytes.fromhex(h)
    for h in (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000080",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    )
)


def is_canonical_point(encoded: bytes) -> bool:
    """Return True if a 32-byte point encoding has y < p (never raises)."""
    if len(encoded) != 32:
        return False
    y = int.from_bytes(encoded, "little") & ((1 << 255) - 1)
    return y < P


def is_small_order(encoded: bytes) -> bool:
    """Return True if the 32-byte encoding is a torsion point or an alias of one."""
    return encoded in _SMALL_ORDER


def validate_public_key(pubkey: bytes) -> None:
    """Check a public key against the DESIGN §4 policy.

    Raises
    ------
    SmallOrderKey
        If the key is not 32 bytes, non-canonical, or of small order.
    """
    if len(pubkey) != 32 or not is_canonical_point(pubkey) or is_small_order(pubkey):
        raise SmallOrderKey("public key is malformed, non-canonical or of small order",
                            pubkey=bytes(pubkey))


def validate_signature_encoding(signature: bytes) -> None:
    """Check R and S of a 64-byte signature against the DESIGN §4 policy.

    Raises
    ------
    NonCanonicalSignature
        If the length is wrong, R is non-canonical or of small order, or S >= L.
    """
    if len(signature) != 64:
        raise NonCanonicalSignature("signature must be 64 bytes", length=len(signature))
    r_bytes, s_bytes = signature[:32], signature[32:]
    if not is_canonical_point(r_bytes) or is_small_order(r_bytes):
        raise NonCanonicalSignature("R is non-canonical or of small order")
    if int.from_bytes(s_bytes, "little") >= L:
        raise NonCanonicalSignature("S is not below the group order L")


@lru_cache(maxsize=65536)
def _load_public(pubkey: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(pubkey)


def check_signature(pubkey: bytes, message: bytes, signature: bytes) -> None:
    """Verify `signature` over `message` under the strict policy.

    Parameters
    ----------
    pubkey:
        32-byte Ed25519 public key.
    message:
        The exact bytes that were signed (domain tag included).
    signature:
        64-byte signature R || S.

    Raises
    ------
    SmallOrderKey, NonCanonicalSignature
        If the key or signature encoding breaks the policy.
    BadSignature
        If the cofactorless equation does not hold.
    """
    validate_public_key(pubkey)
    validate_signature_encoding(signature)
    try:
        _load_public(bytes(pubkey)).verify(bytes(signature), bytes(message))
    except InvalidSignature as exc:
        raise BadSignature("signature does not verify", pubkey=bytes(pubkey)) from exc


def verify_signature(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """Return True if `check_signature` accepts; never raises for bad input."""
    try:
        check_signature(pubkey, message, signature)
    except (BadSignature, SmallOrderKey, NonCanonicalSignature, ValueError, TypeError):
        return False
    return True


def sign(private_key: Ed25519PrivateKey, message: bytes) -> bytes:
    """Sign `message` (already domain-tagged) and return the 64-byte signature."""
    return private_key.sign(message)

"""SHA-256 helpers (DESIGN §4)."""

from __future__ import annotations

import hashlib
from typing import Any

from greenchain.codec import encode


def sha256(data: bytes) -> bytes:
    """Return the 32-byte SHA-256 digest of `data`."""
    return hashlib.sha256(data).digest()


def hash_encoded(value: Any) -> bytes:
    """Return SHA-256 of the canonical encoding of `value` (32 bytes)."""
    return hashlib.sha256(encode(value)).digest()

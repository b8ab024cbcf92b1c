"""Ed25519 key files: generate, save (mode 0600, optional passphrase) and load.

Key files are PKCS#8 PEM, encrypted with the passphrase when one is given.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greenchain.errors import BadKeyFile


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An Ed25519 private key with its 32-byte public key."""

    private: Ed25519PrivateKey
    """The private key (never serialised in consensus data)."""
    public: bytes
    """The raw 32-byte public key."""

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of `message`."""
        return self.private.sign(message)


def _from_private(private: Ed25519PrivateKey) -> KeyPair:
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return KeyPair(private, public)


def generate_key() -> KeyPair:
    """Generate a fresh random key pair."""
    return _from_private(Ed25519PrivateKey.generate())


def key_from_seed(seed: bytes | str) -> KeyPair:
    """Derive a deterministic key pair from a seed (tests and the dev network only).

    The 32-byte private scalar seed is SHA-256 of `seed`; such keys are INSECURE.
    """
    raw = seed.encode() if isinstance(seed, str) else seed
    return _from_private(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(raw).digest()))


def save_key(key: KeyPair, path: str | os.PathLike[str], passphrase: str | None = None) -> None:
    """Write `key` as PKCS#8 PEM with mode 0600; refuse to overwrite an existing file.

    Raises
    ------
    BadKeyFile
        If the file already exists.
    """
    target = Path(path)
    algorithm: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algorithm
    )
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise BadKeyFile(f"key file {target} already exists", path=str(target)) from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def load_key(path: str | os.PathLike[str], passphrase: str | None = None) -> KeyPair:
    """Load a key file written by `save_key`.

    Raises
    ------
    BadKeyFile
        If the file is missing, not an Ed25519 PKCS#8 key, or the passphrase is wrong.
    """
    target = Path(path)
    try:
        pem = target.read_bytes()
    except OSError as exc:
        raise BadKeyFile(f"cannot read key file {target}: {exc.strerror}",
                         path=str(target)) from exc
    try:
        private = serialization.load_pem_private_key(
            pem, password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BadKeyFile(f"cannot load key {target}: wrong format or passphrase",
                         path=str(target)) from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise BadKeyFile(f"{target} is not an Ed25519 key", path=str(target))
    return _from_private(private)

"""Ed25519 key files: generate, save (0600, passphrase), load, refuse bad files."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from greenchain.crypto import keys
from greenchain.crypto.signing import check_signature
from greenchain.errors import BadKeyFile, ConfigError

# key_from_seed("alice"): private seed SHA-256(b"alice"); public key pinned so that any
# change of the derivation (which every fixture and vector depends on) is caught.
ALICE_PUBLIC = "d5bf4a3fcce717b0388bcc2749ebc148ad9969b23f45ee1b605fd58778576ac4"


def _raw_seed(key: keys.KeyPair) -> bytes:
    return key.private.private_bytes(serialization.Encoding.Raw,
                                     serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_generate_key_gives_a_working_32_byte_public_key() -> None:
    key = keys.generate_key()
    assert isinstance(key.public, bytes) and len(key.public) == 32
    signature = key.sign(b"hello")
    assert len(signature) == 64
    check_signature(key.public, b"hello", signature)


def test_generated_keys_differ() -> None:
    assert keys.generate_key().public != keys.generate_key().public


def test_key_from_seed_is_deterministic_and_uses_sha256_of_the_seed() -> None:
    alice = keys.key_from_seed("alice")
    assert alice.public.hex() == ALICE_PUBLIC
    assert keys.key_from_seed(b"alice").public == alice.public
    assert _raw_seed(alice) == hashlib.sha256(b"alice").digest()
    assert keys.key_from_seed("bob").public != alice.public


def test_save_then_load_without_passphrase(tmp_path: Path) -> None:
    key = keys.key_from_seed("validator_0")
    target = tmp_path / "validator.pem"
    keys.save_key(key, target)
    loaded = keys.load_key(target)
    assert loaded.public == key.public
    assert _raw_seed(loaded) == _raw_seed(key)
    assert target.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_saved_file_has_mode_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        keys.save_key(keys.key_from_seed("a"), tmp_path / "a.pem")
        keys.save_key(keys.key_from_seed("b"), tmp_path / "b.pem", "secret")
    finally:
        os.umask(previous)
    for name in ("a.pem", "b.pem"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_save_and_load_with_the_right_passphrase(tmp_path: Path) -> None:
    key = keys.key_from_seed("bob")
    target = tmp_path / "bob.pem"
    keys.save_key(key, target, "correct horse")
    assert b"ENCRYPTED" in target.read_bytes()
    assert keys.load_key(target, "correct horse").public == key.public


@pytest.mark.parametrize("passphrase", [None, "", "wrong horse", "correct hors"])
def test_encrypted_key_with_a_wrong_or_missing_passphrase_is_bad_key_file(
        tmp_path: Path, passphrase: str | None) -> None:
    target = tmp_path / "bob.pem"
    keys.save_key(keys.key_from_seed("bob"), target, "correct horse")
    with pytest.raises(BadKeyFile):
        keys.load_key(target, passphrase)


def test_passphrase_given_for_a_plain_key_is_bad_key_file(tmp_path: Path) -> None:
    target = tmp_path / "plain.pem"
    keys.save_key(keys.key_from_seed("carol"), target)
    with pytest.raises(BadKeyFile):
        keys.load_key(target, "unexpected")


def test_save_refuses_to_overwrite_and_leaves_the_old_key(tmp_path: Path) -> None:
    target = tmp_path / "key.pem"
    keys.save_key(keys.key_from_seed("first"), target)
    before = target.read_bytes()
    with pytest.raises(BadKeyFile):
        keys.save_key(keys.key_from_seed("second"), target)
    assert target.read_bytes() == before
    assert keys.load_key(target).public == keys.key_from_seed("first").public


def test_bad_key_file_is_a_config_error_with_the_path(tmp_path: Path) -> None:
    target = tmp_path / "missing.pem"
    with pytest.raises(ConfigError) as info:
        keys.load_key(target)
    assert isinstance(info.value, BadKeyFile)
    assert info.value.to_dict()["path"] == str(target)


def _other_formats(tmp_path: Path) -> dict[str, Path]:
    ed = keys.key_from_seed("alice").private
    ec_key = ec.generate_private_key(ec.SECP256R1())
    x_key = x25519.X25519PrivateKey.from_private_bytes(bytes(range(32)))
    pkcs8 = serialization.PrivateFormat.PKCS8
    pem, plain = serialization.Encoding.PEM, serialization.NoEncryption()
    good = (tmp_path / "good.pem")
    keys.save_key(keys.key_from_seed("alice"), good)
    return {
        "empty": _write(tmp_path / "empty.pem", b""),
        "random bytes": _write(tmp_path / "random.pem", bytes(range(256))),
        "truncated pem": _write(tmp_path / "trunc.pem", good.read_bytes()[:60]),
        "bad base64 body": _write(tmp_path / "b64.pem", b"-----BEGIN PRIVATE KEY-----\n"
                                  b"AAAA\n-----END PRIVATE KEY-----\n"),
        "raw 32-byte seed": _write(tmp_path / "raw.key", _raw_seed(keys.key_from_seed("a"))),
        "public key pem": _write(tmp_path / "pub.pem", ed.public_key().public_bytes(
            pem, serialization.PublicFormat.SubjectPublicKeyInfo)),
        "openssh private key": _write(tmp_path / "ssh.key", ed.private_bytes(
            pem, serialization.PrivateFormat.OpenSSH, plain)),
        "p-256 key": _write(tmp_path / "ec.pem", ec_key.private_bytes(pem, pkcs8, plain)),
        "x25519 key": _write(tmp_path / "x.pem", x_key.private_bytes(pem, pkcs8, plain)),
        "directory": tmp_path,
        "missing file": tmp_path / "nope.pem",
    }


@pytest.mark.parametrize("kind", [
    "empty", "random bytes", "truncated pem", "bad base64 body", "raw 32-byte seed",
    "public key pem", "openssh private key", "p-256 key", "x25519 key", "directory",
    "missing file",
])
def test_wrong_file_format_is_bad_key_file(tmp_path: Path, kind: str) -> None:
    with pytest.raises(BadKeyFile):
        keys.load_key(_other_formats(tmp_path)[kind])


def test_pkcs8_key_of_an_unknown_algorithm_is_bad_key_file(tmp_path: Path) -> None:
    # PKCS#8 PrivateKeyInfo with algorithm OID 1.2.3.4 and a 32-byte key.
    der = bytes.fromhex("302e020100300506032a030404220420" + "11" * 32)
    pem = (b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(der)
           + b"-----END PRIVATE KEY-----\n")
    with pytest.raises(BadKeyFile):
        keys.load_key(_write(tmp_path / "unknown.pem", pem))

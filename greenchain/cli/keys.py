"""``greenchain keys new|show`` and the key arguments every client command shares.

Key files are PKCS#8 PEM with mode 0600 (``greenchain/crypto/keys.py``), encrypted when a
passphrase is given. An encrypted key's passphrase comes from GREENCHAIN_KEY_PASSPHRASE or,
failing that, a hidden prompt.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from greenchain.crypto.keys import KeyPair, generate_key, load_key, save_key
from greenchain.crypto.signing import validate_public_key
from greenchain.errors import BadInput, BadKeyFile, GreenChainError

PASSPHRASE_ENV = "GREENCHAIN_KEY_PASSPHRASE"
ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
PUBKEY_HEX_LEN = 64


def load_signing_key(path: str | os.PathLike[str]) -> KeyPair:
    """Load a key file, asking for the passphrase if it is encrypted.

    Raises
    ------
    BadKeyFile
        If the file is missing or unreadable, not an Ed25519 key, or the passphrase is
        wrong.
    """
    target = Path(path)
    try:
        head = target.read_bytes()[:len(ENCRYPTED_PEM) + 16]
    except OSError as exc:
        raise BadKeyFile(f"cannot read key file {target}: {exc.strerror}",
                         path=str(target)) from exc
    passphrase = None
    if head.lstrip().startswith(ENCRYPTED_PEM):  # a plain key must be loaded without one
        passphrase = os.environ.get(PASSPHRASE_ENV) or click.prompt(
            f"Passphrase of {target}", hide_input=True)
    return load_key(target, passphrase)


def parse_public_key(value: str, what: str) -> bytes:
    """Return the 32-byte public key given as 64 hex digits or as a key file.

    Parameters
    ----------
    value:
        64 hex digits, or the path of a key file (its public key is used).
    what:
        The option's name, for messages.

    Raises
    ------
    BadInput
        If it is neither, or the key is not a valid Ed25519 public key (small order).
    BadKeyFile
        If it names a key file that cannot be loaded.
    """
    if len(value) == PUBKEY_HEX_LEN and not Path(value).exists():
        try:
            key = bytes.fromhex(value)
        except ValueError as exc:
            raise BadInput(f"{what}: {value!r} is not hex", value=value) from exc
        try:
            validate_public_key(key)
        except GreenChainError as exc:
            raise BadInput(f"{what}: not a valid Ed25519 public key ({exc.message})",
                           value=value) from exc
        return key
    if not Path(value).is_file():
        raise BadInput(f"{what}: {value!r} is neither {PUBKEY_HEX_LEN} hex digits nor a "
                       "key file", value=value)
    return load_signing_key(value).public


def parse_hex32(value: str, what: str) -> bytes:
    """Return 32 bytes given as 64 hex digits (a bundle or tx id).

    Raises
    ------
    BadInput
        If `value` is not exactly 64 hex digits.
    """
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise BadInput(f"{what}: {value!r} is not hex", value=value) from exc
    if len(raw) != 32:
        raise BadInput(f"{what}: expected 64 hex digits, got {len(value)}", value=value)
    return raw


@click.group("keys")
def keys_group() -> None:
    """Create and inspect Ed25519 key files."""


@keys_group.command("new")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Key file to create (mode 0600; an existing file is never overwritten).")
@click.option("--passphrase-prompt", is_flag=True,
              help="Ask for a passphrase (twice) and encrypt the key file with it.")
def keys_new(out: Path, passphrase_prompt: bool) -> None:
    """Create a new key file and print its public key (hex)."""
    if out.exists():
        raise BadKeyFile(f"key file {out} already exists", path=str(out))
    passphrase = None
    if passphrase_prompt:
        passphrase = click.prompt("Passphrase", hide_input=True, confirmation_prompt=True)
    key = generate_key()
    try:
        save_key(key, out, passphrase)
    except OSError as exc:
        raise BadKeyFile(f"cannot write key file {out}: {exc.strerror}", path=str(out)) from exc
    click.echo(key.public.hex())


@keys_group.command("show")
@click.argument("key_file", type=click.Path(path_type=Path, dir_okay=False))
def keys_show(key_file: Path) -> None:
    """Print the public key (hex) of KEY_FILE."""
    click.echo(load_signing_key(key_file).public.hex())

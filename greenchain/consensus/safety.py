"""Double-sign protection: the last-signed record and the one predicate (DESIGN §6).

Follows CometBFT ``spec/consensus/signing.md``: a validator signs a proposal, prevote or
precommit only if its (height, round, step) is strictly above the last one it signed,
or equal to it with the very same value (re-signing what it already signed; Ed25519 is
deterministic, so that gives the same signature). The node fsyncs the new record before
the signed message leaves (STYLE.md §9).
"""

from __future__ import annotations

from dataclasses import dataclass

from greenchain.codec import decode, encode
from greenchain.errors import Malformed

STEP_NONE = 0
"""Nothing signed yet (a fresh sign-state file)."""
STEP_PROPOSAL = 1
"""A proposal was signed."""
STEP_PREVOTE = 2
"""A prevote was signed."""
STEP_PRECOMMIT = 3
"""A precommit was signed."""

_MAX_SIGN_STATE_BYTES = 256
_HASH_LEN = 32


@dataclass(frozen=True, slots=True)
class LastSigned:
    """What a validator signed last (CometBFT's ``priv_validator_state``)."""

    height: int
    """Height of the last signed message (0 when nothing was signed)."""
    round: int
    """Round of the last signed message."""
    step: int
    """STEP_NONE, STEP_PROPOSAL, STEP_PREVOTE or STEP_PRECOMMIT."""
    block_hash: bytes
    """Block hash signed; b"" for nil or nothing."""
    locked_round: int = -1
    """Round of the validator's lock at `height` when it signed (-1: not locked)."""
    locked_hash: bytes = b""
    """Block it was locked on (b"" when not locked).

    Persisted with every signature because a lock outlives the precommit that set it: a
    validator that precommitted v, then prevoted in a later round and crashed, must come
    back still locked on v, or it could help a polka for another block (Tendermint's
    locking rule, arXiv:1807.04938 lines 22-33; CometBFT keeps it in its WAL)."""


NOTHING_SIGNED = LastSigned(0, 0, STEP_NONE, b"")
"""The sign-state that `node init` writes: height 0, nothing signed."""


def may_sign(last: LastSigned, height: int, round_: int, step: int, block_hash: bytes) -> bool:
    """Return True if signing (height, round, step, block_hash) cannot double-sign.

    Parameters
    ----------
    last:
        The persisted last-signed record.
    height, round_, step:
        Position of the message to sign; `step` is STEP_PROPOSAL, STEP_PREVOTE or
        STEP_PRECOMMIT.
    block_hash:
        Value to sign (b"" for nil).

    Returns
    -------
    bool
        True iff (height, round, step) is lexicographically above the last signed one,
        or equal to it with an identical `block_hash` (CometBFT signing.md).
    """
    wanted = (height, round_, step)
    signed = (last.height, last.round, last.step)
    if wanted > signed:
        return True
    return wanted == signed and block_hash == last.block_hash


def sign_state_to_bytes(last: LastSigned) -> bytes:
    """Return the canonical msgpack of `last`.

    ``[height, round, step, block_hash, locked_round + 1, locked_hash]`` (the lock's round
    is stored plus one so every integer is non-negative).
    """
    return encode([last.height, last.round, last.step, last.block_hash,
                   last.locked_round + 1, last.locked_hash])


def sign_state_from_bytes(data: bytes) -> LastSigned:
    """Decode a sign-state written by `sign_state_to_bytes`, strictly.

    Parameters
    ----------
    data:
        The file content.

    Returns
    -------
    LastSigned
        The record.

    Raises
    ------
    DecodeError
        (`Malformed`, `NonCanonical`, `TooLarge`) if the bytes are not a canonical
        ``[height >= 0, round >= 0, step in 0..3, block_hash of 0 or 32 bytes]``,
        optionally followed by ``locked_round + 1 >= 0, locked_hash`` (32 bytes when
        locked, empty when not).
    """
    values = decode(data, max_bytes=_MAX_SIGN_STATE_BYTES)
    # 4 fields: a file written before locks were persisted (no lock recorded).
    if not isinstance(values, list) or len(values) not in (4, 6):
        raise Malformed("sign-state must be an array of 4 or 6 fields")
    height, round_, step, block_hash = values[:4]
    lock_round_plus_one, locked_hash = values[4:] if len(values) == 6 else (0, b"")
    for name, value in (("height", height), ("round", round_), ("step", step),
                        ("locked_round + 1", lock_round_plus_one)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise Malformed(f"sign-state {name} must be a non-negative integer")
    if step > STEP_PRECOMMIT:
        raise Malformed("sign-state step must be 0..3", step=step)
    if not isinstance(block_hash, bytes) or len(block_hash) not in (0, _HASH_LEN):
        raise Malformed("sign-state block_hash must be 0 or 32 bytes")
    expected_lock_len = 0 if lock_round_plus_one == 0 else _HASH_LEN
    if not isinstance(locked_hash, bytes) or len(locked_hash) != expected_lock_len:
        raise Malformed("sign-state locked_hash must be 32 bytes when locked, else empty")
    return LastSigned(height, round_, step, block_hash, lock_round_plus_one - 1, locked_hash)

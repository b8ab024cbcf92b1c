"""The double-sign guard, condition by condition (CometBFT signing.md; STYLE.md §9)."""

import pytest

from greenchain.codec import encode
from greenchain.consensus.safety import (
    NOTHING_SIGNED,
    STEP_PRECOMMIT,
    STEP_PREVOTE,
    STEP_PROPOSAL,
    LastSigned,
    may_sign,
    sign_state_from_bytes,
    sign_state_to_bytes,
)
from greenchain.crypto.hashing import sha256
from greenchain.errors import DecodeError

A = sha256(b"a")
B = sha256(b"b")
LAST = LastSigned(10, 2, STEP_PREVOTE, A)


def test_fresh_state_allows_anything_at_height_one() -> None:
    assert may_sign(NOTHING_SIGNED, 1, 0, STEP_PROPOSAL, A)
    assert may_sign(NOTHING_SIGNED, 1, 0, STEP_PREVOTE, b"")


def test_higher_height_is_allowed_whatever_round_and_step() -> None:
    assert may_sign(LAST, 11, 0, STEP_PROPOSAL, B)
    assert may_sign(LAST, 11, 0, STEP_PREVOTE, b"")


def test_lower_height_is_refused() -> None:
    assert not may_sign(LAST, 9, 5, STEP_PRECOMMIT, A)


def test_same_height_higher_round_is_allowed() -> None:
    assert may_sign(LAST, 10, 3, STEP_PROPOSAL, B)
    assert may_sign(LAST, 10, 3, STEP_PREVOTE, b"")


def test_same_height_lower_round_is_refused() -> None:
    assert not may_sign(LAST, 10, 1, STEP_PRECOMMIT, A)
    assert not may_sign(LAST, 10, 1, STEP_PRECOMMIT, B)


def test_same_round_higher_step_is_allowed() -> None:
    assert may_sign(LAST, 10, 2, STEP_PRECOMMIT, B)
    assert may_sign(LAST, 10, 2, STEP_PRECOMMIT, b"")


def test_same_round_lower_step_is_refused() -> None:
    assert not may_sign(LAST, 10, 2, STEP_PROPOSAL, A)


def test_same_position_only_for_the_same_value() -> None:
    assert may_sign(LAST, 10, 2, STEP_PREVOTE, A)  # re-signing the very same vote
    assert not may_sign(LAST, 10, 2, STEP_PREVOTE, B)  # a conflicting vote
    assert not may_sign(LAST, 10, 2, STEP_PREVOTE, b"")  # nil after a block vote
    nil_vote = LastSigned(10, 2, STEP_PREVOTE, b"")
    assert may_sign(nil_vote, 10, 2, STEP_PREVOTE, b"")
    assert not may_sign(nil_vote, 10, 2, STEP_PREVOTE, A)


def test_sign_state_round_trips() -> None:
    for state in (NOTHING_SIGNED, LAST, LastSigned(2**40, 7, STEP_PRECOMMIT, b"")):
        assert sign_state_from_bytes(sign_state_to_bytes(state)) == state


@pytest.mark.parametrize("values", [
    [1, 2, 3],
    [1, 2, 3, A, 5],
    [-1, 0, 1, A],
    [1, -1, 1, A],
    [1, 0, 4, A],
    [1, 0, True, A],
    [1, 0, 1, b"short"],
    [1, 0, 1, "text"],
    ["1", 0, 1, A],
])
def test_sign_state_rejects_malformed(values: list[object]) -> None:
    with pytest.raises(DecodeError):
        sign_state_from_bytes(encode(values))


def test_sign_state_rejects_trailing_bytes() -> None:
    with pytest.raises(DecodeError):
        sign_state_from_bytes(sign_state_to_bytes(LAST) + b"\x00")


def test_sign_state_round_trips_a_lock_and_reads_the_four_field_format() -> None:
    locked = LastSigned(10, 3, STEP_PREVOTE, b"", 1, A)
    assert sign_state_from_bytes(sign_state_to_bytes(locked)) == locked
    legacy = sign_state_from_bytes(encode([10, 2, STEP_PREVOTE, A]))
    assert legacy == LAST and (legacy.locked_round, legacy.locked_hash) == (-1, b"")


@pytest.mark.parametrize("lock", [[1, b""], [0, A], [-1, b""], [1, b"short"], [1, "text"]])
def test_sign_state_rejects_an_inconsistent_lock(lock: list[object]) -> None:
    with pytest.raises(DecodeError):
        sign_state_from_bytes(encode([10, 2, STEP_PREVOTE, A, *lock]))

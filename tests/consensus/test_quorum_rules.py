"""Quorum arithmetic, proposer rotation, timeouts and commit verification (DESIGN §6)."""

from dataclasses import replace

import pytest
from simnet import CHAIN_ID, validator_key

from greenchain.consensus.events import PRECOMMIT_STEP, PREVOTE_STEP, PROPOSE
from greenchain.consensus.quorum import (
    max_faulty,
    proposer_for,
    quorum_size,
    timeout_s,
    verify_commit,
    verify_proposal_signature,
    verify_vote_signature,
)
from greenchain.crypto.hashing import sha256
from greenchain.errors import BadCommit
from greenchain.model.blocks import (
    PRECOMMIT,
    PREVOTE,
    ZERO_HASH,
    Commit,
    CommitSig,
    Header,
    make_block,
    make_proposal,
    make_vote,
)

KEYS = [validator_key(i) for i in range(4)]
VALIDATORS = tuple(k.public for k in KEYS)
BLOCK = sha256(b"block")


@pytest.mark.parametrize(("n", "quorum", "faulty"), [
    (1, 1, 0), (2, 2, 0), (3, 3, 0), (4, 3, 1), (5, 4, 1), (6, 5, 1), (7, 5, 2), (10, 7, 3),
    (100, 67, 33),
])
def test_quorum_and_fault_tolerance(n: int, quorum: int, faulty: int) -> None:
    assert quorum_size(n) == quorum
    assert max_faulty(n) == faulty
    # Two quorums always overlap in more than f validators, i.e. in an honest one.
    assert 2 * quorum - n > faulty


def test_empty_set_is_refused() -> None:
    with pytest.raises(ValueError):
        quorum_size(0)
    with pytest.raises(ValueError):
        max_faulty(0)
    with pytest.raises(ValueError):
        proposer_for((), 1, 0)


def test_proposer_rotates_over_the_sorted_set() -> None:
    ordered = sorted(VALIDATORS)
    shuffled = (VALIDATORS[2], VALIDATORS[0], VALIDATORS[3], VALIDATORS[1])
    for height in range(1, 4):
        for round_ in range(6):
            expected = ordered[(height + round_) % 4]
            assert proposer_for(VALIDATORS, height, round_) == expected
            assert proposer_for(shuffled, height, round_) == expected


def test_timeouts_grow_linearly_then_cap() -> None:
    assert [timeout_s(PROPOSE, r) for r in range(8)] == [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.0]
    assert [timeout_s(PREVOTE_STEP, r) for r in range(8)] == \
        [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.0]
    assert timeout_s(PRECOMMIT_STEP, 3) == 1.25
    assert timeout_s(PROPOSE, 10_000) == 4.0
    assert timeout_s(PRECOMMIT_STEP, 10_000) == 2.0


def test_timeout_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        timeout_s("commit", 0)
    with pytest.raises(ValueError):
        timeout_s(PROPOSE, -1)


def _commit(signers: list[int], height: int = 5, round_: int = 1,
            value: bytes = BLOCK) -> Commit:
    sigs = tuple(
        CommitSig(KEYS[i].public, make_vote(KEYS[i], CHAIN_ID, PRECOMMIT, height, round_,
                                            value).signature)
        for i in signers
    )
    return Commit(height, round_, value, sigs)


def test_commit_with_a_quorum_verifies() -> None:
    verify_commit(CHAIN_ID, _commit([0, 1, 2]), BLOCK, 5, VALIDATORS)
    verify_commit(CHAIN_ID, _commit([0, 1, 2, 3]), BLOCK, 5, VALIDATORS)


def test_commit_below_quorum_is_rejected() -> None:
    with pytest.raises(BadCommit):
        verify_commit(CHAIN_ID, _commit([0, 1]), BLOCK, 5, VALIDATORS)
    with pytest.raises(BadCommit):
        verify_commit(CHAIN_ID, _commit([]), BLOCK, 5, VALIDATORS)
    with pytest.raises(BadCommit):
        verify_commit(CHAIN_ID, _commit([0, 1, 2]), BLOCK, 5, ())


def test_commit_duplicate_signatures_count_once() -> None:
    commit = _commit([0, 1, 1, 0])
    with pytest.raises(BadCommit):
        verify_commit(CHAIN_ID, commit, BLOCK, 5, VALIDATORS)


def test_commit_unknown_validator_does_not_count() -> None:
    outsider = validator_key(99)
    extra = CommitSig(outsider.public,
                      make_vote(outsider, CHAIN_ID, PRECOMMIT, 5, 1, BLOCK).signature)
    commit = _commit([0, 1])
    commit = replace(commit, signatures=(*commit.signatures, extra))
    with pytest.raises(BadCommit):
        verify_commit(CHAIN_ID, commit, BLOCK, 5, VALIDATORS)
    # The same signatures do pass for a set of which the outsider is a member.
    verify_commit(CHAIN_ID, commit, BLOCK, 5, (VALIDATORS[0], VALIDATORS[1], outsider.public))


def test_commit_bad_or_malformed_signature_does_not_count() -> None:
    commit = _commit([0, 1, 2])
    flipped = bytes([commit.signatures[2].signature[0] ^ 1]) + commit.signatures[2].signature[1:]
    for bad in (flipped, b"", b"\x00" * 64, b"\xff" * 64):
        tampered = replace(commit, signatures=(
            *commit.signatures[:2], CommitSig(commit.signatures[2].validator, bad)))
        with pytest.raises(BadCommit):
            verify_commit(CHAIN_ID, tampered, BLOCK, 5, VALIDATORS)


def test_commit_bad_signature_then_good_one_of_same_validator_counts_once() -> None:
    commit = _commit([0, 1, 2])
    bad = CommitSig(KEYS[2].public, b"\x01" * 64)
    reordered = replace(commit, signatures=(bad, *commit.signatures))
    verify_commit(CHAIN_ID, reordered, BLOCK, 5, VALIDATORS)


def test_commit_signatures_must_cover_height_round_and_hash() -> None:
    with pytest.raises(BadCommit):
        verify_commit(CHAIN_ID, _commit([0, 1, 2]), BLOCK, 6, VALIDATORS)
    with pytest.raises(BadCommit):
        verify_commit(CHAIN_ID, _commit([0, 1, 2]), sha256(b"other"), 5, VALIDATORS)
    # Signatures made for round 1, presented as round 2: no signature verifies.
    moved = replace(_commit([0, 1, 2]), round=2)
    with pytest.raises(BadCommit):
        verify_commit(CHAIN_ID, moved, BLOCK, 5, VALIDATORS)
    # Precommits of another chain do not count.
    with pytest.raises(BadCommit):
        verify_commit("other-chain", _commit([0, 1, 2]), BLOCK, 5, VALIDATORS)
    # Prevote signatures are not precommit signatures.
    prevotes = tuple(CommitSig(k.public, make_vote(k, CHAIN_ID, PREVOTE, 5, 1, BLOCK).signature)
                     for k in KEYS)
    with pytest.raises(BadCommit):
        verify_commit(CHAIN_ID, Commit(5, 1, BLOCK, prevotes), BLOCK, 5, VALIDATORS)


def test_vote_signature_checks() -> None:
    vote = make_vote(KEYS[0], CHAIN_ID, PREVOTE, 3, 0, BLOCK)
    assert verify_vote_signature(CHAIN_ID, vote)
    assert not verify_vote_signature("other-chain", vote)
    assert not verify_vote_signature(CHAIN_ID, replace(vote, round=1))
    assert not verify_vote_signature(CHAIN_ID, replace(vote, vote_type=PRECOMMIT))
    assert not verify_vote_signature(CHAIN_ID, replace(vote, validator=KEYS[1].public))
    assert not verify_vote_signature(CHAIN_ID, replace(vote, signature=b"short"))
    assert not verify_vote_signature(CHAIN_ID, replace(vote, height=2**70))  # unencodable


def test_proposal_signature_checks() -> None:
    header = Header(CHAIN_ID, 3, 0, 1_000, KEYS[0].public, ZERO_HASH, ZERO_HASH, ZERO_HASH,
                    ZERO_HASH, ZERO_HASH)
    block = make_block(header, (), None)
    proposal = make_proposal(KEYS[0], CHAIN_ID, block, 0, -1)
    assert verify_proposal_signature(CHAIN_ID, proposal)
    assert not verify_proposal_signature("other-chain", proposal)
    assert not verify_proposal_signature(CHAIN_ID, replace(proposal, pol_round=0))
    other = make_block(replace(header, timestamp_ms=2_000), (), None)
    assert not verify_proposal_signature(CHAIN_ID, replace(proposal, block=other))
    # A block whose cached hash lies about its header is refused.
    lying = replace(other, block_hash=block.block_hash)
    assert not verify_proposal_signature(CHAIN_ID, replace(proposal, block=lying))

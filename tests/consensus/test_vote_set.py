"""VoteSet tallies, polkas, evidence and commits (DESIGN §6)."""

import pytest
from simnet import CHAIN_ID, validator_key

from greenchain.consensus.quorum import verify_commit
from greenchain.consensus.votes import VoteSet
from greenchain.crypto.hashing import sha256
from greenchain.model.blocks import NIL, PRECOMMIT, PREVOTE, Vote, make_vote

KEYS = [validator_key(i) for i in range(4)]
VALIDATORS = tuple(k.public for k in KEYS)
A = sha256(b"a")
B = sha256(b"b")


def vote(i: int, value: bytes, vote_type: int = PREVOTE, round_: int = 0) -> Vote:
    return make_vote(KEYS[i], CHAIN_ID, vote_type, 7, round_, value)


def collect(*votes: Vote) -> VoteSet:
    votes_set = VoteSet(7, 4)
    for v in votes:
        votes_set = votes_set.add(v).votes
    return votes_set


def test_add_returns_a_new_set_and_leaves_the_old_one() -> None:
    empty = VoteSet(7, 4)
    result = empty.add(vote(0, A))
    assert result.added and result.evidence is None
    assert result.votes.count(PREVOTE, 0, A) == 1
    assert empty.count(PREVOTE, 0, A) == 0


def test_duplicate_is_not_counted_twice() -> None:
    votes = collect(vote(0, A))
    result = votes.add(vote(0, A))
    assert not result.added and result.evidence is None
    assert result.votes is votes
    assert votes.count(PREVOTE, 0, A) == 1


def test_polka_needs_a_quorum_of_one_value() -> None:
    votes = collect(vote(0, A), vote(1, A), vote(2, B))
    assert not votes.has_polka(0, A)
    assert votes.has_quorum_any(PREVOTE, 0)
    assert votes.quorum_value(PREVOTE, 0) is None
    votes = votes.add(vote(3, A)).votes
    assert votes.has_polka(0, A)
    assert votes.quorum_value(PREVOTE, 0) == A
    assert not votes.has_polka(1, A)  # other rounds are apart
    assert not votes.has_quorum_any(PRECOMMIT, 0)  # and other types


def test_nil_polka() -> None:
    votes = collect(vote(0, NIL), vote(1, NIL), vote(2, NIL))
    assert votes.has_polka(0, NIL)
    assert votes.quorum_value(PREVOTE, 0) == NIL


def test_conflicting_vote_is_evidence_once_and_never_weighs_twice_in_one_quorum() -> None:
    votes = collect(vote(0, A), vote(1, A))
    first = votes.add(vote(0, B))
    assert first.evidence == (vote(0, A), vote(0, B))
    assert first.votes.evidence == (first.evidence,)
    third = first.votes.add(vote(0, NIL))
    assert third.evidence is None  # already reported for this (validator, type, round)
    votes = third.votes
    # The equivocator is one validator in the "any" tally, and once per value.
    assert votes.voters(PREVOTE, 0) == {VALIDATORS[0], VALIDATORS[1]}
    assert not votes.has_quorum_any(PREVOTE, 0)
    assert votes.count(PREVOTE, 0, A) == 2
    assert votes.count(PREVOTE, 0, B) == 1
    assert votes.get(PREVOTE, 0, VALIDATORS[0]) == vote(0, A)  # the first one


def test_equivocator_vote_completes_the_polka_a_correct_validator_saw() -> None:
    # Validator 3 prevoted B to us first and A to others: the polka for A that they saw
    # (0, 1, 3) must be visible to us too once A reaches us, or rounds stall (liveness).
    votes = collect(vote(3, B), vote(0, A), vote(1, A))
    assert not votes.has_polka(0, A)
    result = votes.add(vote(3, A))
    assert result.evidence is not None
    assert result.votes.has_polka(0, A)


def test_evidence_is_per_type_and_round() -> None:
    votes = collect(vote(0, A), vote(0, A, PRECOMMIT))
    assert votes.add(vote(0, B)).evidence is not None
    assert votes.add(vote(0, B, PRECOMMIT)).evidence is not None
    assert votes.add(vote(0, B, round_=1)).evidence is None


def test_senders_and_rounds() -> None:
    votes = collect(vote(0, A, round_=2), vote(1, NIL, PRECOMMIT, 2), vote(1, A, round_=2),
                    vote(2, A, round_=5))
    assert votes.senders_at(2) == {VALIDATORS[0], VALIDATORS[1]}
    assert votes.senders_at(5) == {VALIDATORS[2]}
    assert votes.senders_at(3) == frozenset()
    assert votes.rounds() == [2, 5]
    assert votes.skip_threshold() == 2
    assert VoteSet(1, 1).skip_threshold() == 1


def test_votes_by_validator() -> None:
    votes = collect(vote(0, A), vote(1, A), vote(0, A, PRECOMMIT), vote(0, B))
    assert votes.votes_by(VALIDATORS[0]) == [vote(0, A), vote(0, B), vote(0, A, PRECOMMIT)]
    assert len(votes.all_votes()) == 4


def test_make_commit_sorted_by_validator_and_verifiable() -> None:
    votes = collect(*(vote(i, A, PRECOMMIT, 3) for i in (3, 1, 0)), vote(2, NIL, PRECOMMIT, 3))
    commit = votes.make_commit(3, A)
    assert [s.validator for s in commit.signatures] == \
        sorted(VALIDATORS[i] for i in (0, 1, 3))
    assert (commit.height, commit.round, commit.block_hash) == (7, 3, A)
    verify_commit(CHAIN_ID, commit, A, 7, VALIDATORS)


def test_make_commit_refuses_without_quorum_or_for_nil() -> None:
    votes = collect(vote(0, A, PRECOMMIT), vote(1, A, PRECOMMIT))
    with pytest.raises(ValueError):
        votes.make_commit(0, A)
    votes = collect(*(vote(i, NIL, PRECOMMIT) for i in range(4)))
    with pytest.raises(ValueError):
        votes.make_commit(0, NIL)


def test_add_refuses_other_height_or_type() -> None:
    with pytest.raises(ValueError):
        VoteSet(8, 4).add(vote(0, A))
    with pytest.raises(ValueError):
        VoteSet(7, 4).add(make_vote(KEYS[0], CHAIN_ID, 3, 7, 0, A))

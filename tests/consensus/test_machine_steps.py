"""The consensus machine step by step: proposals, locks, timeouts (arXiv:1807.04938)."""

from dataclasses import replace

from machine_kit import (
    KEYS,
    VALIDATORS,
    block,
    bystander,
    feed,
    locked_on_round_0,
    others,
    propose,
    proposer,
    signed,
    started_validator,
    to_round_1,
    vote,
    votes_from,
)
from simnet import CHAIN_ID, validator_key

from greenchain.consensus.events import (
    PRECOMMIT_STEP,
    PREVOTE_STEP,
    PROPOSE,
    BlockBuilt,
    BlockChecked,
    Broadcast,
    BuildBlock,
    CheckBlock,
    CommitBlock,
    PersistSignState,
    ProposalReceived,
    ScheduleTimeout,
    StartHeight,
    TimeoutFired,
    VoteReceived,
)
from greenchain.consensus.machine import (
    MachineConfig,
    initial_state,
    new_height,
)
from greenchain.consensus.quorum import verify_commit
from greenchain.consensus.safety import NOTHING_SIGNED
from greenchain.model.blocks import (
    NIL,
    PRECOMMIT,
    PREVOTE,
    Proposal,
    Vote,
    make_proposal,
)


# --- n = 1 and signing order ------------------------------------------------------------
def test_single_validator_commits_alone_with_persist_before_every_broadcast() -> None:
    key = KEYS[0]
    config = MachineConfig(CHAIN_ID, key)
    state = initial_state(config, 1, (key.public,), NOTHING_SIGNED)
    state, actions = feed(config, state, StartHeight())
    assert actions == [ScheduleTimeout(1, 0, PROPOSE, 1.0), BuildBlock(1, 0)]
    blk = block(1, 0, by=key)
    state, actions = feed(config, state, BlockBuilt(1, 0, blk))
    assert [type(a) for a in actions] == [PersistSignState, Broadcast] * 3 + [CommitBlock]
    messages = signed(actions)
    assert isinstance(messages[0], Proposal)
    assert [(m.vote_type, m.block_hash) for m in messages[1:] if isinstance(m, Vote)] == \
        [(PREVOTE, blk.block_hash), (PRECOMMIT, blk.block_hash)]
    commit = actions[-1]
    assert isinstance(commit, CommitBlock) and commit.block == blk
    verify_commit(CHAIN_ID, commit.commit, blk.block_hash, 1, (key.public,))
    assert state.decided and state.last_signed.step == 3
    state = new_height(config, state, 2, (key.public,))
    assert (state.height, state.started, state.last_signed.height) == (2, False, 1)


# --- proposals --------------------------------------------------------------------------
def test_proposer_builds_others_arm_the_propose_timer() -> None:
    config = MachineConfig(CHAIN_ID, bystander(1, 0))
    _, actions_other = feed(config, initial_state(config, 1, VALIDATORS, NOTHING_SIGNED),
                            StartHeight())
    assert actions_other == [ScheduleTimeout(1, 0, PROPOSE, 1.0)]
    config = MachineConfig(CHAIN_ID, proposer(1, 0))
    _, actions = feed(config, initial_state(config, 1, VALIDATORS, NOTHING_SIGNED),
                      StartHeight())
    assert actions == [ScheduleTimeout(1, 0, PROPOSE, 1.0), BuildBlock(1, 0)]


def test_prevote_waits_for_the_block_check() -> None:
    config, state = started_validator(bystander(1, 0))
    prop = propose(1, 0)
    state, actions = feed(config, state, ProposalReceived(prop))
    assert actions == [CheckBlock(prop.block)]
    assert state.step == PROPOSE
    state, actions = feed(config, state, BlockChecked(prop.block.block_hash, True))
    [prevote] = signed(actions)
    assert isinstance(prevote, Vote) and prevote.block_hash == prop.block.block_hash
    assert state.step == PREVOTE_STEP


def test_invalid_block_gets_a_nil_prevote() -> None:
    config, state = started_validator(bystander(1, 0))
    prop = propose(1, 0)
    state, actions = feed(config, state, ProposalReceived(prop),
                          BlockChecked(prop.block.block_hash, False))
    [prevote] = signed(actions)
    assert isinstance(prevote, Vote) and prevote.block_hash == NIL


def test_malformed_or_misattributed_proposals_are_ignored() -> None:
    config, state = started_validator(bystander(1, 0))
    good = propose(1, 0)
    wrong_author = make_proposal(bystander(1, 0), CHAIN_ID, block(1, 0, by=bystander(1, 0)),
                                 0, -1)
    wrong_height = propose(1, 0, block(2, 0, by=proposer(1, 0)))
    wrong_round = propose(1, 0, block(1, 1, by=proposer(1, 0)))
    future_pol = make_proposal(proposer(1, 0), CHAIN_ID, good.block, 0, 0)
    bad_sig = replace(good, signature=bytes(64))
    other_chain = make_proposal(proposer(1, 0), "other", good.block, 0, -1)
    for bad in (wrong_author, wrong_height, wrong_round, future_pol, bad_sig, other_chain):
        after, actions = feed(config, state, ProposalReceived(bad))
        assert actions == [] and after.proposals == {}


def test_bad_votes_are_ignored() -> None:
    config, state = started_validator(bystander(1, 0))
    outsider = validator_key(99)
    good = vote(KEYS[0], PREVOTE, 1, 0, NIL)
    for bad in (vote(outsider, PREVOTE, 1, 0, NIL), replace(good, signature=bytes(64)),
                replace(good, vote_type=7), vote(KEYS[0], PREVOTE, 1, 0, b"short"),
                vote(KEYS[0], PREVOTE, 1, -1, NIL), vote(KEYS[0], PREVOTE, 0, 0, NIL)):
        after, actions = feed(config, state, VoteReceived(bad))
        assert actions == [] and after.votes.all_votes() == []


# --- locks and polkas -------------------------------------------------------------------
def test_polka_locks_and_precommits() -> None:
    me = bystander(1, 0)
    _, state, prop = locked_on_round_0(me)
    value = prop.block.block_hash
    assert (state.locked_hash, state.locked_round) == (value, 0)
    assert state.valid_block == prop.block and state.valid_round == 0
    assert state.step == PRECOMMIT_STEP


def test_locked_validator_prevotes_nil_for_another_fresh_block() -> None:
    me = bystander(1, 0)
    config, state, _ = locked_on_round_0(me)
    state, actions = to_round_1(config, state, me)
    assert state.round == 1 and ScheduleTimeout(1, 1, PROPOSE, 1.5) in actions
    other = propose(1, 1)
    state, actions = feed(config, state, ProposalReceived(other),
                          BlockChecked(other.block.block_hash, True))
    [prevote] = signed(actions)
    assert isinstance(prevote, Vote) and prevote.block_hash == NIL


def test_later_polka_unlocks_a_reproposal() -> None:
    me = bystander(1, 0)
    config, state, _ = locked_on_round_0(me)
    state, _ = to_round_1(config, state, me)
    fresh = block(1, 1)
    # A polka for `fresh` in round 1 that we did not join; then round 2 re-proposes it.
    state, _ = feed(config, state,
                    *votes_from(others(me), PREVOTE, 1, 1, fresh.block_hash),
                    *votes_from(others(me), PRECOMMIT, 1, 1, NIL),
                    TimeoutFired(1, 1, PROPOSE), TimeoutFired(1, 1, PRECOMMIT_STEP))
    assert state.round == 2
    repro = propose(1, 2, fresh, pol=1)
    state, actions = feed(config, state, ProposalReceived(repro),
                          BlockChecked(fresh.block_hash, True))
    [prevote] = signed(actions)
    assert isinstance(prevote, Vote) and prevote.block_hash == fresh.block_hash


def test_reproposal_without_the_cited_polka_waits_then_times_out() -> None:
    config, state = started_validator(bystander(1, 1), height=1)
    state, _ = feed(config, state, TimeoutFired(1, 0, PROPOSE),
                    *votes_from(KEYS, PRECOMMIT, 1, 0, NIL), TimeoutFired(1, 0, PRECOMMIT_STEP))
    assert state.round == 1
    old = block(1, 0)
    repro = propose(1, 1, old, pol=0)
    state, actions = feed(config, state, ProposalReceived(repro),
                          BlockChecked(old.block_hash, True))
    assert signed(actions) == [] and state.step == PROPOSE
    state, actions = feed(config, state, TimeoutFired(1, 1, PROPOSE))
    [prevote] = signed(actions)
    assert isinstance(prevote, Vote) and prevote.block_hash == NIL


def test_proposer_reproposes_its_valid_block_with_its_polka_round() -> None:
    me = proposer(1, 1)
    config, state, prop = locked_on_round_0(me)
    state, actions = to_round_1(config, state, me)
    assert not any(isinstance(a, BuildBlock) for a in actions)
    [repro, prevote] = signed(actions)
    assert isinstance(repro, Proposal)
    assert (repro.round, repro.pol_round, repro.block) == (1, 0, prop.block)
    # Its own re-proposal cites a polka it holds, and matches its lock: it prevotes for it.
    assert prevote == vote(me, PREVOTE, 1, 1, prop.block.block_hash)


def test_nil_polka_precommits_nil() -> None:
    me = bystander(1, 0)
    config, state = started_validator(me)
    state, actions = feed(config, state, TimeoutFired(1, 0, PROPOSE),
                          *votes_from(others(me)[:2], PREVOTE, 1, 0, NIL))
    assert [(m.vote_type, m.block_hash) for m in signed(actions) if isinstance(m, Vote)] == \
        [(PREVOTE, NIL), (PRECOMMIT, NIL)]


# --- timeouts ---------------------------------------------------------------------------
def test_prevote_timer_once_after_any_quorum_then_nil_precommit() -> None:
    me = bystander(1, 0)
    config, state = started_validator(me)
    prop = propose(1, 0)
    value = prop.block.block_hash
    mixed = [*votes_from(others(me)[:1], PREVOTE, 1, 0, NIL),
             *votes_from(others(me)[1:2], PREVOTE, 1, 0, value)]
    state, actions = feed(config, state, ProposalReceived(prop), BlockChecked(value, True),
                          *mixed)
    assert actions.count(ScheduleTimeout(1, 0, PREVOTE_STEP, 0.5)) == 1
    state, actions = feed(config, state, *votes_from(others(me)[2:], PREVOTE, 1, 0, NIL))
    assert actions == []  # the timer is armed only once per round
    state, actions = feed(config, state, TimeoutFired(1, 0, PREVOTE_STEP))
    [precommit] = signed(actions)
    assert isinstance(precommit, Vote) and (precommit.vote_type, precommit.block_hash) == \
        (PRECOMMIT, NIL)


def test_stale_timeouts_are_ignored() -> None:
    me = bystander(1, 0)
    config, state = started_validator(me)
    state, _ = feed(config, state, TimeoutFired(1, 0, PROPOSE))
    for stale in (TimeoutFired(1, 0, PROPOSE), TimeoutFired(0, 0, PRECOMMIT_STEP),
                  TimeoutFired(1, 3, PRECOMMIT_STEP), TimeoutFired(2, 0, PRECOMMIT_STEP)):
        after, actions = feed(config, state, stale)
        assert actions == [] and after == state


def test_precommit_timer_after_any_quorum_moves_to_next_round() -> None:
    me = bystander(1, 0)
    config, state = started_validator(me)
    state, actions = feed(config, state, *votes_from(others(me), PRECOMMIT, 1, 0, NIL))
    assert actions == [ScheduleTimeout(1, 0, PRECOMMIT_STEP, 0.5)]
    state, actions = feed(config, state, TimeoutFired(1, 0, PRECOMMIT_STEP))
    assert state.round == 1 and state.step == PROPOSE
    assert ScheduleTimeout(1, 1, PROPOSE, 1.5) in actions



"""The consensus machine across a height: start, skip, decide, evidence, restart (DESIGN §6)."""

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
    vote,
    votes_from,
)
from simnet import CHAIN_ID, validator_key

from greenchain.consensus.events import (
    PREVOTE_STEP,
    PROPOSE,
    BlockBuilt,
    BlockChecked,
    Broadcast,
    BuildBlock,
    CheckBlock,
    CommitBlock,
    EvidenceFound,
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
    known_messages,
    new_height,
    own_messages,
)
from greenchain.consensus.quorum import verify_commit
from greenchain.consensus.safety import NOTHING_SIGNED, STEP_PREVOTE, LastSigned
from greenchain.model.blocks import (
    NIL,
    PRECOMMIT,
    PREVOTE,
    Proposal,
    Vote,
)


# --- starting and skipping rounds -------------------------------------------------------
def test_not_started_records_messages_and_a_proposal_starts_it() -> None:
    me = bystander(1, 0)
    config = MachineConfig(CHAIN_ID, me)
    state = initial_state(config, 1, VALIDATORS, NOTHING_SIGNED)
    state, actions = feed(config, state, *votes_from(others(me)[:1], PREVOTE, 1, 0, NIL))
    assert actions == [] and not state.started and len(state.votes.all_votes()) == 1
    prop = propose(1, 0)
    state, actions = feed(config, state, ProposalReceived(prop))
    assert state.started and state.round == 0
    assert actions == [CheckBlock(prop.block), ScheduleTimeout(1, 0, PROPOSE, 1.0)]


def test_not_started_f_plus_one_voters_start_it() -> None:
    me = bystander(1, 0)
    config = MachineConfig(CHAIN_ID, me)
    state = initial_state(config, 1, VALIDATORS, NOTHING_SIGNED)
    state, actions = feed(config, state, *votes_from(others(me)[:2], PREVOTE, 1, 2, NIL))
    assert state.started and state.round == 2
    assert actions == [ScheduleTimeout(1, 2, PROPOSE, 2.0)]


def test_f_plus_one_messages_of_a_higher_round_skip_to_it() -> None:
    me = bystander(1, 0)
    config, state = started_validator(me)
    voter = next(k for k in others(me) if k != proposer(1, 4))
    state, actions = feed(config, state, *votes_from([voter], PRECOMMIT, 1, 4, NIL))
    assert state.round == 0 and actions == []
    # One voter plus the round's proposer are f + 1 = 2 senders.
    state, actions = feed(config, state, ProposalReceived(propose(1, 4)))
    assert state.round == 4 and ScheduleTimeout(1, 4, PROPOSE, 3.0) in actions


# --- deciding ---------------------------------------------------------------------------
def test_decides_on_precommits_of_an_older_round_once_the_block_is_checked() -> None:
    me = bystander(1, 0)
    config, state = started_validator(me)
    prop = propose(1, 0)
    value = prop.block.block_hash
    state, _ = feed(config, state, *votes_from(others(me), PREVOTE, 1, 3, NIL))
    assert state.round == 3
    state, actions = feed(config, state, *votes_from(others(me), PRECOMMIT, 1, 0, value))
    assert not any(isinstance(a, CommitBlock) for a in actions)  # block unknown yet
    state, actions = feed(config, state, ProposalReceived(prop))
    assert actions == [CheckBlock(prop.block)]
    state, actions = feed(config, state, BlockChecked(value, True))
    [commit] = actions
    assert isinstance(commit, CommitBlock) and commit.block == prop.block
    verify_commit(CHAIN_ID, commit.commit, value, 1, VALIDATORS)
    after, more = feed(config, state, *votes_from([me], PRECOMMIT, 1, 0, value),
                       TimeoutFired(1, 3, PROPOSE), StartHeight())
    assert more == [] and after.decided


def test_precommit_quorum_for_an_invalid_block_is_not_committed() -> None:
    me = bystander(1, 0)
    config, state = started_validator(me)
    prop = propose(1, 0)
    state, actions = feed(config, state, ProposalReceived(prop),
                          BlockChecked(prop.block.block_hash, False),
                          *votes_from(others(me), PRECOMMIT, 1, 0, prop.block.block_hash))
    assert not state.decided
    assert not any(isinstance(a, CommitBlock) for a in actions)


def test_observer_follows_and_decides_without_signing() -> None:
    config = MachineConfig(CHAIN_ID, None)
    state = initial_state(config, 1, VALIDATORS, NOTHING_SIGNED)
    prop = propose(1, 0)
    value = prop.block.block_hash
    state, actions = feed(config, state, StartHeight(), ProposalReceived(prop),
                          BlockChecked(value, True),
                          *votes_from(KEYS[:3], PREVOTE, 1, 0, value),
                          *votes_from(KEYS[:3], PRECOMMIT, 1, 0, value))
    assert not any(isinstance(a, (PersistSignState, Broadcast, BuildBlock)) for a in actions)
    assert isinstance(actions[-1], CommitBlock) and state.decided
    assert own_messages(config, state) == []


# --- evidence, restarts, echoes, early messages -----------------------------------------
def test_conflicting_votes_and_proposals_are_evidence() -> None:
    me = bystander(1, 0)
    config, state = started_validator(me)
    cheat = others(me)[0]
    first = vote(cheat, PREVOTE, 1, 0, NIL)
    second = vote(cheat, PREVOTE, 1, 0, block(1, 0).block_hash)
    state, actions = feed(config, state, VoteReceived(first), VoteReceived(second))
    assert actions == [EvidenceFound(cheat.public, first, second)]
    one, two = propose(1, 0), propose(1, 0, block(1, 0, ts=5))
    state, actions = feed(config, state, ProposalReceived(one), ProposalReceived(two),
                          ProposalReceived(propose(1, 0, block(1, 0, ts=9))))
    assert actions[1] == EvidenceFound(proposer(1, 0).public, one, two)
    assert sum(isinstance(a, EvidenceFound) for a in actions) == 1
    assert two.block.block_hash in state.blocks  # kept: a quorum might decide it


def test_restarted_validator_never_signs_a_conflicting_vote() -> None:
    me = bystander(1, 0)
    config, state = started_validator(me)
    prop = propose(1, 0)
    value = prop.block.block_hash
    state, actions = feed(config, state, ProposalReceived(prop), BlockChecked(value, True))
    assert state.last_signed == LastSigned(1, 0, STEP_PREVOTE, value)
    # Restart: only the persisted sign-state survives.
    reborn = initial_state(config, 1, VALIDATORS, state.last_signed)
    reborn, actions = feed(config, reborn, StartHeight(), TimeoutFired(1, 0, PROPOSE))
    assert signed(actions) == [] and reborn.step == PREVOTE_STEP  # silent, not stuck
    # Re-signing the very same prevote is allowed (it is the same signature).
    reborn = initial_state(config, 1, VALIDATORS, state.last_signed)
    reborn, actions = feed(config, reborn, StartHeight(), ProposalReceived(prop),
                           BlockChecked(value, True))
    assert signed(actions) == [vote(me, PREVOTE, 1, 0, value)]


def test_restart_after_a_precommit_restores_the_lock() -> None:
    me = bystander(1, 0)
    config, state, prop = locked_on_round_0(me)
    reborn = initial_state(config, 1, VALIDATORS, state.last_signed)
    assert (reborn.locked_hash, reborn.locked_round) == (prop.block.block_hash, 0)
    assert initial_state(config, 2, VALIDATORS, state.last_signed).locked_round == -1


def test_echoed_own_messages_change_nothing() -> None:
    me = proposer(1, 0)
    config, state = started_validator(me)
    state, actions = feed(config, state, BlockBuilt(1, 0, block(1, 0)))
    mine = own_messages(config, state)
    assert [type(m) for m in mine] == [Proposal, Vote] and mine == signed(actions)
    echoes = [ProposalReceived(m) if isinstance(m, Proposal) else VoteReceived(m) for m in mine]
    echoed, more = feed(config, state, *echoes)
    assert more == [] and echoed == state
    assert known_messages(state) == mine


def test_stale_block_built_is_ignored() -> None:
    me = proposer(1, 0)
    config, state = started_validator(me)
    state, _ = feed(config, state, TimeoutFired(1, 0, PROPOSE))
    after, actions = feed(config, state, BlockBuilt(1, 0, block(1, 0)))
    assert actions == [] and after.proposals == {}


def test_next_height_messages_are_kept_and_replayed_after_new_height() -> None:
    me = bystander(2, 0)
    config, state = started_validator(me)
    early = propose(2, 0)
    early_vote = vote(others(me)[0], PREVOTE, 2, 0, early.block.block_hash)
    state, actions = feed(config, state, ProposalReceived(early), VoteReceived(early_vote),
                          ProposalReceived(propose(3, 0)))
    assert actions == [] and state.early == (early, early_vote)
    state = new_height(config, state, 2, VALIDATORS)
    state, actions = feed(config, state, StartHeight())
    assert CheckBlock(early.block) in actions
    assert state.proposals == {0: early} and state.votes.all_votes() == [early_vote]


def test_next_height_buffer_is_bounded_per_sender() -> None:
    me = bystander(1, 0)
    config, state = started_validator(me)
    chatty = others(me)[0]
    many = [VoteReceived(vote(chatty, PREVOTE, 2, r, NIL)) for r in range(10)]
    state, _ = feed(config, state, *many, VoteReceived(vote(validator_key(99), PREVOTE, 2, 0,
                                                            NIL)))
    assert len(state.early) == 4


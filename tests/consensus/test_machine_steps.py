"""The consensus machine step by step (arXiv:1807.04938, Algorithm 1; DESIGN §6)."""

from dataclasses import replace

from simnet import CHAIN_ID, validator_key

from greenchain.consensus.events import (
    PRECOMMIT_STEP,
    PREVOTE_STEP,
    PROPOSE,
    Action,
    BlockBuilt,
    BlockChecked,
    Broadcast,
    BuildBlock,
    CheckBlock,
    CommitBlock,
    Event,
    EvidenceFound,
    PersistSignState,
    ProposalReceived,
    ScheduleTimeout,
    StartHeight,
    TimeoutFired,
    VoteReceived,
)
from greenchain.consensus.machine import (
    ConsensusState,
    MachineConfig,
    handle,
    initial_state,
    known_messages,
    new_height,
    own_messages,
)
from greenchain.consensus.quorum import proposer_for, verify_commit
from greenchain.consensus.safety import NOTHING_SIGNED, STEP_PREVOTE, LastSigned
from greenchain.crypto.keys import KeyPair
from greenchain.model.blocks import (
    NIL,
    PRECOMMIT,
    PREVOTE,
    ZERO_HASH,
    Block,
    Header,
    Proposal,
    Vote,
    make_block,
    make_proposal,
    make_vote,
)

KEYS = sorted((validator_key(i) for i in range(4)), key=lambda k: k.public)
VALIDATORS = tuple(k.public for k in KEYS)


def proposer(height: int, round_: int) -> KeyPair:
    return next(k for k in KEYS if k.public == proposer_for(VALIDATORS, height, round_))


def bystander(height: int, round_: int) -> KeyPair:
    """A validator that is not the proposer of (height, round) nor of the next round."""
    busy = {proposer(height, round_).public, proposer(height, round_ + 1).public}
    return next(k for k in KEYS if k.public not in busy)


def block(height: int, round_: int, ts: int = 0, by: KeyPair | None = None) -> Block:
    author = by or proposer(height, round_)
    header = Header(CHAIN_ID, height, round_, 1_000 + ts, author.public, ZERO_HASH, ZERO_HASH,
                    ZERO_HASH, ZERO_HASH, ZERO_HASH)
    return make_block(header, (), None)


def propose(height: int, round_: int, blk: Block | None = None, pol: int = -1) -> Proposal:
    return make_proposal(proposer(height, round_), CHAIN_ID, blk or block(height, round_),
                         round_, pol)


def vote(key: KeyPair, vote_type: int, height: int, round_: int, value: bytes) -> Vote:
    return make_vote(key, CHAIN_ID, vote_type, height, round_, value)


def votes_from(keys: list[KeyPair], vote_type: int, height: int, round_: int,
               value: bytes) -> list[Event]:
    return [VoteReceived(vote(k, vote_type, height, round_, value)) for k in keys]


def feed(config: MachineConfig, state: ConsensusState,
         *events: Event) -> tuple[ConsensusState, list[Action]]:
    actions: list[Action] = []
    for event in events:
        state, more = handle(config, state, event, 0.0)
        actions.extend(more)
    return state, actions


def signed(actions: list[Action]) -> list[Proposal | Vote]:
    """The messages broadcast, after checking each was persisted just before."""
    out = []
    for i, action in enumerate(actions):
        if isinstance(action, Broadcast):
            persisted = actions[i - 1]
            assert isinstance(persisted, PersistSignState)
            message = action.message
            value = message.block.block_hash if isinstance(message, Proposal) \
                else message.block_hash
            assert (persisted.height, persisted.round, persisted.block_hash) == \
                (message.height, message.round, value)
            out.append(message)
    return out


def started_validator(key: KeyPair, height: int = 1) -> tuple[MachineConfig, ConsensusState]:
    config = MachineConfig(CHAIN_ID, key)
    state, _ = feed(config, initial_state(config, height, VALIDATORS, NOTHING_SIGNED),
                    StartHeight())
    return config, state


def others(*excluded: KeyPair) -> list[KeyPair]:
    return [k for k in KEYS if k not in excluded]


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
def _locked_on_round_0(me: KeyPair) -> tuple[MachineConfig, ConsensusState, Proposal]:
    config, state = started_validator(me)
    prop = propose(1, 0)
    value = prop.block.block_hash
    state, actions = feed(config, state, ProposalReceived(prop), BlockChecked(value, True),
                          *votes_from(others(me)[:2], PREVOTE, 1, 0, value))
    [_, precommit] = signed(actions)
    assert isinstance(precommit, Vote) and precommit.vote_type == PRECOMMIT
    assert precommit.block_hash == value
    return config, state, prop


def test_polka_locks_and_precommits() -> None:
    me = bystander(1, 0)
    _, state, prop = _locked_on_round_0(me)
    value = prop.block.block_hash
    assert (state.locked_hash, state.locked_round) == (value, 0)
    assert state.valid_block == prop.block and state.valid_round == 0
    assert state.step == PRECOMMIT_STEP


def _to_round_1(config: MachineConfig, state: ConsensusState,
                me: KeyPair) -> tuple[ConsensusState, list[Action]]:
    state, _ = feed(config, state, *votes_from(others(me), PRECOMMIT, 1, 0, NIL))
    return feed(config, state, TimeoutFired(1, 0, PRECOMMIT_STEP))


def test_locked_validator_prevotes_nil_for_another_fresh_block() -> None:
    me = bystander(1, 0)
    config, state, _ = _locked_on_round_0(me)
    state, actions = _to_round_1(config, state, me)
    assert state.round == 1 and ScheduleTimeout(1, 1, PROPOSE, 1.5) in actions
    other = propose(1, 1)
    state, actions = feed(config, state, ProposalReceived(other),
                          BlockChecked(other.block.block_hash, True))
    [prevote] = signed(actions)
    assert isinstance(prevote, Vote) and prevote.block_hash == NIL


def test_later_polka_unlocks_a_reproposal() -> None:
    me = bystander(1, 0)
    config, state, _ = _locked_on_round_0(me)
    state, _ = _to_round_1(config, state, me)
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
    config, state, prop = _locked_on_round_0(me)
    state, actions = _to_round_1(config, state, me)
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
    config, state, prop = _locked_on_round_0(me)
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

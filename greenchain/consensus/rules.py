"""The steps and "upon" rules of Tendermint (arXiv:1807.04938, Algorithm 1; DESIGN §6).

Line numbers in comments refer to Algorithm 1. `run_rules` applies the upon rules until
none fires, so the order in which messages arrive never matters, only what is known.
Every signature goes through `may_sign`, then `PersistSignState`, then `Broadcast`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from greenchain.consensus.events import (
    PRECOMMIT_STEP,
    PREVOTE_STEP,
    PROPOSE,
    Action,
    Broadcast,
    BuildBlock,
    CommitBlock,
    PersistSignState,
    ScheduleTimeout,
)
from greenchain.consensus.quorum import proposer_for, timeout_s
from greenchain.consensus.safety import (
    STEP_PRECOMMIT,
    STEP_PREVOTE,
    STEP_PROPOSAL,
    LastSigned,
    may_sign,
)
from greenchain.consensus.state import ConsensusState, MachineConfig, Outcome
from greenchain.crypto.keys import KeyPair
from greenchain.model.blocks import NIL, PRECOMMIT, PREVOTE, Block, make_proposal, make_vote

ASKED_BUILD = "asked_build"
"""Marker: BuildBlock was emitted for the current round (BlockBuilt is awaited)."""
_PREVOTE_TIMER = "prevote_timer"  # line 34, once per round
_POLKA_SEEN = "polka_seen"  # line 36, once per round
_PRECOMMIT_TIMER = "precommit_timer"  # line 47, once per round

Rule = Callable[[MachineConfig, ConsensusState, float], Outcome | None]


# --- steps and signing ------------------------------------------------------------------
def start_round(config: MachineConfig, state: ConsensusState, round_: int,
                now_s: float) -> Outcome:
    """StartRound(round) (lines 11-21): reset the round, propose if it is our turn.

    The proposer arms the propose timer too (unlike line 21): if its block cannot be
    built or `may_sign` refuses, it must still prevote nil and move on with the others.
    """
    state = replace(state, round=round_, step=PROPOSE, started=True, done=frozenset(),
                    round_started_s=now_s)
    timer = ScheduleTimeout(state.height, round_, PROPOSE, timeout_s(PROPOSE, round_))
    key = _signer(config, state)
    our_turn = key is not None and round_ not in state.proposals and \
        proposer_for(state.validators, state.height, round_) == key.public
    if not our_turn:
        return state, [timer]
    if state.valid_block is not None:  # lines 15-16: re-propose what a polka endorsed
        state, signed = propose(config, state, state.valid_block, state.valid_round)
        return state, [timer, *signed]
    state = replace(state, done=state.done | {ASKED_BUILD})  # line 18: getValue()
    return state, [timer, BuildBlock(state.height, round_)]


def propose(config: MachineConfig, state: ConsensusState, block: Block,
            pol_round: int) -> Outcome:
    """Sign and broadcast a proposal of `block` in the current round (line 19).

    Our own block is recorded as valid: it was built by our ledger, or it is validValue,
    which passed valid(v) before its polka counted.
    """
    key = _signer(config, state)
    value = block.block_hash
    if key is None or not may_sign(state.last_signed, state.height, state.round,
                                   STEP_PROPOSAL, value):
        return state, []
    signed = LastSigned(state.height, state.round, STEP_PROPOSAL, value,
                        state.locked_round, state.locked_hash)
    proposal = make_proposal(key, config.chain_id, block, state.round, pol_round)
    state = replace(state, last_signed=signed,
                    proposals={**state.proposals, state.round: proposal},
                    blocks={**state.blocks, value: block},
                    checked={**state.checked, value: True})
    return state, [_persist(signed), Broadcast(proposal)]


def prevote(config: MachineConfig, state: ConsensusState, value: bytes) -> Outcome:
    """Enter the prevote step and prevote `value` (b"" for nil) if allowed to sign."""
    return _cast_vote(config, replace(state, step=PREVOTE_STEP), PREVOTE, value)


def precommit(config: MachineConfig, state: ConsensusState, value: bytes) -> Outcome:
    """Enter the precommit step and precommit `value` (b"" for nil) if allowed to sign."""
    return _cast_vote(config, replace(state, step=PRECOMMIT_STEP), PRECOMMIT, value)


def _cast_vote(config: MachineConfig, state: ConsensusState, vote_type: int,
               value: bytes) -> Outcome:
    key = _signer(config, state)
    step = STEP_PREVOTE if vote_type == PREVOTE else STEP_PRECOMMIT
    # Observers, and validators whose sign-state forbids it, stay silent for this step.
    if key is None or not may_sign(state.last_signed, state.height, state.round, step, value):
        return state, []
    signed = LastSigned(state.height, state.round, step, value,
                        state.locked_round, state.locked_hash)
    vote = make_vote(key, config.chain_id, vote_type, state.height, state.round, value)
    state = replace(state, last_signed=signed, votes=state.votes.add(vote).votes)
    return state, [_persist(signed), Broadcast(vote)]


def _persist(signed: LastSigned) -> PersistSignState:
    return PersistSignState(signed.height, signed.round, signed.step, signed.block_hash,
                            signed.locked_round, signed.locked_hash)


def _signer(config: MachineConfig, state: ConsensusState) -> KeyPair | None:
    key = config.key
    return key if key is not None and key.public in state.validators else None


# --- upon rules -------------------------------------------------------------------------
def run_rules(config: MachineConfig, state: ConsensusState, now_s: float) -> Outcome:
    """Apply the upon rules of Algorithm 1 until none fires (or the height is decided).

    Every rule changes the state when it fires (a step, a round or a once-per-round
    marker), so the loop ends.
    """
    actions: list[Action] = []
    while not state.decided:
        fired = _first_rule_that_fires(config, state, now_s)
        if fired is None:
            break
        state, more = fired
        actions.extend(more)
    return state, actions


def _first_rule_that_fires(config: MachineConfig, state: ConsensusState,
                           now_s: float) -> Outcome | None:
    for rule in _RULES:
        fired = rule(config, state, now_s)
        if fired is not None:
            return fired
    return None


def _rule_decide(config: MachineConfig, state: ConsensusState, now_s: float) -> Outcome | None:
    for round_ in state.votes.rounds():  # line 49, in any round of the height
        value = state.votes.quorum_value(PRECOMMIT, round_)
        if value and state.checked.get(value) is True:
            commit = state.votes.make_commit(round_, value)
            return replace(state, decided=True), [CommitBlock(state.blocks[value], commit)]
    return None


def _rule_round_skip(config: MachineConfig, state: ConsensusState,
                     now_s: float) -> Outcome | None:
    # Line 55. Before the start, f + 1 senders in round 0 also show that the height is live.
    lowest = state.round + 1 if state.started else state.round
    candidates = {*state.votes.rounds(), *state.proposals}
    for round_ in sorted((r for r in candidates if r >= lowest), reverse=True):
        senders = state.votes.senders_at(round_)
        proposal = state.proposals.get(round_)
        if proposal is not None:
            senders = senders | {proposal.proposer}
        if len(senders) >= state.votes.skip_threshold():
            return start_round(config, state, round_, now_s)
    return None


def _rule_start_on_proposal(config: MachineConfig, state: ConsensusState,
                            now_s: float) -> Outcome | None:
    if state.started or not state.proposals:
        return None
    return start_round(config, state, 0, now_s)


def _rule_prevote_proposal(config: MachineConfig, state: ConsensusState,
                           now_s: float) -> Outcome | None:
    proposal = state.proposals.get(state.round)
    if not state.started or state.step != PROPOSE or proposal is None:
        return None
    value = proposal.block.block_hash
    valid = state.checked.get(value)
    if valid is None:
        return None  # CheckBlock is still running
    if proposal.pol_round == -1:  # line 22
        free = state.locked_round == -1 or state.locked_hash == value
    elif state.votes.has_polka(proposal.pol_round, value):  # line 28
        free = state.locked_round <= proposal.pol_round or state.locked_hash == value
    else:
        return None  # wait for the polka the re-proposal cites, or for the timeout
    return prevote(config, state, value if valid and free else NIL)


def _rule_polka(config: MachineConfig, state: ConsensusState, now_s: float) -> Outcome | None:
    if not state.started or state.step == PROPOSE or _POLKA_SEEN in state.done:
        return None
    value = state.votes.quorum_value(PREVOTE, state.round)  # line 36
    if not value or state.checked.get(value) is not True:
        return None
    state = replace(state, done=state.done | {_POLKA_SEEN}, valid_block=state.blocks[value],
                    valid_round=state.round)
    if state.step != PREVOTE_STEP:
        return state, []
    state = replace(state, locked_hash=value, locked_round=state.round)
    return precommit(config, state, value)


def _rule_nil_polka(config: MachineConfig, state: ConsensusState,
                    now_s: float) -> Outcome | None:
    in_prevote = state.started and state.step == PREVOTE_STEP
    if not in_prevote or not state.votes.has_polka(state.round, NIL):  # line 44
        return None
    return precommit(config, state, NIL)


def _rule_prevote_timer(config: MachineConfig, state: ConsensusState,
                        now_s: float) -> Outcome | None:
    in_prevote = state.started and state.step == PREVOTE_STEP
    if not in_prevote or _PREVOTE_TIMER in state.done or \
            not state.votes.has_quorum_any(PREVOTE, state.round):  # line 34
        return None
    return _arm_timer(state, PREVOTE_STEP, _PREVOTE_TIMER)


def _rule_precommit_timer(config: MachineConfig, state: ConsensusState,
                          now_s: float) -> Outcome | None:
    if not state.started or _PRECOMMIT_TIMER in state.done or \
            not state.votes.has_quorum_any(PRECOMMIT, state.round):  # line 47
        return None
    return _arm_timer(state, PRECOMMIT_STEP, _PRECOMMIT_TIMER)


def _arm_timer(state: ConsensusState, step: str, marker: str) -> Outcome:
    timer = ScheduleTimeout(state.height, state.round, step, timeout_s(step, state.round))
    return replace(state, done=state.done | {marker}), [timer]


# Decide first: a decision ends the height whatever else could fire.
_RULES: tuple[Rule, ...] = (
    _rule_decide,
    _rule_round_skip,
    _rule_start_on_proposal,
    _rule_prevote_proposal,
    _rule_polka,
    _rule_nil_polka,
    _rule_prevote_timer,
    _rule_precommit_timer,
)

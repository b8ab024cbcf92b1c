"""Tendermint consensus as a pure state machine (arXiv:1807.04938, Algorithm 1; DESIGN §6).

`handle(config, state, event, now_s)` returns the next state and the actions the node
executes in order; there is no I/O, clock or randomness here (STYLE.md §8). This module
takes events in and checks messages; `rules` holds the steps and upon rules; `state`
the state value. Conventions the node relies on:

- Own messages: when the machine signs a proposal or vote it records it in its own
  state at once, so the node never needs to feed its broadcasts back (an echo is
  harmless: a duplicate, ignored).
- Signing: `may_sign` first, then `PersistSignState`, then `Broadcast`, in that order.
  A refused signature leaves the machine silent for that step (the step still advances).
- valid(v) is asynchronous: the first time a block is seen the machine emits
  `CheckBlock` and waits for `BlockChecked` before it prevotes for it, locks on it or
  commits it. Blocks the machine proposes itself are not checked.
- Not started (before `StartHeight`): proposals and votes are recorded; a valid proposal
  for the height, or f + 1 validators voting in a round, starts the machine.
- Messages of height + 1 that arrive early are kept (a few per current validator, with
  valid signatures) and replayed by the first `handle` call after `new_height`.
- Decided: after `CommitBlock` the machine ignores the height's events until the node
  calls `new_height`.
"""

from __future__ import annotations

from dataclasses import replace

from greenchain.consensus.events import (
    PRECOMMIT_STEP,
    PREVOTE_STEP,
    PROPOSE,
    Action,
    BlockBuilt,
    BlockChecked,
    CheckBlock,
    Event,
    EvidenceFound,
    ProposalReceived,
    StartHeight,
    TimeoutFired,
    VoteReceived,
)
from greenchain.consensus.quorum import (
    proposer_for,
    verify_proposal_signature,
    verify_vote_signature,
)
from greenchain.consensus.rules import (
    ASKED_BUILD,
    precommit,
    prevote,
    propose,
    run_rules,
    start_round,
)
from greenchain.consensus.state import (
    ConsensusState,
    MachineConfig,
    Message,
    Outcome,
    initial_state,
)
from greenchain.model.blocks import NIL, PRECOMMIT, PREVOTE, Block, Proposal, Vote

__all__ = [
    "ConsensusState",
    "MachineConfig",
    "handle",
    "initial_state",
    "known_messages",
    "new_height",
    "own_messages",
]

_EARLY_PER_SENDER = 4
"""Next-height messages kept per validator: a proposal and both votes of a round, +1."""
_HASH_LEN = 32


def new_height(config: MachineConfig, state: ConsensusState, height: int,
               validators: tuple[bytes, ...]) -> ConsensusState:
    """Return the not-started state of `height`, once the node persisted the last commit.

    The sign-state and the early messages of `height` carry over. The node then sends
    `StartHeight` when its pool is non-empty, a proposal arrives or the heartbeat is due.

    Parameters
    ----------
    config:
        Chain id and key.
    state:
        The state of the height just committed.
    height:
        The next height (normally ``state.height + 1``; more after a catch-up).
    validators:
        Public keys of the validator set of `height`, any order.

    Raises
    ------
    ValueError
        If `validators` is empty.
    """
    fresh = initial_state(config, height, validators, state.last_signed)
    return replace(fresh, early=tuple(m for m in state.early if m.height == height))


def handle(config: MachineConfig, state: ConsensusState, event: Event,
           now_s: float) -> Outcome:
    """Apply one event (Algorithm 1 of arXiv:1807.04938, DESIGN §6).

    Parameters
    ----------
    config:
        Chain id and key.
    state:
        Current state (not modified).
    event:
        What happened: a message, a timeout, or the node's answer to an action.
    now_s:
        The node's monotonic clock, seconds; recorded only, it never decides anything.

    Returns
    -------
    tuple[ConsensusState, list[Action]]
        The next state and the actions to execute in order.
    """
    state, actions = _replay_early(config, state, now_s)
    state, more = _dispatch(config, state, event, now_s)
    actions.extend(more)
    state, more = run_rules(config, state, now_s)
    actions.extend(more)
    return state, actions


def known_messages(state: ConsensusState) -> list[Message]:
    """Return the proposals (first of each round) and every vote held for the height.

    Liveness needs every message a correct validator received to reach the others
    eventually (arXiv:1807.04938, §2, gossip): with lossy links the node should re-send
    these periodically (at least the part its peers lack), not only relay once.
    """
    proposals: list[Message] = list(state.proposals.values())
    return proposals + state.votes.all_votes()


def own_messages(config: MachineConfig, state: ConsensusState) -> list[Message]:
    """Return the proposals and votes this validator signed in the current height.

    They are already signed, so re-sending them never signs anything new.
    """
    if config.key is None:
        return []
    me = config.key.public
    mine: list[Message] = [p for p in state.proposals.values() if p.proposer == me]
    return mine + state.votes.votes_by(me)


# --- events -----------------------------------------------------------------------------
def _dispatch(config: MachineConfig, state: ConsensusState, event: Event,
              now_s: float) -> Outcome:
    if isinstance(event, ProposalReceived):
        return _on_proposal(config, state, event.proposal)
    if isinstance(event, VoteReceived):
        return _on_vote(config, state, event.vote)
    if state.decided:
        return state, []
    if isinstance(event, StartHeight):
        return (state, []) if state.started else start_round(config, state, 0, now_s)
    if isinstance(event, TimeoutFired):
        return _on_timeout(config, state, event, now_s)
    if isinstance(event, BlockBuilt):
        return _on_block_built(config, state, event)
    return _on_block_checked(state, event)


def _replay_early(config: MachineConfig, state: ConsensusState, now_s: float) -> Outcome:
    ready = [m for m in state.early if m.height == state.height]
    if not ready:
        return state, []
    state = replace(state, early=tuple(m for m in state.early if m.height != state.height))
    actions: list[Action] = []
    for message in ready:
        event: Event = ProposalReceived(message) if isinstance(message, Proposal) \
            else VoteReceived(message)
        state, more = _dispatch(config, state, event, now_s)
        actions.extend(more)
    return state, actions


def _on_proposal(config: MachineConfig, state: ConsensusState, proposal: Proposal) -> Outcome:
    if proposal.height == state.height + 1:
        return _keep_early(config, state, proposal), []
    current = proposal.height == state.height and not state.decided
    if not current or not _is_well_formed(state, proposal) or \
            not verify_proposal_signature(config.chain_id, proposal):
        return state, []
    first = state.proposals.get(proposal.round)
    if first is None:
        state = replace(state, proposals={**state.proposals, proposal.round: proposal})
        return _learn_block(state, proposal.block)
    if _same_proposal(first, proposal) or proposal.round in state.equivocated_rounds:
        return state, []
    # Two signed proposals for one (h, r): evidence. Keep the second block too, since a
    # quorum may still decide it (line 49) and then we must be able to commit it.
    state = replace(state, equivocated_rounds=state.equivocated_rounds | {proposal.round})
    state, actions = _learn_block(state, proposal.block)
    return state, [EvidenceFound(proposal.proposer, first, proposal), *actions]


def _same_proposal(first: Proposal, other: Proposal) -> bool:
    return (first.block.block_hash, first.pol_round) == (other.block.block_hash,
                                                         other.pol_round)


def _is_well_formed(state: ConsensusState, proposal: Proposal) -> bool:
    header = proposal.block.header
    # A polka round must lie before the proposal's round (line 28: vr < round_p).
    if proposal.round < 0 or not -1 <= proposal.pol_round < proposal.round:
        return False
    if proposal.proposer != proposer_for(state.validators, proposal.height, proposal.round):
        return False
    if header.height != proposal.height:
        return False
    if proposal.pol_round == -1:
        # A fresh block (line 18) is built by the proposer in the round that proposes it.
        return header.round == proposal.round and header.proposer == proposal.proposer
    # A re-proposed validValue (line 16) was built no later than the polka endorsing it.
    return header.round <= proposal.pol_round


def _learn_block(state: ConsensusState, block: Block) -> Outcome:
    if block.block_hash in state.blocks:
        return state, []
    return replace(state, blocks={**state.blocks, block.block_hash: block}), [CheckBlock(block)]


def _on_vote(config: MachineConfig, state: ConsensusState, vote: Vote) -> Outcome:
    if vote.height == state.height + 1:
        return _keep_early(config, state, vote), []
    current = vote.height == state.height and not state.decided
    if not current or not _is_acceptable_vote(config, state, vote):
        return state, []
    result = state.votes.add(vote)
    state = replace(state, votes=result.votes)
    if result.evidence is None:
        return state, []
    return state, [EvidenceFound(vote.validator, *result.evidence)]


def _is_acceptable_vote(config: MachineConfig, state: ConsensusState, vote: Vote) -> bool:
    return (vote.vote_type in (PREVOTE, PRECOMMIT) and vote.round >= 0
            and vote.validator in state.validators
            and len(vote.block_hash) in (0, _HASH_LEN)
            and verify_vote_signature(config.chain_id, vote))


def _sender(message: Message) -> bytes:
    return message.validator if isinstance(message, Vote) else message.proposer


def _keep_early(config: MachineConfig, state: ConsensusState, message: Message) -> ConsensusState:
    sender = _sender(message)
    # The next height's set is not known yet; sets change rarely, so the current one is a
    # fair filter, and a cap per sender bounds what a faulty member can make us hold.
    if sender not in state.validators:
        return state
    held = [m for m in state.early if _sender(m) == sender]
    if len(held) >= _EARLY_PER_SENDER or message in held:
        return state
    signed = verify_vote_signature(config.chain_id, message) if isinstance(message, Vote) \
        else verify_proposal_signature(config.chain_id, message)
    return replace(state, early=(*state.early, message)) if signed else state


def _on_timeout(config: MachineConfig, state: ConsensusState, event: TimeoutFired,
                now_s: float) -> Outcome:
    if not state.started or (event.height, event.round) != (state.height, state.round):
        return state, []  # stale: a timer of an earlier round or height
    if event.step == PROPOSE and state.step == PROPOSE:  # line 57
        return prevote(config, state, NIL)
    if event.step == PREVOTE_STEP and state.step == PREVOTE_STEP:  # line 61
        return precommit(config, state, NIL)
    if event.step == PRECOMMIT_STEP:  # line 65
        return start_round(config, state, state.round + 1, now_s)
    return state, []


def _on_block_built(config: MachineConfig, state: ConsensusState, event: BlockBuilt) -> Outcome:
    awaited = (event.height, event.round) == (state.height, state.round) and \
        state.step == PROPOSE and ASKED_BUILD in state.done and \
        state.round not in state.proposals
    if not awaited or event.block.header.height != state.height:
        return state, []
    return propose(config, state, event.block, -1)


def _on_block_checked(state: ConsensusState, event: BlockChecked) -> Outcome:
    if event.block_hash not in state.blocks or event.block_hash in state.checked:
        return state, []  # unsolicited, or already known
    return replace(state, checked={**state.checked, event.block_hash: event.valid}), []

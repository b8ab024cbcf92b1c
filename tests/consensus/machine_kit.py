"""Builders and a driver for step-by-step tests of the consensus machine."""

from simnet import CHAIN_ID, validator_key

from greenchain.consensus.events import (
    PRECOMMIT_STEP,
    Action,
    BlockChecked,
    Broadcast,
    Event,
    PersistSignState,
    ProposalReceived,
    StartHeight,
    TimeoutFired,
    VoteReceived,
)
from greenchain.consensus.machine import (
    ConsensusState,
    MachineConfig,
    handle,
    initial_state,
)
from greenchain.consensus.quorum import proposer_for
from greenchain.consensus.safety import NOTHING_SIGNED
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


def locked_on_round_0(me: KeyPair) -> tuple[MachineConfig, ConsensusState, Proposal]:
    config, state = started_validator(me)
    prop = propose(1, 0)
    value = prop.block.block_hash
    state, actions = feed(config, state, ProposalReceived(prop), BlockChecked(value, True),
                          *votes_from(others(me)[:2], PREVOTE, 1, 0, value))
    [_, precommit] = signed(actions)
    assert isinstance(precommit, Vote) and precommit.vote_type == PRECOMMIT
    assert precommit.block_hash == value
    return config, state, prop


def to_round_1(config: MachineConfig, state: ConsensusState,
               me: KeyPair) -> tuple[ConsensusState, list[Action]]:
    state, _ = feed(config, state, *votes_from(others(me), PRECOMMIT, 1, 0, NIL))
    return feed(config, state, TimeoutFired(1, 0, PRECOMMIT_STEP))



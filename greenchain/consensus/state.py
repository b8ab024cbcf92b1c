"""The consensus machine's configuration and state value (DESIGN §6).

`ConsensusState` holds what Algorithm 1 of arXiv:1807.04938 keeps per process for one
height (round, step, lockedValue/lockedRound, validValue/validRound, messages received)
plus what the asynchronous block check and the double-sign guard need. It is a value:
transitions build a new one with `dataclasses.replace`, never mutate the old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from greenchain.consensus.events import PROPOSE, Action
from greenchain.consensus.safety import STEP_PRECOMMIT, LastSigned
from greenchain.consensus.votes import VoteSet
from greenchain.crypto.keys import KeyPair
from greenchain.model.blocks import NIL, Block, Proposal, Vote

Message = Proposal | Vote
"""A signed consensus message."""
Outcome = tuple["ConsensusState", list[Action]]
"""A transition: the next state and the actions to execute in order."""


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """Who runs the machine."""

    chain_id: str
    """Chain id from genesis (inside every signature)."""
    key: KeyPair | None
    """The validator key, or None for an observer that follows but never signs."""


@dataclass(frozen=True, slots=True)
class ConsensusState:
    """Everything the machine knows about the current height (a value: never mutated)."""

    height: int
    """Height being decided."""
    validators: tuple[bytes, ...]
    """Validator set of `height`, ordered by key bytes."""
    votes: VoteSet
    """Prevotes and precommits of `height`, every round."""
    last_signed: LastSigned
    """The sign-state: what this validator signed last (persisted by the node)."""
    round: int = 0
    """Current round."""
    step: str = PROPOSE
    """PROPOSE, PREVOTE_STEP or PRECOMMIT_STEP."""
    started: bool = False
    """True once a round began (StartHeight, a proposal, or f + 1 voters)."""
    decided: bool = False
    """True once CommitBlock was emitted; the node then calls `new_height`."""
    locked_hash: bytes = NIL
    """lockedValue, as a block hash (b"" when unlocked)."""
    locked_round: int = -1
    """lockedRound (-1 when unlocked)."""
    valid_block: Block | None = None
    """validValue: the latest block with a polka in this height; we re-propose it."""
    valid_round: int = -1
    """validRound (-1 when none)."""
    proposals: Mapping[int, Proposal] = field(default_factory=dict)
    """Round -> the first valid proposal from that round's proposer; read-only."""
    blocks: Mapping[bytes, Block] = field(default_factory=dict)
    """Block hash -> every block proposed in this height (conflicting ones too)."""
    checked: Mapping[bytes, bool] = field(default_factory=dict)
    """Block hash -> valid(v); a known block is absent here while its check runs."""
    done: frozenset[str] = frozenset()
    """Markers of the once-per-round rules already applied in the current round."""
    equivocated_rounds: frozenset[int] = frozenset()
    """Rounds whose proposer was already reported for conflicting proposals."""
    early: tuple[Message, ...] = ()
    """Signed messages of the next height, replayed after `new_height`."""
    round_started_s: float = 0.0
    """Node clock (seconds) when the current round began, for status reports."""


def initial_state(config: MachineConfig, height: int, validators: tuple[bytes, ...],
                  last_signed: LastSigned) -> ConsensusState:
    """Return the state of a height not yet started (at boot or after a restart).

    Parameters
    ----------
    config:
        Chain id and key.
    height:
        The height to decide (last committed height + 1).
    validators:
        Public keys of the validator set of `height`, any order.
    last_signed:
        The persisted sign-state. The lock it records for `height` is restored (a
        precommit for a block also implies one: lines 36-41 lock before precommitting),
        so a validator that crashes after locking comes back locked.

    Returns
    -------
    ConsensusState
        Round 0, step propose, not started.

    Raises
    ------
    ValueError
        If `validators` is empty.
    """
    members = tuple(sorted(set(validators)))
    if not members:
        raise ValueError("the validator set is empty")
    state = ConsensusState(height, members, VoteSet(height, len(members)), last_signed)
    if last_signed.height != height:
        return state
    locks = [(last_signed.locked_round, last_signed.locked_hash)]
    if last_signed.step == STEP_PRECOMMIT and last_signed.block_hash != NIL:
        # A file of the 4-field format records no lock, but its precommit implies one.
        locks.append((last_signed.round, last_signed.block_hash))
    locked_round, locked_hash = max(locks, key=lambda lock: lock[0])
    if locked_round >= 0:
        state = replace(state, locked_hash=locked_hash, locked_round=locked_round)
    return state

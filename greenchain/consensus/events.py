"""Events the consensus machine takes in and actions it returns (STYLE.md §8).

The machine never touches disk, sockets or clocks: the node turns actions into I/O and
feeds the outcomes back as events. Times are seconds on the node's monotonic clock,
passed in with each event.
"""

from __future__ import annotations

from dataclasses import dataclass

from greenchain.model.blocks import Block, Commit, Proposal, Vote

PROPOSE = "propose"
PREVOTE_STEP = "prevote"
PRECOMMIT_STEP = "precommit"


# --- events (node -> machine) ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StartHeight:
    """Begin round 0 of the current height (pool non-empty, proposal seen, or heartbeat)."""


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    """A proposal arrived (signature already checked by the node or not: the machine checks)."""

    proposal: Proposal
    """The proposal."""


@dataclass(frozen=True, slots=True)
class VoteReceived:
    """A prevote or precommit arrived."""

    vote: Vote
    """The vote."""


@dataclass(frozen=True, slots=True)
class TimeoutFired:
    """A timeout scheduled by `ScheduleTimeout` expired."""

    height: int
    """Height it was scheduled for."""
    round: int
    """Round it was scheduled for."""
    step: str
    """PROPOSE, PREVOTE_STEP or PRECOMMIT_STEP."""


@dataclass(frozen=True, slots=True)
class BlockBuilt:
    """The node built the block the machine asked for with `BuildBlock`."""

    height: int
    """Height requested."""
    round: int
    """Round requested."""
    block: Block
    """The block, with roots computed by the ledger."""


@dataclass(frozen=True, slots=True)
class BlockChecked:
    """The node validated (applied on an overlay) a proposed block."""

    block_hash: bytes
    """Hash of the checked block."""
    valid: bool
    """True if header, transactions, app_hash and last_commit all check out."""


# --- actions (machine -> node) --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send a signed proposal or vote to all peers (and treat it as received locally)."""

    message: Proposal | Vote
    """What to send."""


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """Fire `TimeoutFired(height, round, step)` after `delay_s` seconds."""

    height: int
    """Height."""
    round: int
    """Round."""
    step: str
    """Step."""
    delay_s: float
    """Delay in seconds."""


@dataclass(frozen=True, slots=True)
class PersistSignState:
    """Durably store the new last-signed record BEFORE executing any later action."""

    height: int
    """Height signed."""
    round: int
    """Round signed."""
    step: int
    """1 proposal, 2 prevote, 3 precommit (CometBFT signing.md ordering)."""
    block_hash: bytes
    """Value signed (b"" for nil)."""
    locked_round: int = -1
    """The lock held when signing (-1: none); persisted so a restart keeps it."""
    locked_hash: bytes = b""
    """The block locked on (b"" when none)."""


@dataclass(frozen=True, slots=True)
class BuildBlock:
    """Ask the node to build a block for (height, round) from its pool; reply `BlockBuilt`."""

    height: int
    """Height."""
    round: int
    """Round."""


@dataclass(frozen=True, slots=True)
class CheckBlock:
    """Ask the node to validate a proposed block; reply `BlockChecked`."""

    block: Block
    """The block to validate."""


@dataclass(frozen=True, slots=True)
class CommitBlock:
    """The block is final: persist it with its commit; then call `new_height`."""

    block: Block
    """The decided block."""
    commit: Commit
    """A quorum of precommits for it."""


@dataclass(frozen=True, slots=True)
class EvidenceFound:
    """Two conflicting signed messages from one validator."""

    validator: bytes
    """The equivocating validator."""
    first: Vote | Proposal
    """One signed message."""
    second: Vote | Proposal
    """The conflicting one."""


Event = StartHeight | ProposalReceived | VoteReceived | TimeoutFired | BlockBuilt | BlockChecked
Action = (
    Broadcast | ScheduleTimeout | PersistSignState | BuildBlock | CheckBlock | CommitBlock
    | EvidenceFound
)

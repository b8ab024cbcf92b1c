"""Safety checks over a finished simulation: agreement and no double signing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from greenchain.consensus.safety import STEP_PRECOMMIT, STEP_PREVOTE, STEP_PROPOSAL
from greenchain.model.blocks import PREVOTE, Proposal, Vote

if TYPE_CHECKING:
    from simnet import SimNetwork

Message = Proposal | Vote


def message_position(message: Message) -> tuple[int, int, int]:
    """(height, round, sign step) of a signed message, as the sign-state orders them."""
    if isinstance(message, Proposal):
        return message.height, message.round, STEP_PROPOSAL
    step = STEP_PREVOTE if message.vote_type == PREVOTE else STEP_PRECOMMIT
    return message.height, message.round, step


def message_value(message: Message) -> bytes:
    return message.block.block_hash if isinstance(message, Proposal) else message.block_hash


def find_conflicts(messages: list[Message]) -> list[tuple[Message, Message]]:
    """Pairs of signed messages by one signer for one (kind, h, r) with different content."""
    seen: dict[tuple[Any, ...], Message] = {}
    conflicts = []
    for message in messages:
        if isinstance(message, Proposal):
            key: tuple[Any, ...] = ("p", message.proposer, message.height, message.round)
            content: tuple[Any, ...] = (message.block.block_hash, message.pol_round)
        else:
            key = ("v", message.validator, message.vote_type, message.height, message.round)
            content = (message.block_hash,)
        first = seen.setdefault(key, message)
        first_content = (first.block.block_hash, first.pol_round) \
            if isinstance(first, Proposal) else (first.block_hash,)
        if first_content != content:
            conflicts.append((first, message))
    return conflicts


def check_agreement(sim: SimNetwork) -> None:
    """No two honest nodes committed different blocks at one height."""
    chains = [n.chain for n in sim.honest()]
    for height in range(max(len(c) for c in chains)):
        hashes = {c[height][0].block_hash for c in chains if len(c) > height}
        assert len(hashes) == 1, f"disagreement at height {height + 1}"


def check_no_double_signing(sim: SimNetwork) -> None:
    """No honest validator ever signed two different things at one (kind, h, r)."""
    bad = sim.scenario.equivocators
    honest_keys = {sim.validators[i] for i in range(sim.scenario.n) if i not in bad}
    mine = [m for m in sim.signed
            if (m.proposer if isinstance(m, Proposal) else m.validator) in honest_keys]
    assert find_conflicts(mine) == []

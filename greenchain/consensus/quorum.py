"""Quorum arithmetic, proposer rotation, timeouts and signature checks (DESIGN §6).

Validators have equal weight. With `n` validators the protocol tolerates
`f = floor((n - 1) / 3)` faulty ones and a quorum is `floor(2n / 3) + 1`, so two quorums
always share an honest validator (Buchman, Kwon, Milosevic, arXiv:1807.04938, §2).
Every `verify_*` function returns a bool and never raises; `validate_*`-style checks
(`verify_commit`, kept under the name the node runtime calls) raise a typed error.
"""

from __future__ import annotations

from collections.abc import Sequence

from greenchain.consensus.events import PRECOMMIT_STEP, PREVOTE_STEP, PROPOSE
from greenchain.crypto.signing import verify_signature
from greenchain.errors import BadCommit, GreenChainError
from greenchain.model.blocks import (
    PRECOMMIT,
    Commit,
    Proposal,
    Vote,
    proposal_sign_bytes,
    vote_sign_bytes,
)
from greenchain.params import (
    TIMEOUT_CAP_FACTOR,
    TIMEOUT_PROPOSE_DELTA_S,
    TIMEOUT_PROPOSE_S,
    TIMEOUT_VOTE_DELTA_S,
    TIMEOUT_VOTE_S,
)

# Encoding can fail on ill-typed fields of a hand-built message; a check must say False.
_ENCODING_ERRORS = (GreenChainError, ValueError, TypeError, OverflowError)


def quorum_size(n: int) -> int:
    """Return the number of distinct validators that form a quorum.

    Parameters
    ----------
    n:
        Number of validators (equal weight), at least 1.

    Returns
    -------
    int
        ``floor(2n / 3) + 1`` (DESIGN §6): 1 for n = 1, 3 for n = 4, 5 for n = 7.

    Raises
    ------
    ValueError
        If `n` is below 1.
    """
    if n < 1:
        raise ValueError(f"a validator set needs at least one member, got {n}")
    return 2 * n // 3 + 1


def max_faulty(n: int) -> int:
    """Return how many faulty validators `n` validators tolerate: ``floor((n - 1) / 3)``.

    Raises
    ------
    ValueError
        If `n` is below 1.
    """
    if n < 1:
        raise ValueError(f"a validator set needs at least one member, got {n}")
    return (n - 1) // 3


def proposer_for(validators: Sequence[bytes], height: int, round_: int) -> bytes:
    """Return the proposer of (height, round): ``validators[(h + r) mod n]`` (DESIGN §6).

    Parameters
    ----------
    validators:
        Public keys of the validator set of `height`; ordered here by key bytes, as
        DESIGN §1 orders every set, so callers may pass any order.
    height, round_:
        The height and round.

    Returns
    -------
    bytes
        The proposer's 32-byte public key.

    Raises
    ------
    ValueError
        If the set is empty.
    """
    ordered = sorted(validators)
    if not ordered:
        raise ValueError("empty validator set")
    return ordered[(height + round_) % len(ordered)]


def verify_vote_signature(chain_id: str, vote: Vote) -> bool:
    """Return True if `vote.signature` is the voter's signature over its vote sign bytes.

    Membership in the validator set is the caller's check. Never raises.
    """
    try:
        message = vote_sign_bytes(chain_id, vote.vote_type, vote.height, vote.round,
                                  vote.block_hash)
    except _ENCODING_ERRORS:
        return False
    return verify_signature(vote.validator, message, vote.signature)


def verify_proposal_signature(chain_id: str, proposal: Proposal) -> bool:
    """Return True if the proposer signed this proposal of this very block.

    The block hash is recomputed from the header, so a block whose cached hash does not
    match its header fails too. Never raises.
    """
    try:
        block_hash = proposal.block.header.block_hash()
        message = proposal_sign_bytes(chain_id, proposal.height, proposal.round,
                                      proposal.pol_round, block_hash)
    except _ENCODING_ERRORS:
        return False
    if block_hash != proposal.block.block_hash:
        return False
    return verify_signature(proposal.proposer, message, proposal.signature)


def verify_commit(chain_id: str, commit: Commit, block_hash: bytes, height: int,
                  validators: Sequence[bytes]) -> None:
    """Check that `commit` proves `block_hash` final at `height` (DESIGN §6).

    Only distinct members of `validators` whose signature over the precommit sign bytes
    ``vote_sign_bytes(chain_id, PRECOMMIT, height, commit.round, block_hash)`` verifies
    are counted; unknown signers, repeated signers and bad signatures never count.

    Parameters
    ----------
    chain_id:
        The chain id from genesis.
    commit:
        The commit to check.
    block_hash:
        Hash of the block the commit must finalise.
    height:
        Height of that block.
    validators:
        Public keys of the validator set of `height`.

    Raises
    ------
    BadCommit
        If the height or block hash differ, the set is empty, or fewer than a quorum
        of distinct validators signed validly.
    """
    if commit.height != height:
        raise BadCommit("commit is for another height", expected=height, got=commit.height)
    if commit.block_hash != block_hash:
        raise BadCommit("commit is for another block", expected=block_hash,
                        got=commit.block_hash)
    members = frozenset(validators)
    if not members:
        raise BadCommit("no validator set to check the commit against", height=height)
    need = quorum_size(len(members))
    try:
        message = vote_sign_bytes(chain_id, PRECOMMIT, height, commit.round, block_hash)
    except _ENCODING_ERRORS as exc:
        raise BadCommit("commit round cannot be encoded", height=height) from exc
    signers: set[bytes] = set()
    for entry in commit.signatures:
        # A repeated or unknown signer must not add weight, whatever its signature.
        if entry.validator in signers or entry.validator not in members:
            continue
        if verify_signature(entry.validator, message, entry.signature):
            signers.add(entry.validator)
    if len(signers) < need:
        raise BadCommit("commit lacks a quorum of valid precommits", height=height,
                        signers=len(signers), quorum=need)


def timeout_s(step: str, round_: int) -> float:
    """Return the timeout of `step` in `round_`, in seconds (DESIGN §6).

    Timeouts grow linearly with the round (propose 1 s + 0.5 s per round, prevote and
    precommit 0.5 s + 0.25 s per round) and stop at 4x their base, so a network that was
    partitioned for long does not come back with hour-long rounds.

    Parameters
    ----------
    step:
        PROPOSE, PREVOTE_STEP or PRECOMMIT_STEP.
    round_:
        The round, 0 or more.

    Returns
    -------
    float
        Seconds.

    Raises
    ------
    ValueError
        On an unknown step or a negative round.
    """
    if round_ < 0:
        raise ValueError(f"round must not be negative, got {round_}")
    if step == PROPOSE:
        base, delta = TIMEOUT_PROPOSE_S, TIMEOUT_PROPOSE_DELTA_S
    elif step in (PREVOTE_STEP, PRECOMMIT_STEP):
        base, delta = TIMEOUT_VOTE_S, TIMEOUT_VOTE_DELTA_S
    else:
        raise ValueError(f"unknown consensus step {step!r}")
    return float(min(base + delta * round_, TIMEOUT_CAP_FACTOR * base))

"""Checks of one committed proof step: signature, Merkle inclusion, commit, order (DESIGN §8).

Each check raises `ProofError` whose `step` is the given label plus the check's name,
e.g. ``step 3 (transfer): commit``.
"""

from __future__ import annotations

from collections.abc import Sequence

from greenchain.consensus.quorum import verify_commit
from greenchain.crypto.merkle import leaf_hash, node_hash
from greenchain.crypto.signing import check_signature, verify_signature
from greenchain.errors import BadCommit, ProofError, SignatureError
from greenchain.model.blocks import PRECOMMIT, Commit, Header, vote_sign_bytes
from greenchain.proof.format import AuditNode, ProofStep


def step_label(number: int, step: ProofStep) -> str:
    """Return the name of step `number` (1-based) for errors, e.g. ``step 3 (transfer)``."""
    return f"step {number} ({step.tx.type})"


def compute_audit_root(leaf: bytes, path: Sequence[AuditNode]) -> bytes:
    """Return the RFC 6962 root reached from `leaf` along a sided audit path (32 bytes)."""
    current = leaf_hash(leaf)
    for node in path:
        if node.is_right:
            current = node_hash(node.sibling, current)
        else:
            current = node_hash(current, node.sibling)
    return current


def leaf_order_key(path: Sequence[AuditNode]) -> tuple[int, ...]:
    """Return the leaf's left/right turns from the root: sorts leaves of one tree in order."""
    return tuple(node.is_right for node in reversed(path))


def validate_tx_signature(label: str, step: ProofStep, chain_id: str) -> None:
    """Check the transaction's chain id and its signature under the DESIGN §4 policy.

    Raises
    ------
    ProofError
    """
    if step.tx.chain_id != chain_id:
        raise ProofError(f"transaction is for chain {step.tx.chain_id!r}, not {chain_id!r}",
                         step=f"{label}: chain id")
    try:
        check_signature(step.tx.signer, step.tx.sign_bytes, step.tx.signature)
    except SignatureError as exc:
        raise ProofError(f"transaction signature is invalid: {exc.message}",
                         step=f"{label}: signature") from exc


def validate_inclusion(label: str, step: ProofStep) -> None:
    """Check the RFC 6962 audit path from the transaction to the header's tx_root.

    Raises
    ------
    ProofError
    """
    if compute_audit_root(step.tx.raw, step.path) != step.header.tx_root:
        raise ProofError("the transaction is not in the block: its audit path does not lead "
                         "to the header's tx_root", step=f"{label}: merkle inclusion")


def _validate_every_signature(label: str, commit: Commit, chain_id: str,
                              validators: Sequence[bytes]) -> None:
    # A proof carries no dead weight: every precommit must be a validator's valid vote,
    # listed once, in key order, so that no byte of the commit is left unchecked.
    message = vote_sign_bytes(chain_id, PRECOMMIT, commit.height, commit.round,
                              commit.block_hash)
    keys = [entry.validator for entry in commit.signatures]
    if keys != sorted(set(keys)):
        raise ProofError("commit signatures are not in strictly increasing validator order",
                         step=f"{label}: commit")
    for entry in commit.signatures:
        if entry.validator not in validators:
            raise ProofError(f"commit is signed by {entry.validator.hex()}, not a validator",
                             step=f"{label}: commit", validator=entry.validator)
        if not verify_signature(entry.validator, message, entry.signature):
            raise ProofError(f"precommit of {entry.validator.hex()} does not verify",
                             step=f"{label}: commit", validator=entry.validator)


def validate_commit(label: str, header: Header, commit: Commit, chain_id: str,
                    validators: Sequence[bytes]) -> None:
    """Check that `commit` is a quorum of valid precommits over `header` (DESIGN §6).

    Raises
    ------
    ProofError
        If the header is for another chain, the commit lacks a quorum
        (`consensus.quorum.verify_commit`), or any signature in it is not a valid
        precommit of a distinct validator.
    """
    if header.chain_id != chain_id:
        raise ProofError(f"block header is for chain {header.chain_id!r}",
                         step=f"{label}: header")
    try:
        verify_commit(chain_id, commit, header.block_hash(), header.height, validators)
    except BadCommit as exc:
        raise ProofError(f"block is not committed by the validators: {exc.message}",
                         step=f"{label}: commit") from exc
    _validate_every_signature(label, commit, chain_id, validators)


def validate_order(label: str, step: ProofStep, previous: ProofStep | None) -> None:
    """Check that `step` comes strictly after `previous` in the chain (height, position).

    Raises
    ------
    ProofError
    """
    if previous is None:
        return
    height, prev_height = step.header.height, previous.header.height
    if height < prev_height:
        raise ProofError(f"height {height} comes before the previous step's {prev_height}",
                         step=f"{label}: order")
    if height > prev_height:
        return
    if step.header != previous.header:
        raise ProofError(f"two different blocks at height {height}", step=f"{label}: order")
    if leaf_order_key(step.path) <= leaf_order_key(previous.path):
        raise ProofError("the transaction does not come after the previous step's in its "
                         "block", step=f"{label}: order")

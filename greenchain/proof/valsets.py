"""The validator set of every height, replayed from a proof's set changes (DESIGN §3, §8).

A proof carries every committed update_validators since genesis. The verifier replays
them in order from the genesis set, checking each against the set of its own height,
so that every later commit can be checked against the set of ITS height.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from greenchain.errors import GreenChainError, ProofError
from greenchain.ledger.validators import validate_change_signer, validate_validator_change
from greenchain.model.genesis import Genesis
from greenchain.model.transactions import UpdateValidators
from greenchain.proof.format import ProofStep, ProvenanceProof
from greenchain.proof.steps import validate_commit, validate_inclusion, validate_tx_signature


@dataclass(frozen=True, slots=True)
class ValidatorHistory:
    """The validator set of every height: genesis, then each replayed change."""

    genesis_set: tuple[bytes, ...]
    """Genesis validator keys, ordered by key bytes."""
    changes: tuple[tuple[int, tuple[bytes, ...]], ...] = ()
    """``(activation height, new set)`` of each change, in chain order."""

    def at(self, height: int) -> tuple[bytes, ...]:
        """Return the validator set of `height`."""
        for activation, validators in reversed(self.changes):
            if activation <= height:
                return validators
        return self.genesis_set

    @property
    def last_activation(self) -> int:
        """Activation height of the latest change (0 before any)."""
        return self.changes[-1][0] if self.changes else 0


def replay_valset_change(history: ValidatorHistory, number: int, step: ProofStep,
                         chain_id: str) -> ValidatorHistory:
    """Check one validator-set change against the set of its height and fold it in.

    The change must be an update_validators included once the previous change was
    active (one pending change at a time, so the list is in chain order), signed,
    in its block, committed by the set of its height, and pass the ledger's rules
    (`greenchain.ledger.validators.validate_validator_change`, DESIGN §3).

    Raises
    ------
    ProofError
        With ``step = "validator-set change <number>: <check>"``.
    """
    label = f"validator-set change {number}"
    if step.tx.type != "update_validators":
        raise ProofError("expected an update_validators transaction", step=f"{label}: kind")
    height = step.header.height
    if height < history.last_activation:
        raise ProofError(f"included at height {height}, while the previous change was "
                         f"pending until {history.last_activation}", step=f"{label}: order")
    current = history.at(height)
    validate_tx_signature(label, step, chain_id)
    validate_inclusion(label, step)
    validate_commit(label, step.header, step.commit, chain_id, current)
    body = step.tx.body
    assert isinstance(body, UpdateValidators)  # the kind was checked above
    try:
        validate_change_signer(current, step.tx.signer)
        new_set = validate_validator_change(chain_id, height, current, body)
    except GreenChainError as exc:
        raise ProofError(f"the change breaks a ledger rule: {exc.message}",
                         step=f"{label}: change") from exc
    return replace(history, changes=(*history.changes, (body.activation_height, new_set)))


def verify_valset_changes(proof: ProvenanceProof, genesis: Genesis) -> ValidatorHistory:
    """Replay the proof's validator-set changes from the genesis set (DESIGN §8).

    The proof cannot show that no change is missing (headers do not commit to the
    validator set): a left-out change makes later commits fail against the old set
    unless a quorum of that old set signed them.

    Returns
    -------
    ValidatorHistory
        The set of every height.

    Raises
    ------
    ProofError
        From `replay_valset_change`, naming the first failing change.
    """
    history = ValidatorHistory(tuple(sorted(genesis.validator_keys)))
    for number, step in enumerate(proof.valset_changes, 1):
        history = replay_valset_change(history, number, step, genesis.chain_id)
    return history

"""Following one serial through transfers and retirements (DESIGN §2 split rule).

A move of `amount` Wh out of the bundle ``[s, e)`` takes the low serials ``[s, s + amount)``;
the rest keeps ``[s + amount, e)`` and its owner. The walk tracks the range holding the
serial and its owner, so each step can be checked against the bundle it must name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from greenchain.errors import ProofError
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.transactions import Retire, Transfer
from greenchain.proof.format import ProofStep, ProvenanceProof
from greenchain.proof.report import OwnerChange, RetirementClaim


def step_label(number: int, step: ProofStep) -> str:
    """Return the name of step `number` (1-based) for errors, e.g. ``step 3 (transfer)``."""
    return f"step {number} ({step.tx.type})"


@dataclass(frozen=True, slots=True)
class SerialWalk:
    """Where the serial is after some steps: its bundle range, owner and claim."""

    start: int
    """First serial of the bundle holding the serial (Wh), inclusive."""
    end: int
    """End serial of that bundle (Wh), exclusive."""
    owner: bytes
    """Its owner account."""
    owners: tuple[OwnerChange, ...]
    """Owners in turn so far."""
    retirement: RetirementClaim | None
    """The claim once the serial is retired, else None."""


def apply_move(walk: SerialWalk, step: ProofStep, label: str, device_id: str,
               serial: int) -> SerialWalk:
    """Return the walk after one transfer or retire step (DESIGN §2, §3).

    Raises
    ------
    ProofError
        If a step follows the retirement, the signer is not the current owner, the step
        names another bundle, or the amount is not in ``(0, e - s]``.
    """
    body = step.tx.body
    assert isinstance(body, (Transfer, Retire))  # validate_step_kinds ran first
    # A retired certificate is final: nothing may move it afterwards.
    if walk.retirement is not None:
        raise ProofError("no step may follow the retirement", step=f"{label}: after retirement")
    if step.tx.signer != walk.owner:
        raise ProofError("the signer does not own the bundle holding the certificate",
                         step=f"{label}: owner", signer=step.tx.signer)
    if body.bundle_id != compute_bundle_id(device_id, walk.start, walk.end):
        raise ProofError(f"the step moves another bundle than [{walk.start}, {walk.end})",
                         step=f"{label}: bundle", bundle_id=body.bundle_id)
    if not 0 < body.amount_wh <= walk.end - walk.start:
        raise ProofError(f"amount {body.amount_wh} Wh is not in (0, {walk.end - walk.start}]",
                         step=f"{label}: amount")
    cut = walk.start + body.amount_wh
    if serial >= cut:
        return replace(walk, start=cut)  # the serial stays in the rest, with its owner
    moved = replace(walk, end=cut)
    height = step.header.height
    if isinstance(body, Transfer):
        return replace(moved, owner=body.receiver,
                       owners=moved.owners + (OwnerChange(body.receiver, height),))
    claim = RetirementClaim(body.beneficiary, body.consumption_start, body.consumption_end,
                            body.purpose, body.country, height)
    return replace(moved, retirement=claim)


def walk_serial(proof: ProvenanceProof, issued_owner: bytes) -> SerialWalk:
    """Walk `proof.serial` from the root bundle through every move step.

    Parameters
    ----------
    proof:
        A proof whose steps, commits and root bundle were already verified.
    issued_owner:
        The device's owner account, which received the issued bundle.

    Returns
    -------
    SerialWalk
        The final range, owner history and claim.

    Raises
    ------
    ProofError
        From `apply_move`, naming the failing step.
    """
    record, attest_step = proof.root_bundle.record, proof.steps[1]
    walk = SerialWalk(record.serial_start, record.serial_end, issued_owner,
                      (OwnerChange(issued_owner, attest_step.header.height),), None)
    for number, step in enumerate(proof.steps[2:], 3):
        walk = apply_move(walk, step, step_label(number, step), proof.device_id, proof.serial)
    return walk

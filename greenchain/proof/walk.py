"""Following one serial through transfers, retirements, exports and withdrawals (DESIGN §2, §10).

A move of `amount` Wh out of the bundle ``[s, e)`` (transfer, retire, export) takes the low
serials ``[s, s + amount)``; the rest keeps ``[s + amount, e)`` and its owner. A withdrawal
takes the whole bundle. The walk tracks the range holding the serial and its owner, so each
step can be checked against the bundle it must name. Retirement, export and withdrawal end
the certificate's life on this chain: no step may follow them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from greenchain.errors import ProofError
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.lifecycle_txs import Export, Withdraw
from greenchain.model.transactions import Retire, Transfer
from greenchain.proof.format import ProofStep, ProvenanceProof
from greenchain.proof.report import (
    DeviceInfo,
    ExportClaim,
    OwnerChange,
    RetirementClaim,
    WithdrawalClaim,
)
from greenchain.proof.roots import Issuance
from greenchain.proof.steps import step_label

__all__ = ["SerialWalk", "apply_move", "step_label", "walk_serial"]


@dataclass(frozen=True, slots=True)
class SerialWalk:
    """Where the serial is after some steps: its bundle range, owner and final claim."""

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
    export: ExportClaim | None = None
    """The export once the serial left for another registry, else None."""
    withdrawal: WithdrawalClaim | None = None
    """The withdrawal once the issuing body withdrew the serial, else None."""

    @property
    def ended_by(self) -> str | None:
        """``retirement``, ``export`` or ``withdrawal`` once one ended the serial, else None."""
        for name in ("retirement", "export", "withdrawal"):
            if getattr(self, name) is not None:
                return name
        return None


def _validate_names_bundle(walk: SerialWalk, bundle_id: bytes, label: str,
                           device_id: str) -> None:
    if bundle_id != compute_bundle_id(device_id, walk.start, walk.end):
        raise ProofError(f"the step moves another bundle than [{walk.start}, {walk.end})",
                         step=f"{label}: bundle", bundle_id=bundle_id)


def apply_withdrawal(walk: SerialWalk, step: ProofStep, label: str, device_id: str,
                     device: DeviceInfo) -> SerialWalk:
    """Return the walk after a withdraw step: the whole bundle is withdrawn (DESIGN §10).

    Raises
    ------
    ProofError
        If the signer is not the certificate's issuing body (`device.issuing_body`, which
        the root bundle record binds) or the step names another bundle.
    """
    body = step.tx.body
    assert isinstance(body, Withdraw)
    # Only the issuing body responsible for the certificates may withdraw them.
    if step.tx.signer != device.issuing_body:
        raise ProofError("the withdrawal is not signed by the certificate's issuing body",
                         step=f"{label}: issuing body", signer=step.tx.signer)
    _validate_names_bundle(walk, body.bundle_id, label, device_id)
    claim = WithdrawalClaim(body.reason, step.tx.signer, device.issuing_body_name,
                            step.header.height)
    return replace(walk, withdrawal=claim)


def apply_owner_move(walk: SerialWalk, step: ProofStep, label: str, device_id: str,
                     serial: int) -> SerialWalk:
    """Return the walk after a transfer, retire or export step (DESIGN §2, §3, §10).

    Raises
    ------
    ProofError
        If the signer is not the current owner, the step names another bundle, or the
        amount is not in ``(0, e - s]``.
    """
    body = step.tx.body
    assert isinstance(body, (Transfer, Retire, Export))
    if step.tx.signer != walk.owner:
        raise ProofError("the signer does not own the bundle holding the certificate",
                         step=f"{label}: owner", signer=step.tx.signer)
    _validate_names_bundle(walk, body.bundle_id, label, device_id)
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
    if isinstance(body, Export):
        return replace(moved, export=ExportClaim(body.destination_registry,
                                                 body.destination_account, height))
    claim = RetirementClaim(body.beneficiary, body.consumption_start, body.consumption_end,
                            body.purpose, body.country, height)
    return replace(moved, retirement=claim)


def apply_move(walk: SerialWalk, step: ProofStep, label: str, device_id: str, serial: int,
               device: DeviceInfo) -> SerialWalk:
    """Return the walk after one move step (transfer, retire, export or withdraw).

    Raises
    ------
    ProofError
        If a step follows the end of the certificate (``<label>: after retirement``,
        ``after export``, ``after withdrawal``), or from `apply_owner_move` and
        `apply_withdrawal`.
    """
    ended_by = walk.ended_by
    # A retired, exported or withdrawn certificate is final: nothing may move it after.
    if ended_by is not None:
        raise ProofError(f"no step may follow the {ended_by}", step=f"{label}: after {ended_by}")
    if isinstance(step.tx.body, Withdraw):
        return apply_withdrawal(walk, step, label, device_id, device)
    return apply_owner_move(walk, step, label, device_id, serial)


def walk_serial(proof: ProvenanceProof, issuance: Issuance) -> SerialWalk:
    """Walk `proof.serial` from the root bundle through every move step.

    Parameters
    ----------
    proof:
        A proof whose steps, commits and root bundle were already verified, and whose
        steps after the issuing one are moves (`validate_step_kinds`).
    issuance:
        What the root steps established: the device, the issuing step, the account that
        received the issued bundle.

    Returns
    -------
    SerialWalk
        The final range, owner history and final claim (retirement, export, withdrawal).

    Raises
    ------
    ProofError
        From `apply_move`, naming the failing step.
    """
    record = proof.root_bundle.record
    issuing_step = proof.steps[issuance.step_number - 1]
    walk = SerialWalk(record.serial_start, record.serial_end, issuance.owner,
                      (OwnerChange(issuance.owner, issuing_step.header.height),), None)
    moves = proof.steps[issuance.step_number:]
    for number, step in enumerate(moves, issuance.step_number + 1):
        walk = apply_move(walk, step, step_label(number, step), proof.device_id, proof.serial,
                          issuance.device)
    return walk

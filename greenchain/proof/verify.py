"""Offline verification of provenance proofs against genesis alone (DESIGN §8, §10).

Checks run in a fixed order and stop at the first failure, raising `ProofError` whose
`step` names it ("step 3 (transfer): commit", "root bundle: state proof"):

1. decoding (strict canonical msgpack, format tag, digest) and the chain id;
2. the validator-set changes (`greenchain.proof.valsets`), replayed in order from the
   genesis set: each one's signature, inclusion, commit by the set of its height and
   the ledger's rules; every later commit is checked against the set of its own height;
3. the kinds of the steps: the root steps (register_device and attest, or, for
   certificates imported from another registry, import alone), then moves only:
   transfer, retire, export, withdraw;
4. for each step (`greenchain.proof.steps`): the transaction signature (DESIGN §4
   policy), its RFC 6962 inclusion in the header's tx_root, a commit quorum over the
   header (DESIGN §6), and chain order;
5. semantics: the root steps (`greenchain.proof.roots`): the device was registered by a
   genesis issuing body and the attestation signed by its attestation key, or the import
   was signed by a genesis issuing body onto the proof's ``ext:`` device; the root bundle
   record is in the issuing block's state_root and was issued by that step; the serial
   moves through each transfer, retirement and export by the split rule of DESIGN §2 and
   each withdrawal by the certificate's issuing body, and nothing follows a retirement,
   an export or a withdrawal (`greenchain.proof.walk`).

What a proof cannot show: that nothing happened after its last step (a status proof
against a later state_root does that, DESIGN §8), nor that its list of validator-set
changes is complete (headers do not commit to the set; see `verify_valset_changes`).
"""

from __future__ import annotations

from greenchain.codec import encode
from greenchain.crypto.hashing import sha256
from greenchain.crypto.smt import verify_smt_proof
from greenchain.errors import ProofError
from greenchain.ledger.app_hash import smt_key
from greenchain.ledger.view import bundle_key
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.fields import to_fields
from greenchain.model.genesis import Genesis
from greenchain.proof.format import ProofStep, ProvenanceProof, decode_proof
from greenchain.proof.report import ProvenanceReport, StepRecord
from greenchain.proof.roots import (
    Issuance,
    root_kinds,
    validate_attestation,
    validate_import,
    validate_issuance,
    validate_registration,
)
from greenchain.proof.steps import (
    compute_audit_root,
    leaf_order_key,
    step_label,
    validate_commit,
    validate_inclusion,
    validate_order,
    validate_tx_signature,
)
from greenchain.proof.valsets import ValidatorHistory, verify_valset_changes
from greenchain.proof.walk import walk_serial

__all__ = [  # the step checks, root checks and set replay live in `steps`, `roots`, `valsets`
    "ValidatorHistory",
    "compute_audit_root",
    "leaf_order_key",
    "validate_attestation",
    "validate_import",
    "validate_registration",
    "validate_root_bundle",
    "validate_step_kinds",
    "verify_committed_steps",
    "verify_provenance",
    "verify_valset_changes",
]

MOVE_KINDS = ("transfer", "retire", "export", "withdraw")
"""Step kinds allowed after the root steps."""


# --- committed steps ------------------------------------------------------------------
def verify_committed_steps(proof: ProvenanceProof, genesis: Genesis,
                           history: ValidatorHistory | None = None) -> tuple[StepRecord, ...]:
    """Run the per-step checks of every step, in order (signature, inclusion, commit, order).

    Each commit is checked against the validator set of its own height, from `history`
    (by default replayed from `proof.valset_changes` with `verify_valset_changes`).

    Returns
    -------
    tuple[StepRecord, ...]
        One record per step with the validators that committed it.

    Raises
    ------
    ProofError
    """
    records: list[StepRecord] = []
    previous: ProofStep | None = None
    names = {party.pubkey: party.name for party in genesis.validators}
    sets = verify_valset_changes(proof, genesis) if history is None else history
    for number, step in enumerate(proof.steps, 1):
        label = step_label(number, step)
        validators = sets.at(step.header.height)
        validate_tx_signature(label, step, genesis.chain_id)
        validate_inclusion(label, step)
        validate_commit(label, step.header, step.commit, genesis.chain_id, validators)
        validate_order(label, step, previous)
        signers = tuple(entry.validator for entry in step.commit.signatures)
        records.append(StepRecord(step.tx.type, step.tx.tx_id, step.header.height,
                                  step.header.timestamp_ms, step.commit.block_hash, signers,
                                  tuple(names.get(key, "") for key in signers)))
        previous = step
    return tuple(records)


# --- structure and semantics ----------------------------------------------------------
def validate_step_kinds(proof: ProvenanceProof) -> None:
    """Check the shape of the history: the root steps (`root_kinds`), then moves only.

    Raises
    ------
    ProofError
    """
    roots = root_kinds(proof)
    if len(proof.steps) < len(roots):
        raise ProofError(f"a provenance proof needs at least the {' and '.join(roots)} "
                         "steps", step="steps", count=len(proof.steps))
    expected = list(roots) + [""] * (len(proof.steps) - len(roots))
    for number, (step, kind) in enumerate(zip(proof.steps, expected, strict=True), 1):
        if kind and step.tx.type != kind:
            raise ProofError(f"expected a {kind} transaction",
                             step=f"{step_label(number, step)}: kind")
        if not kind and step.tx.type not in MOVE_KINDS:
            raise ProofError("expected a transfer, retire, export or withdraw transaction",
                             step=f"{step_label(number, step)}: kind")


def validate_root_bundle(proof: ProvenanceProof, issuance: Issuance) -> None:
    """Check the root bundle record: in the issuing block's state, issued by that step.

    The record binds the serial range the issuing attest or import received (DESIGN §2):
    its serial_start is not in the transaction. It also binds the certificate's issuing
    body, the only key that may withdraw it.

    Raises
    ------
    ProofError
    """
    record, issuing = proof.root_bundle.record, proof.steps[issuance.step_number - 1]
    value_hash = sha256(encode(to_fields(record)))
    key = smt_key(bundle_key(record.bundle_id))
    if not verify_smt_proof(issuing.header.state_root, key, value_hash,
                            proof.root_bundle.state_proof):
        raise ProofError(f"the root bundle record is not in the state_root of the "
                         f"{issuing.tx.type} block", step="root bundle: state proof")
    issued = (record.device_id, record.period_start, record.period_end, record.parent,
              record.issuance_tx, record.issuance_height, record.quantity_wh,
              record.issuing_body)
    expected = (proof.device_id, issuance.period_start, issuance.period_end, b"",
                issuing.tx.tx_id, issuing.header.height, issuance.quantity_wh,
                issuance.device.issuing_body)
    if issued != expected:
        raise ProofError(f"the root bundle was not issued by the {issuing.tx.type} in step "
                         f"{issuance.step_number}", step="root bundle: record")
    if record.bundle_id != compute_bundle_id(record.device_id, record.serial_start,
                                             record.serial_end):
        raise ProofError("the root bundle id does not name its serial range",
                         step="root bundle: record")
    if not record.serial_start <= proof.serial < record.serial_end:
        raise ProofError(f"serial {proof.serial} is not in the root bundle "
                         f"[{record.serial_start}, {record.serial_end})",
                         step="root bundle: serial")


def verify_provenance(proof: bytes | ProvenanceProof, genesis: Genesis) -> ProvenanceReport:
    """Verify a provenance proof offline, with genesis alone (DESIGN §8).

    Parameters
    ----------
    proof:
        The proof file bytes (canonical msgpack, see `greenchain.proof.format`) or an
        already decoded `ProvenanceProof` (then the file digest is not involved).
    genesis:
        The chain's genesis: chain id, validators, issuing bodies.

    Returns
    -------
    ProvenanceReport
        The plant (or the import's origin), the production period, the serial and final
        Wh range, the owners in turn, the retirement claim, export or withdrawal that
        ended it, and the validators that committed each step.

    Raises
    ------
    DecodeError
        If the bytes are not a canonical proof file (Malformed, NonCanonical, TooLarge).
    ProofError
        On the first failing check; its `step` attribute names it.
    """
    parsed = proof if isinstance(proof, ProvenanceProof) else decode_proof(proof)
    if parsed.chain_id != genesis.chain_id:
        raise ProofError(f"proof is for chain {parsed.chain_id!r}, genesis is for "
                         f"{genesis.chain_id!r}", step="chain id")
    history = verify_valset_changes(parsed, genesis)
    validate_step_kinds(parsed)
    records = verify_committed_steps(parsed, genesis, history)
    issuance = validate_issuance(parsed, genesis)
    validate_root_bundle(parsed, issuance)
    walk = walk_serial(parsed, issuance)
    return ProvenanceReport(genesis.chain_id, issuance.device, issuance.period_start,
                            issuance.period_end, parsed.serial, walk.start, walk.end,
                            walk.owners, walk.retirement, records, walk.export,
                            walk.withdrawal, issuance.origin)

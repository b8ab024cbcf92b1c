"""The root steps of a provenance proof: where its certificates were issued (DESIGN §8, §10).

Certificates of a registered device are issued by an attestation: the proof starts with
the device's register_device (signed by an issuing body of genesis) and the attest
(signed by the device's attestation key). Certificates imported from another registry
live on a synthetic device ``ext:<registry>:<device>`` that is never registered and never
attests: the proof starts with the import alone, signed by an issuing body of genesis.
Either way the checks give an `Issuance`: what the root bundle record must match and
whom the serial walk starts with.
"""

from __future__ import annotations

from dataclasses import dataclass

from greenchain.errors import ProofError
from greenchain.model.certificates import compute_ext_device_id
from greenchain.model.genesis import Genesis, IssuingBody
from greenchain.model.lifecycle_txs import Import
from greenchain.model.transactions import Attest, RegisterDevice
from greenchain.proof.format import ProofStep, ProvenanceProof
from greenchain.proof.report import DeviceInfo, ImportOrigin
from greenchain.proof.steps import step_label

ATTESTED_ROOT = ("register_device", "attest")
"""Root step kinds of certificates issued on this chain by an attestation."""
IMPORTED_ROOT = ("import",)
"""Root step kind of certificates imported from another registry (DESIGN §10)."""


@dataclass(frozen=True, slots=True)
class Issuance:
    """What the verified root steps establish about the issued (root) bundle."""

    device: DeviceInfo
    """The device (registered, or the synthetic ``ext:`` device of an import)."""
    step_number: int
    """1-based number of the issuing step (attest: 2, import: 1); moves follow it."""
    owner: bytes
    """Account that received the issued bundle."""
    period_start: int
    """Production period start, UTC seconds."""
    period_end: int
    """Production period end, UTC seconds (exclusive)."""
    quantity_wh: int
    """Wh issued: the attested energy, or the size of the imported external range."""
    origin: ImportOrigin | None
    """The import's source, or None for attested certificates."""


def root_kinds(proof: ProvenanceProof) -> tuple[str, ...]:
    """Return the root step kinds `proof` must start with (`IMPORTED_ROOT` or `ATTESTED_ROOT`)."""
    if proof.steps and proof.steps[0].tx.type == "import":
        return IMPORTED_ROOT
    return ATTESTED_ROOT


def validate_registration(proof: ProvenanceProof, genesis: Genesis) -> DeviceInfo:
    """Check step 1: the device was registered by an issuing body listed in genesis.

    Returns
    -------
    DeviceInfo
        The device as registered.

    Raises
    ------
    ProofError
    """
    step = proof.steps[0]
    body = step.tx.body
    assert isinstance(body, RegisterDevice)  # validate_step_kinds ran first
    label = step_label(1, step)
    issuer = _root_issuer(genesis, step, label, "the device was registered")
    if body.device_id != proof.device_id:
        raise ProofError(f"registers device {body.device_id!r}, not {proof.device_id!r}",
                         step=f"{label}: device id")
    return DeviceInfo(body.device_id, body.device_name, body.capacity_w, body.country,
                      body.latitude_udeg, body.longitude_udeg, body.energy_source,
                      body.technology, body.production_start_s, issuer.pubkey, issuer.name)


def validate_attestation(proof: ProvenanceProof) -> Attest:
    """Check step 2: an attestation of this device signed by its attestation key.

    Raises
    ------
    ProofError
    """
    registration, step = proof.steps[0].tx.body, proof.steps[1]
    body = step.tx.body
    assert isinstance(body, Attest) and isinstance(registration, RegisterDevice)
    label = step_label(2, step)
    if body.device_id != proof.device_id:
        raise ProofError(f"attests device {body.device_id!r}, not {proof.device_id!r}",
                         step=f"{label}: device id")
    if step.tx.signer != registration.attestation_key:
        raise ProofError("the attestation is not signed by the device's attestation key",
                         step=f"{label}: attestation key", signer=step.tx.signer)
    return body


def validate_attested_root(proof: ProvenanceProof, genesis: Genesis) -> Issuance:
    """Check steps 1 and 2 (register_device, attest) and return what they issue.

    Raises
    ------
    ProofError
        From `validate_registration` or `validate_attestation`.
    """
    device = validate_registration(proof, genesis)
    attest = validate_attestation(proof)
    registration = proof.steps[0].tx.body
    assert isinstance(registration, RegisterDevice)
    return Issuance(device, 2, registration.owner_account, attest.period_start,
                    attest.period_end, attest.energy_wh, None)


def validate_import(proof: ProvenanceProof, genesis: Genesis) -> Issuance:
    """Check step 1 of an imported certificate's proof and return what it issues.

    The import must be signed by an issuing body listed in genesis (DESIGN §3) and land
    on the proof's device, ``ext:<source registry>:<source device>`` (DESIGN §2).

    Returns
    -------
    Issuance
        The synthetic device as the import creates it (capacity 0, no location), the
        import's owner account, period and external range.

    Raises
    ------
    ProofError
    """
    step = proof.steps[0]
    body = step.tx.body
    assert isinstance(body, Import)  # validate_step_kinds ran first
    label = step_label(1, step)
    issuer = _root_issuer(genesis, step, label, "the certificates were imported")
    device_id = compute_ext_device_id(body.source_registry, body.source_device_id)
    if device_id != proof.device_id:
        raise ProofError(f"imports onto device {device_id!r}, not {proof.device_id!r}",
                         step=f"{label}: device id")
    # The same name and attributes the ledger gives the synthetic device it creates.
    device = DeviceInfo(device_id, f"{body.source_device_id} ({body.source_registry})", 0,
                        body.country, 0, 0, body.energy_source, body.technology, 0,
                        issuer.pubkey, issuer.name)
    origin = ImportOrigin(body.source_registry, body.source_device_id, body.ext_start,
                          body.ext_end, step.header.height)
    return Issuance(device, 1, body.owner_account, body.period_start, body.period_end,
                    body.ext_end - body.ext_start, origin)


def validate_issuance(proof: ProvenanceProof, genesis: Genesis) -> Issuance:
    """Check the root steps of `proof`, whichever kind they are (see `root_kinds`).

    Raises
    ------
    ProofError
        Naming the failing root step.
    """
    if root_kinds(proof) == IMPORTED_ROOT:
        return validate_import(proof, genesis)
    return validate_attested_root(proof, genesis)


def _root_issuer(genesis: Genesis, step: ProofStep, label: str, what: str) -> IssuingBody:
    # The root step (registration or import) must be signed by an issuing body of genesis.
    issuer = genesis.issuing_body(step.tx.signer)
    if issuer is None:
        raise ProofError(f"{what} by a key that is not an issuing body in genesis",
                         step=f"{label}: issuing body", signer=step.tx.signer)
    return issuer

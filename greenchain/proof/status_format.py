"""The status proof file (`*.gcproof`, second kind): data types, msgpack, and its report.

A status proof answers "what is certificate ``<device_id>:<serial>`` now?" with the state
records behind the answer, each proven against the state_root of one committed header
(DESIGN §5, §8). File layout, one canonical msgpack array (DESIGN §4)::

    [STATUS_FORMAT_TAG, body, digest]
    body   = [chain_id, device_id, serial, valset_changes, header, commit,
              bundle, device, owner]
    change = [tx_envelope, audit_path, header, commit]     as in the provenance format
    entry  = [record_bytes, smt_proof]                     bundle, device, owner account

`record_bytes` are the exact bytes the store holds (canonical msgpack of the record),
whose SHA-256 is the value hash in the authenticated map: the verifier hashes what it
reads, so a record with fields added by a later model version still proves itself.
`digest` is SHA-256 of ``encode([STATUS_FORMAT_TAG, body])``; it catches accidental
damage, while the commit, the map proofs and the checks of `greenchain.proof.status`
bind every field but `serial`, which any serial of the same leaf bundle may replace
without making the proof false.

`StatusReport` (end of the module) is what a verified status proof establishes, for
people and for ``--json``; it renders records generically, so new fields show up.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from greenchain.codec import decode, encode
from greenchain.crypto.smt import SmtProof, smt_proof_from_fields
from greenchain.errors import Malformed, ProofError
from greenchain.model.blocks import Commit, Header
from greenchain.model.certificates import ACTIVE, EXPIRED, Account, Bundle, Device, Retirement
from greenchain.model.fields import from_fields, to_fields
from greenchain.proof.format import (
    MAX_PROOF_BYTES,
    ProofStep,
    compute_tagged_digest,
    decode_array,
    decode_step,
    encode_tagged,
)
from greenchain.proof.report import iso_utc, iso_utc_ms

STATUS_FORMAT_TAG = "greenchain/status/v1"
"""First field of every status proof file; names the layout and its version."""
STATUS_FILE_PREFIX = b"\x93" + encode(STATUS_FORMAT_TAG)
"""How every status proof file starts (an array of 3, then the tag): canonical encoding
leaves no other spelling, so a reader can tell the kinds of proof files apart."""


@dataclass(frozen=True, slots=True)
class StateEntry:
    """One certificate-state record with its authenticated-map proof (DESIGN §5)."""

    record: bytes
    """The record exactly as stored (canonical msgpack array of its fields)."""
    state_proof: SmtProof
    """Inclusion proof of ``SHA-256(record)`` under the record's map key."""


@dataclass(frozen=True, slots=True)
class StatusProof:
    """The status of certificate ``<device_id>:<serial>`` at one committed height (DESIGN §8)."""

    chain_id: str
    """Chain the proof is about; must equal genesis."""
    device_id: str
    """Producing device."""
    serial: int
    """The certificate's serial (Wh number within the device's serial space)."""
    valset_changes: tuple[ProofStep, ...]
    """Every committed update_validators since genesis, in chain order (DESIGN §8)."""
    header: Header
    """The committed header whose state_root the entries are proven against."""
    commit: Commit
    """A quorum of precommits for that header (the stored commit of its height)."""
    bundle: StateEntry
    """The leaf bundle holding the serial."""
    device: StateEntry
    """The producing device (the plant)."""
    owner: StateEntry
    """The account owning the bundle."""

    @property
    def certificate_id(self) -> str:
        """The global certificate id ``<device_id>:<serial>``."""
        return f"{self.device_id}:{self.serial}"


# --- encoding -------------------------------------------------------------------------
def _change_fields(step: ProofStep) -> list[Any]:
    path = [[node.is_right, node.sibling] for node in step.path]
    return [step.tx.raw, path, to_fields(step.header), to_fields(step.commit)]


def _entry_fields(entry: StateEntry) -> list[Any]:
    return [entry.record, entry.state_proof.to_fields()]


def status_body_fields(proof: StatusProof) -> list[Any]:
    """Return the canonical array of the proof body (everything but tag and digest)."""
    return [
        proof.chain_id,
        proof.device_id,
        proof.serial,
        [_change_fields(step) for step in proof.valset_changes],
        to_fields(proof.header),
        to_fields(proof.commit),
        _entry_fields(proof.bundle),
        _entry_fields(proof.device),
        _entry_fields(proof.owner),
    ]


def compute_status_digest(body_fields: Any) -> bytes:
    """Return SHA-256 of ``encode([STATUS_FORMAT_TAG, body_fields])`` (32 bytes)."""
    return compute_tagged_digest(STATUS_FORMAT_TAG, body_fields)


def encode_status_proof(proof: StatusProof) -> bytes:
    """Return the canonical file bytes ``[STATUS_FORMAT_TAG, body, digest]``.

    Raises
    ------
    Malformed
        If a field cannot be encoded canonically.
    """
    return encode_tagged(STATUS_FORMAT_TAG, status_body_fields(proof))


def is_status_proof_file(data: bytes) -> bool:
    """Return True if `data` starts as a status proof file does (the tag; nothing checked)."""
    return data.startswith(STATUS_FILE_PREFIX)


# --- strict decoding ------------------------------------------------------------------
def _entry(value: Any, what: str) -> StateEntry:
    record, state_proof = decode_array(value, f"{what} entry", 2)
    if not isinstance(record, bytes):
        raise Malformed(f"{what} record must be bytes")
    return StateEntry(record, smt_proof_from_fields(state_proof))


def status_from_body_fields(body: Any) -> StatusProof:
    """Build a `StatusProof` from its decoded body array (shape checked strictly).

    The records stay bytes here: `greenchain.proof.status` reads them once it has hashed
    them, so that a damaged record is reported by the step that proves it.

    Raises
    ------
    DecodeError
        A `Malformed`, `NonCanonical` or `TooLarge` on any shape or type error.
    """
    fields = decode_array(body, "status proof body", 9)
    chain_id, device_id, serial, changes, header, commit = fields[:6]
    if not isinstance(chain_id, str) or not isinstance(device_id, str):
        raise Malformed("proof chain id and device id must be strings")
    if type(serial) is not int or serial < 0:
        raise Malformed("proof serial must be a non-negative integer")
    return StatusProof(
        chain_id, device_id, serial,
        tuple(decode_step(step) for step in decode_array(changes, "validator-set changes")),
        from_fields(Header, header), from_fields(Commit, commit),
        _entry(fields[6], "bundle"), _entry(fields[7], "device"), _entry(fields[8], "owner"),
    )


def decode_status_proof(data: bytes) -> StatusProof:
    """Decode a status proof file strictly: canonical msgpack, known tag, intact digest.

    Parameters
    ----------
    data:
        The file bytes, at most `MAX_PROOF_BYTES`.

    Returns
    -------
    StatusProof
        The parsed proof (nothing verified yet but its shape and digest).

    Raises
    ------
    DecodeError
        On bytes that are not canonical msgpack of the layout (`Malformed`,
        `NonCanonical`, `TooLarge`), another format tag included.
    ProofError
        With ``step = "decoding: digest"`` if the digest does not match the content.
    """
    tag, body, digest = decode_array(decode(data, max_bytes=MAX_PROOF_BYTES), "proof file", 3)
    if tag != STATUS_FORMAT_TAG:
        raise Malformed(f"not a status proof: format tag {tag!r}, "
                        f"expected {STATUS_FORMAT_TAG!r}")
    if not isinstance(digest, bytes) or len(digest) != 32:
        raise Malformed("proof digest must be 32 bytes")
    if compute_status_digest(body) != digest:
        raise ProofError("the proof file is damaged: its digest does not match its content",
                         step="decoding: digest")
    return status_from_body_fields(body)


# --- what a verified status proof establishes ------------------------------------------
def record_json(record: Any) -> dict[str, Any]:
    """Return every field of a state record as JSON: bytes as hex, nested records as dicts.

    Generic over the record's dataclass, so fields a later model adds show up unchanged.
    """
    return {field.name: _json_value(getattr(record, field.name))
            for field in dataclasses.fields(record)}


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return record_json(value)
    return value


@dataclass(frozen=True, slots=True)
class StatusReport:
    """The verified status of certificate ``<device_id>:<serial>`` at one height (§8)."""

    chain_id: str
    """Chain id from genesis."""
    serial: int
    """The certificate's serial."""
    height: int
    """Height of the proven header: the status is as of this block."""
    time_ms: int
    """Its block time, UTC ms (the ledger's clock, DESIGN §5)."""
    block_hash: bytes
    """Hash of the proven header."""
    validators: tuple[bytes, ...]
    """Keys of the validators whose precommits in the proof commit the header."""
    validator_names: tuple[str, ...]
    """Their names in genesis ("" for one that joined later), in the same order."""
    bundle: Bundle
    """The leaf bundle holding the serial: range, period, owner, stored status, claim."""
    status: str
    """The status as of `time_ms`: the stored one, or ``expired`` (derived, DESIGN §2)."""
    expires_at_s: int | None
    """The bundle's expiry date, UTC seconds, or None if genesis sets no expiry."""
    device: Device
    """The plant, as the state holds it."""
    issuing_body_name: str
    """Name in genesis of the device's issuing body ("" if genesis does not list it)."""
    owner: Account
    """The owner's account: key and name."""

    @property
    def certificate_id(self) -> str:
        """The global certificate id ``<device_id>:<serial>``."""
        return f"{self.bundle.device_id}:{self.serial}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: bytes as hex, times as integers plus ISO 8601 strings."""
        claim = self.bundle.retirement
        return {
            "kind": "status",
            "certificate": self.certificate_id,
            "chain_id": self.chain_id,
            "status": self.status,
            "as_of": {"height": self.height, "time_ms": self.time_ms,
                      "time": iso_utc_ms(self.time_ms), "block_hash": self.block_hash.hex(),
                      "validators": [key.hex() for key in self.validators],
                      "validator_names": list(self.validator_names)},
            "expires_at": self.expires_at_s,
            "expires_at_iso": None if self.expires_at_s is None else iso_utc(self.expires_at_s),
            "owner": {"account": self.owner.key.hex(), "name": self.owner.name},
            "retirement": None if claim is None else record_json(claim),
            "bundle": record_json(self.bundle),
            "device": record_json(self.device) | {"issuing_body_name": self.issuing_body_name},
            "owner_account": record_json(self.owner),
        }

    def to_json(self) -> str:
        """Return `to_dict` as indented JSON text with sorted keys (for ``--json``)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def render_text(self) -> str:
        """Return a human-readable summary: status, owner, claim, plant, validators."""
        b, d = self.bundle, self.device
        committed = ", ".join(name or key.hex()[:16] for name, key in
                              zip(self.validator_names, self.validators, strict=True))
        lines = [
            f"Certificate {self.certificate_id} on chain {self.chain_id}: status proof verified",
            f"Status: {self.status} (stored {b.status!r}) as of height {self.height}, "
            f"{iso_utc_ms(self.time_ms)}",
            _expiry_line(self.expires_at_s, self.status),
            f"Bundle {b.bundle_id.hex()}: serials [{b.serial_start}, {b.serial_end}) = "
            f"{b.serial_end - b.serial_start} Wh, produced {iso_utc(b.period_start)} to "
            f"{iso_utc(b.period_end)}",
            f"Owner: {self.owner.name!r} ({self.owner.key.hex()})",
            _claim_line(b.retirement),
            f"Plant: {d.device_id} ({d.device_name}), {d.country}, "
            f"lat {d.latitude_udeg / 1e6:.6f} lon {d.longitude_udeg / 1e6:.6f}, "
            f"capacity {d.capacity_w} W, energy source {d.energy_source}, "
            f"technology {d.technology}",
            f"  registered by {self.issuing_body_name or 'an issuing body not in genesis'} "
            f"({d.issuing_body.hex()})",
            f"Committed by {committed}",
        ]
        return "\n".join(lines) + "\n"


def _expiry_line(expires_at_s: int | None, status: str) -> str:
    if expires_at_s is None:
        return "Expiry: none (genesis sets no expiry)"
    # Only an active certificate expires; the other statuses are final.
    note = {EXPIRED: "reached", ACTIVE: "not reached"}.get(status, f"{status} is final")
    return f"Expiry: {iso_utc(expires_at_s)} ({note})"


def _claim_line(claim: Retirement | None) -> str:
    if claim is None:
        return "Retirement: none"
    return (f"Retirement: for {claim.beneficiary!r}, consumption "
            f"{iso_utc(claim.consumption_start)} to {iso_utc(claim.consumption_end)}, "
            f"purpose {claim.purpose!r}, country {claim.country}, at height {claim.height}")

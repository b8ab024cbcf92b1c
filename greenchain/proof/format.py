"""The provenance proof file (`*.gcproof`): data types and canonical msgpack (DESIGN §8).

File layout, one canonical msgpack array (DESIGN §4)::

    [FORMAT_TAG, body, digest]
    body   = [chain_id, device_id, serial, valset_changes, steps, root_bundle]
    steps  = register_device, attest | import; then transfer | retire | export | withdraw
    step   = [tx_envelope, audit_path, header, commit]
    audit_path = [[is_right, sibling], ...]          leaf level first
    root_bundle = [bundle_record, smt_proof]

`digest` is SHA-256 of ``encode([FORMAT_TAG, body])``. It catches accidental damage
anywhere in the file; the real protection is that every field of the body is bound to the
chain (signatures, Merkle paths, commits, the state root), except the requested `serial`,
which any serial of the final bundle may replace without making the proof false.

An audit path carries, with each RFC 6962 sibling, the side the running hash sits on
(``is_right = 1``: the sibling is the left input). The verifier then needs neither the
leaf index nor the tree size, which a header does not commit to and which RFC 6962 paths
do not bind on their own (index 0 of 3 leaves has the same path as index 0 of 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from greenchain.codec import decode, encode
from greenchain.crypto.hashing import sha256
from greenchain.crypto.smt import SmtProof, smt_proof_from_fields
from greenchain.errors import Malformed, ProofError, UnknownTxType
from greenchain.model.blocks import Commit, Header
from greenchain.model.certificates import Bundle
from greenchain.model.fields import from_fields, to_fields
from greenchain.model.transactions import Tx, decode_tx
from greenchain.params import MAX_BODY_BYTES

FORMAT_TAG = "greenchain/provenance/v1"
"""First field of every proof file; names the layout and its version."""
MAX_PROOF_BYTES = MAX_BODY_BYTES
"""Largest proof file accepted, bytes (the API serves proofs in one response)."""
MAX_AUDIT_PATH = 64
"""Longest accepted audit path (a block holds at most MAX_BLOCK_TXS = 5,000 leaves)."""


@dataclass(frozen=True, slots=True)
class AuditNode:
    """One sibling of an RFC 6962 audit path, with the side of the running hash."""

    is_right: int
    """1 if the running hash is the right input (``node(sibling, running)``), else 0."""
    sibling: bytes
    """The sibling subtree hash, 32 bytes."""


@dataclass(frozen=True, slots=True)
class ProofStep:
    """One committed transaction with what makes it final (DESIGN §8)."""

    tx: Tx
    """The transaction; its canonical envelope `tx.raw` is the Merkle leaf (DESIGN §4)."""
    path: tuple[AuditNode, ...]
    """Audit path from the leaf to `header.tx_root`, leaf level first."""
    header: Header
    """Header of the block holding the transaction."""
    commit: Commit
    """A quorum of precommits for that header (any valid quorum, DESIGN §5)."""


@dataclass(frozen=True, slots=True)
class RootBundleProof:
    """The issued (root) bundle record, proven against its issuing block's state_root."""

    record: Bundle
    """The bundle record as stored after the attest or import block (binds serial_start)."""
    state_proof: SmtProof
    """Authenticated-map inclusion proof of the record (DESIGN §5)."""


@dataclass(frozen=True, slots=True)
class ProvenanceProof:
    """Provenance of certificate ``<device_id>:<serial>`` (DESIGN §8).

    Steps in chain order: the device's register_device and the attest that issued the
    root bundle (for an imported certificate of an ``ext:`` device: the import alone),
    then every transfer, retire, export and withdraw along the bundle lineage down to the
    leaf (DESIGN §8, §10).
    """

    chain_id: str
    """Chain the proof is about; must equal genesis."""
    device_id: str
    """Producing device."""
    serial: int
    """The certificate's serial (Wh number within the device's serial space)."""
    valset_changes: tuple[ProofStep, ...]
    """Every committed update_validators since genesis, in chain order (DESIGN §8)."""
    steps: tuple[ProofStep, ...]
    """Root steps (register and attest, or import), then the moves, in chain order."""
    root_bundle: RootBundleProof
    """The root bundle record with its state proof."""


# --- encoding -------------------------------------------------------------------------
def _step_fields(step: ProofStep) -> list[Any]:
    path = [[node.is_right, node.sibling] for node in step.path]
    return [step.tx.raw, path, to_fields(step.header), to_fields(step.commit)]


def proof_body_fields(proof: ProvenanceProof) -> list[Any]:
    """Return the canonical array of the proof body (everything but tag and digest)."""
    root = [to_fields(proof.root_bundle.record), proof.root_bundle.state_proof.to_fields()]
    return [
        proof.chain_id,
        proof.device_id,
        proof.serial,
        [_step_fields(step) for step in proof.valset_changes],
        [_step_fields(step) for step in proof.steps],
        root,
    ]


def compute_tagged_digest(tag: str, body_fields: Any) -> bytes:
    """Return SHA-256 of ``encode([tag, body_fields])`` (32 bytes): a proof file's digest."""
    return sha256(encode([tag, body_fields]))


def encode_tagged(tag: str, body_fields: Any) -> bytes:
    """Return the canonical proof file bytes ``[tag, body, digest]``.

    Raises
    ------
    Malformed
        If a field cannot be encoded canonically.
    """
    return encode([tag, body_fields, compute_tagged_digest(tag, body_fields)])


def compute_proof_digest(body_fields: Any) -> bytes:
    """Return SHA-256 of ``encode([FORMAT_TAG, body_fields])`` (32 bytes)."""
    return compute_tagged_digest(FORMAT_TAG, body_fields)


def encode_proof(proof: ProvenanceProof) -> bytes:
    """Return the canonical proof file bytes ``[FORMAT_TAG, body, digest]``.

    Raises
    ------
    Malformed
        If a field cannot be encoded canonically.
    """
    return encode_tagged(FORMAT_TAG, proof_body_fields(proof))


# --- strict decoding ------------------------------------------------------------------
def decode_array(value: Any, what: str, length: int | None = None) -> list[Any]:
    """Return `value` if it is an array (of `length` items when given).

    Raises
    ------
    Malformed
        Otherwise.
    """
    if not isinstance(value, list) or (length is not None and len(value) != length):
        size = "" if length is None else f" of {length} fields"
        raise Malformed(f"{what} must be an array{size}")
    return value


def _audit_node(value: Any) -> AuditNode:
    is_right, sibling = decode_array(value, "audit path node", 2)
    if is_right not in (0, 1) or isinstance(is_right, bool):
        raise Malformed("audit path side must be 0 or 1")
    if not isinstance(sibling, bytes) or len(sibling) != 32:
        raise Malformed("audit path sibling must be 32 bytes")
    return AuditNode(is_right, sibling)


def decode_step(value: Any) -> ProofStep:
    """Decode one ``[tx_envelope, audit_path, header, commit]`` strictly.

    Raises
    ------
    Malformed
        On any shape or type error.
    """
    raw, path, header, commit = decode_array(value, "proof step", 4)
    if not isinstance(raw, bytes):
        raise Malformed("proof step transaction must be bytes")
    nodes = decode_array(path, "audit path")
    if len(nodes) > MAX_AUDIT_PATH:
        raise Malformed("audit path is too long", length=len(nodes))
    try:
        tx = decode_tx(raw)
    except UnknownTxType as exc:
        # Inside a proof this is a damaged file, not a transaction to reject.
        raise Malformed(f"proof step holds {exc.message}") from exc
    return ProofStep(tx, tuple(_audit_node(node) for node in nodes),
                     from_fields(Header, header), from_fields(Commit, commit))


def _root_bundle(value: Any) -> RootBundleProof:
    record, state_proof = decode_array(value, "root bundle", 2)
    return RootBundleProof(from_fields(Bundle, record), smt_proof_from_fields(state_proof))


def proof_from_body_fields(body: Any) -> ProvenanceProof:
    """Build a `ProvenanceProof` from its decoded body array (shape checked strictly).

    Raises
    ------
    DecodeError
        A `Malformed`, `NonCanonical` or `TooLarge` on any shape or type error, in the
        body or in an embedded transaction envelope (an undefined type included).
    """
    chain_id, device_id, serial, valset, steps, root = decode_array(body, "proof body", 6)
    if not isinstance(chain_id, str) or not isinstance(device_id, str):
        raise Malformed("proof chain id and device id must be strings")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise Malformed("proof serial must be a non-negative integer")
    return ProvenanceProof(
        chain_id, device_id, serial,
        tuple(decode_step(step) for step in decode_array(valset, "validator-set changes")),
        tuple(decode_step(step) for step in decode_array(steps, "proof steps")),
        _root_bundle(root),
    )


def decode_proof(data: bytes) -> ProvenanceProof:
    """Decode a proof file strictly: canonical msgpack, known tag, intact digest.

    Parameters
    ----------
    data:
        The file bytes, at most `MAX_PROOF_BYTES`.

    Returns
    -------
    ProvenanceProof
        The parsed proof (nothing verified yet but its shape and digest).

    Raises
    ------
    DecodeError
        On bytes that are not canonical msgpack of the proof layout (`Malformed`,
        `NonCanonical`, `TooLarge`), an unknown format tag included.
    ProofError
        With ``step = "decoding: digest"`` if the digest does not match the content.
    """
    tag, body, digest = decode_array(decode(data, max_bytes=MAX_PROOF_BYTES), "proof file", 3)
    if tag != FORMAT_TAG:
        raise Malformed(f"not a provenance proof: format tag {tag!r}, expected {FORMAT_TAG!r}")
    if not isinstance(digest, bytes) or len(digest) != 32:
        raise Malformed("proof digest must be 32 bytes")
    if compute_proof_digest(body) != digest:
        raise ProofError("the proof file is damaged: its digest does not match its content",
                         step="decoding: digest")
    return proof_from_body_fields(body)


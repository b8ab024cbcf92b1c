"""Status proofs: a certificate's current state, proven against a committed header (DESIGN §8).

`build_status_proof` takes the node's tip: its header, the stored commit of that height,
every validator-set change since genesis, and three certificate-state records exactly as
stored (the leaf bundle holding the serial, its device, its owner's account), each with
an authenticated-map inclusion proof against the header's state_root (DESIGN §5).

`verify_status_proof` needs only the proof and genesis. Checks run in a fixed order and
stop at the first failure, raising `ProofError` whose `step` names it:

1. decoding (strict canonical msgpack, format tag, digest) and the chain id;
2. the validator-set changes, replayed from the genesis set (`greenchain.proof.valsets`);
3. ``header: commit``: a quorum of the set of the header's height precommitted it;
4. ``bundle``, ``device``, ``owner``: each record is read, then proven in the map under
   the key its own content names (``record``, ``state proof``); the bundle id names the
   serial range, the range holds the serial, the device is the certificate's, the bundle
   is a leaf (not ``split``); the device and account records are the ones the bundle names.

A status proof shows the state as of its header, no later, and not the history (a
provenance proof shows that). It costs the ledger nothing per block: building one only
reads the map nodes every block already writes, which are never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from greenchain.codec import decode, decode_trusted
from greenchain.crypto.hashing import sha256
from greenchain.crypto.smt import smt_prove, verify_smt_proof
from greenchain.errors import DecodeError, NotFound, ProofError, StoreCorrupt
from greenchain.ledger.app_hash import smt_key
from greenchain.ledger.view import SMT_NODE, account_key, bundle_key, device_key
from greenchain.model.blocks import Commit, Header
from greenchain.model.certificates import (
    SPLIT,
    Account,
    Bundle,
    Device,
    bundle_status_at,
    compute_bundle_id,
    compute_expiry_time_s,
)
from greenchain.model.fields import from_fields
from greenchain.model.genesis import Genesis
from greenchain.proof.build import prove_valset_changes
from greenchain.proof.format import ProofStep
from greenchain.proof.status_format import (
    StateEntry,
    StatusProof,
    StatusReport,
    decode_status_proof,
    encode_status_proof,
)
from greenchain.proof.steps import validate_commit
from greenchain.proof.valsets import ValidatorHistory, replay_valset_change
from greenchain.store.chain import ChainStore

R = TypeVar("R")


# --- building -------------------------------------------------------------------------
def prove_state_entry(store: ChainStore, state_root: bytes, state_key: bytes) -> StateEntry:
    """Return the stored record at `state_key` with its proof under `state_root`.

    Raises
    ------
    StoreCorrupt
        If the record or a map node is missing, or the map does not hold the record.
    """
    record = store.get(state_key)
    if record is None:
        raise StoreCorrupt("a certificate-state record is missing", state_key=state_key)
    key = smt_key(state_key)
    proof = smt_prove(lambda node: store.get(SMT_NODE + node), state_root, key)
    if proof.leaf_key != key or proof.leaf_value_hash != sha256(record):
        raise StoreCorrupt("the authenticated map does not hold the stored record",
                           state_key=state_key)
    return StateEntry(record, proof)


def tip_header(store: ChainStore) -> tuple[Header, Commit]:
    """Return the header of the node's tip and the stored commit of its height.

    Raises
    ------
    NotFound
        If the node has committed no block yet.
    StoreCorrupt
        If the tip's block or commit is missing or does not match the tip.
    """
    tip = store.tip()
    if tip is None:
        raise NotFound("the node has not committed any block yet")
    raw, commit = store.get_block_bytes(tip.height), store.get_commit(tip.height)
    if raw is None or commit is None:
        raise StoreCorrupt("the tip's block or commit is missing", height=tip.height)
    # Only the header is needed: the block's transactions are left undecoded.
    header = from_fields(Header, decode_trusted(raw)[0])
    if header.block_hash() != tip.block_hash or commit.block_hash != tip.block_hash:
        raise StoreCorrupt("the tip's block or commit does not match the tip",
                           height=tip.height)
    return header, commit


def assemble_status_proof(store: ChainStore, device_id: str, serial: int) -> StatusProof:
    """Collect the status proof of certificate ``<device_id>:<serial>`` at the tip (§8).

    Raises
    ------
    NotFound
        If no bundle holds the certificate, or no block is committed yet.
    StoreCorrupt
        If the store's records, map nodes or blocks are inconsistent.
    """
    # Serials are uint64 (DESIGN §2); anything else names no certificate.
    leaf = store.find_leaf_bundle(device_id, serial) if 0 <= serial < 2**64 else None
    if leaf is None:
        raise NotFound(f"certificate {device_id}:{serial} does not exist",
                       device_id=device_id, serial=serial)
    header, commit = tip_header(store)
    root = header.state_root
    return StatusProof(
        header.chain_id, device_id, serial, prove_valset_changes(store), header, commit,
        prove_state_entry(store, root, bundle_key(leaf.bundle_id)),
        prove_state_entry(store, root, device_key(leaf.device_id)),
        prove_state_entry(store, root, account_key(leaf.owner)),
    )


def build_status_proof(store: ChainStore, device_id: str, serial: int) -> bytes:
    """Return the status proof file of certificate ``<device_id>:<serial>`` (DESIGN §8).

    Parameters
    ----------
    store:
        A node's chain store (any KV backend); the proof is taken at its tip.
    device_id:
        The producing device.
    serial:
        The certificate's serial (Wh number).

    Returns
    -------
    bytes
        Canonical msgpack, see `greenchain.proof.status_format`.

    Raises
    ------
    NotFound
        If the certificate does not exist or no block is committed yet.
    StoreCorrupt
        If the store is inconsistent.
    """
    return encode_status_proof(assemble_status_proof(store, device_id, serial))


# --- verification ---------------------------------------------------------------------
def replay_valset_history(changes: Sequence[ProofStep], genesis: Genesis) -> ValidatorHistory:
    """Replay validator-set changes from the genesis set (`replay_valset_change`, §8).

    Raises
    ------
    ProofError
        With ``step = "validator-set change <n>: <check>"``.
    """
    history = ValidatorHistory(tuple(sorted(genesis.validator_keys)))
    for number, step in enumerate(changes, 1):
        history = replay_valset_change(history, number, step, genesis.chain_id)
    return history


def read_state_record(label: str, entry: StateEntry, cls: type[R]) -> R:
    """Read a proven record strictly (canonical msgpack of `cls`'s fields).

    Raises
    ------
    ProofError
        With ``step = "<label>: record"`` if the bytes are not such a record.
    """
    try:
        return from_fields(cls, decode(entry.record))
    except DecodeError as exc:
        raise ProofError(f"the {label} record cannot be read: {exc.message}",
                         step=f"{label}: record") from exc


def validate_state_entry(label: str, state_root: bytes, state_key: bytes,
                         entry: StateEntry) -> None:
    """Check that the map under `state_root` holds ``SHA-256(record)`` at `state_key`.

    Raises
    ------
    ProofError
        With ``step = "<label>: state proof"``.
    """
    if not verify_smt_proof(state_root, smt_key(state_key), sha256(entry.record),
                            entry.state_proof):
        raise ProofError(f"the {label} record is not in the header's state_root",
                         step=f"{label}: state proof")


def validate_bundle(proof: StatusProof) -> Bundle:
    """Check the leaf bundle: proven, named by its range, holding the serial (DESIGN §2).

    Raises
    ------
    ProofError
        Steps ``bundle: record``, ``state proof``, ``id``, ``device``, ``serial``, ``leaf``.
    """
    record = read_state_record("bundle", proof.bundle, Bundle)
    validate_state_entry("bundle", proof.header.state_root, bundle_key(record.bundle_id),
                         proof.bundle)
    if record.bundle_id != compute_bundle_id(record.device_id, record.serial_start,
                                             record.serial_end):
        raise ProofError("the bundle id does not name its serial range", step="bundle: id")
    if record.device_id != proof.device_id:
        raise ProofError(f"the bundle is of device {record.device_id!r}, not "
                         f"{proof.device_id!r}", step="bundle: device")
    if not record.serial_start <= proof.serial < record.serial_end:
        raise ProofError(f"serial {proof.serial} is not in the bundle "
                         f"[{record.serial_start}, {record.serial_end})", step="bundle: serial")
    # A split parent is kept for lineage only: its serials now live in its children.
    if record.status == SPLIT:
        raise ProofError("the bundle was split: it no longer holds the certificate",
                         step="bundle: leaf")
    return record


def validate_device(proof: StatusProof) -> Device:
    """Check the device record: proven under the certificate's device id.

    Raises
    ------
    ProofError
        Steps ``device: record``, ``device: state proof``, ``device: device id``.
    """
    record = read_state_record("device", proof.device, Device)
    validate_state_entry("device", proof.header.state_root, device_key(proof.device_id),
                         proof.device)
    if record.device_id != proof.device_id:
        raise ProofError(f"the record is of device {record.device_id!r}",
                         step="device: device id")
    return record


def validate_owner(proof: StatusProof, bundle: Bundle) -> Account:
    """Check the owner's account record: proven under the key the bundle names.

    Raises
    ------
    ProofError
        Steps ``owner: record``, ``owner: state proof``, ``owner: account``.
    """
    record = read_state_record("owner", proof.owner, Account)
    validate_state_entry("owner", proof.header.state_root, account_key(bundle.owner),
                         proof.owner)
    if record.key != bundle.owner:
        raise ProofError("the account is not the bundle's owner", step="owner: account")
    return record


def verify_status_proof(proof: bytes | StatusProof, genesis: Genesis) -> StatusReport:
    """Verify a status proof offline, with genesis alone (DESIGN §8).

    Parameters
    ----------
    proof:
        The proof file bytes (see `greenchain.proof.status_format`) or a decoded
        `StatusProof` (then the file digest is not involved).
    genesis:
        The chain's genesis: chain id, validators, issuing bodies, expiry policy.

    Returns
    -------
    StatusReport
        The status as of the header (height, block time), the owner, the retirement
        claim if retired, the expiry date, the plant and the validators that committed it.

    Raises
    ------
    DecodeError
        If the bytes are not a canonical status proof file.
    ProofError
        On the first failing check; its `step` attribute names it.
    """
    parsed = proof if isinstance(proof, StatusProof) else decode_status_proof(proof)
    if parsed.chain_id != genesis.chain_id:
        raise ProofError(f"proof is for chain {parsed.chain_id!r}, genesis is for "
                         f"{genesis.chain_id!r}", step="chain id")
    history = replay_valset_history(parsed.valset_changes, genesis)
    header = parsed.header
    validate_commit("header", header, parsed.commit, genesis.chain_id,
                    history.at(header.height))
    bundle = validate_bundle(parsed)
    device = validate_device(parsed)
    owner = validate_owner(parsed, bundle)
    names = {party.pubkey: party.name for party in genesis.validators}
    signers = tuple(entry.validator for entry in parsed.commit.signatures)
    issuer = genesis.issuing_body(device.issuing_body)
    return StatusReport(
        genesis.chain_id, parsed.serial, header.height, header.timestamp_ms,
        header.block_hash(), signers, tuple(names.get(key, "") for key in signers),
        bundle, bundle_status_at(bundle, header.timestamp_ms, genesis.expiry_s),
        compute_expiry_time_s(bundle, genesis.expiry_s), device,
        "" if issuer is None else issuer.name, owner)

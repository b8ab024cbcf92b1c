"""Building provenance proofs from a node's store (DESIGN §8).

The lineage of a certificate is found through the store's indexes: the leaf bundle holding
the serial, its `parent` links up to the issued (root) bundle, and each bundle's history
of transfers and retirements. Each transaction is then proven with its block's audit path,
header and stored commit, and the root bundle record with an authenticated-map proof
against the attest block's state_root (the map keeps the nodes of old roots). Every
validator-set change since genesis comes along, found through the ledger's change records.
"""

from __future__ import annotations

from dataclasses import replace

from greenchain.codec import encode
from greenchain.crypto.hashing import sha256
from greenchain.crypto.merkle import inclusion_path
from greenchain.crypto.smt import smt_prove
from greenchain.errors import NotFound, StoreCorrupt
from greenchain.ledger.app_hash import smt_key
from greenchain.ledger.validators import get_validator_changes
from greenchain.ledger.view import SMT_NODE, bundle_key, get_device
from greenchain.model.certificates import ACTIVE, RETIRED, SPLIT, Bundle, Retirement
from greenchain.model.fields import to_fields
from greenchain.model.transactions import RegisterDevice, Retire, Transfer, Tx
from greenchain.proof.format import (
    AuditNode,
    ProofStep,
    ProvenanceProof,
    RootBundleProof,
    encode_proof,
)
from greenchain.store.chain import ChainStore

Located = tuple[Tx, int, int]
"""A committed transaction with its height and position in the block."""


def compute_audit_path(leaves: list[bytes], index: int) -> tuple[AuditNode, ...]:
    """Return the RFC 6962 audit path of leaf `index` with the side of each sibling.

    The sides follow the path-walking rule of RFC 9162 §2.1.3.2: the running hash is the
    right input when its index is odd or it is the last node of a level.

    Raises
    ------
    IndexError
        If `index` is outside the leaves.
    """
    siblings = inclusion_path(leaves, index)
    fn, sn = index, len(leaves) - 1
    nodes: list[AuditNode] = []
    for sibling in siblings:
        is_right = fn & 1 or fn == sn
        if is_right and not fn & 1:
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        nodes.append(AuditNode(1 if is_right else 0, sibling))
        fn, sn = fn >> 1, sn >> 1
    return tuple(nodes)


def prove_step(store: ChainStore, located: Located) -> ProofStep:
    """Return the proof step of a committed transaction: audit path, header, commit.

    Raises
    ------
    StoreCorrupt
        If the block or its commit is missing.
    """
    tx, height, position = located
    block = store.get_block(height)
    commit = store.get_commit(height)
    if block is None or commit is None:
        raise StoreCorrupt("block or commit missing for a committed transaction",
                           height=height)
    path = compute_audit_path([item.raw for item in block.txs], position)
    return ProofStep(tx, path, block.header, commit)


def _locate(store: ChainStore, tx_id: bytes) -> Located:
    located = store.get_tx(tx_id)
    if located is None:
        raise StoreCorrupt("a bundle names a transaction that is not committed", tx_id=tx_id)
    return located


def bundle_lineage(store: ChainStore, leaf: Bundle) -> list[Bundle]:
    """Return the bundles from the issued root down to `leaf`, following `parent` links.

    Raises
    ------
    StoreCorrupt
        If a parent is missing.
    """
    lineage = [leaf]
    while lineage[-1].parent:
        parent = store.get_bundle(lineage[-1].parent)
        if parent is None:
            raise StoreCorrupt("a bundle's parent is missing", bundle_id=lineage[-1].parent)
        lineage.append(parent)
    lineage.reverse()
    return lineage


def find_registration(store: ChainStore, device_id: str) -> Located:
    """Return the register_device transaction of `device_id` with its location.

    Raises
    ------
    NotFound
        If the device is not registered.
    StoreCorrupt
        If its registering block does not hold the transaction.
    """
    device = get_device(store, device_id)
    if device is None:
        raise NotFound(f"device {device_id!r} is not registered", device_id=device_id)
    block = store.get_block(device.registered_height)
    for position, tx in enumerate(block.txs if block is not None else ()):
        if isinstance(tx.body, RegisterDevice) and tx.body.device_id == device_id:
            return tx, device.registered_height, position
    raise StoreCorrupt("the device's registering block does not register it",
                       device_id=device_id, height=device.registered_height)


def replay_record(record: Bundle, located: Located) -> Bundle:
    """Return a bundle record after one move of it (mirrors `greenchain.ledger.bundles`).

    Used to recover the root bundle as it stood after the attest block when that block
    also moved it (the store keeps only the latest record).
    """
    tx, height, _ = located
    body = tx.body
    assert isinstance(body, (Transfer, Retire))
    if body.amount_wh != record.quantity_wh:
        return replace(record, status=SPLIT)
    if isinstance(body, Transfer):
        return replace(record, owner=body.receiver, last_tx=tx.tx_id)
    claim = Retirement(body.beneficiary, body.consumption_start, body.consumption_end,
                       body.purpose, body.country, tx.tx_id, height)
    return replace(record, status=RETIRED, last_tx=tx.tx_id, retirement=claim)


def issued_record(root: Bundle, device_owner: bytes, same_block_moves: list[Located]) -> Bundle:
    """Return the root bundle record as it stood after its attest block."""
    record = replace(root, owner=device_owner, status=ACTIVE, last_tx=root.issuance_tx,
                     retirement=None)
    for located in same_block_moves:
        record = replay_record(record, located)
    return record


def prove_root_bundle(store: ChainStore, root: Bundle, attest: ProofStep,
                      root_moves: list[Located], device_owner: bytes) -> RootBundleProof:
    """Return the root bundle record with its proof against the attest block's state_root.

    Raises
    ------
    StoreCorrupt
        If the map nodes are missing or the record cannot be matched to the proven value.
    """
    height = attest.header.height
    record = issued_record(root, device_owner, [m for m in root_moves if m[1] == height])
    key = smt_key(bundle_key(root.bundle_id))
    proof = smt_prove(lambda node: store.get(SMT_NODE + node), attest.header.state_root, key)
    if proof.leaf_key != key or proof.leaf_value_hash != sha256(encode(to_fields(record))):
        raise StoreCorrupt("cannot recover the root bundle record at its attest block",
                           bundle_id=root.bundle_id, height=height)
    return RootBundleProof(record, proof)


def prove_valset_changes(store: ChainStore) -> tuple[ProofStep, ...]:
    """Return every committed update_validators since genesis, proven, in chain order.

    The verifier replays them from the genesis set to know the set of each height
    (DESIGN §8); changes after the certificate's last step are included too (harmless).

    Raises
    ------
    StoreCorrupt
        If a change's transaction, block or commit is missing.
    """
    return tuple(prove_step(store, _locate(store, change.tx_id))
                 for change in get_validator_changes(store))


def assemble_provenance(store: ChainStore, device_id: str, serial: int) -> ProvenanceProof:
    """Collect the provenance proof of certificate ``<device_id>:<serial>`` (DESIGN §8).

    Raises
    ------
    NotFound
        If no bundle holds the certificate.
    StoreCorrupt
        If the store's indexes point at missing data.
    """
    # Serials are uint64 (DESIGN §2); anything else names no certificate.
    leaf = store.find_leaf_bundle(device_id, serial) if 0 <= serial < 2**64 else None
    if leaf is None:
        raise NotFound(f"certificate {device_id}:{serial} does not exist",
                       device_id=device_id, serial=serial)
    lineage = bundle_lineage(store, leaf)
    registration = find_registration(store, device_id)
    attest = prove_step(store, _locate(store, lineage[0].issuance_tx))
    moves = [[_locate(store, tx_id) for tx_id in store.bundle_history(bundle.bundle_id)]
             for bundle in lineage]
    register_body = registration[0].body
    assert isinstance(register_body, RegisterDevice)
    root = prove_root_bundle(store, lineage[0], attest, moves[0], register_body.owner_account)
    steps = [prove_step(store, registration), attest]
    steps += [prove_step(store, located) for history in moves for located in history]
    return ProvenanceProof(attest.header.chain_id, device_id, serial,
                           prove_valset_changes(store), tuple(steps), root)


def build_provenance(store: ChainStore, device_id: str, serial: int) -> bytes:
    """Return the canonical proof file of certificate ``<device_id>:<serial>`` (DESIGN §8).

    Parameters
    ----------
    store:
        A node's chain store (any KV backend).
    device_id:
        The producing device.
    serial:
        The certificate's serial (Wh number).

    Returns
    -------
    bytes
        The `*.gcproof` file: canonical msgpack, see `greenchain.proof.format`.

    Raises
    ------
    NotFound
        If the certificate does not exist.
    StoreCorrupt
        If the store's indexes point at missing data.
    """
    return encode_proof(assemble_provenance(store, device_id, serial))

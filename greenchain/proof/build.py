"""Building provenance proofs from a node's store (DESIGN §8, §10).

The lineage of a certificate is found through the store's indexes: the leaf bundle holding
the serial, its `parent` links up to the issued (root) bundle, and each bundle's history
of transfers, retirements, exports and withdrawals. The root steps are the device's
register_device and the attest that issued the root bundle or, for a synthetic device
``ext:<registry>:<device>``, the import that issued it. Each transaction is proven with its
block's audit path, header and stored commit, and the root bundle record with an
authenticated-map proof against the issuing block's state_root (the map keeps the nodes of
old roots). Every validator-set change since genesis comes along, found through the
ledger's change records. Blocks are read through one `BlockReader` per proof, so each is
decoded once and only the transactions the proof carries are decoded in full.
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
from greenchain.model.certificates import (
    ACTIVE,
    EXPORTED,
    RETIRED,
    SPLIT,
    WITHDRAWN,
    Bundle,
    ExportRecord,
    Retirement,
    Withdrawal,
)
from greenchain.model.fields import to_fields
from greenchain.model.lifecycle_txs import Export, Import, Withdraw
from greenchain.model.transactions import RegisterDevice, Retire, Transfer
from greenchain.proof.format import (
    AuditNode,
    ProofStep,
    ProvenanceProof,
    RootBundleProof,
    encode_proof,
)
from greenchain.proof.reader import BlockReader, Located
from greenchain.store.chain import ChainStore

__all__ = [
    "BlockReader",
    "Located",
    "assemble_provenance",
    "build_provenance",
    "bundle_lineage",
    "compute_audit_path",
    "find_registration",
    "issued_record",
    "lineage_moves",
    "prove_root_bundle",
    "prove_root_steps",
    "prove_step",
    "prove_valset_changes",
    "replay_record",
]


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


def prove_step(reader: BlockReader, located: Located) -> ProofStep:
    """Return the proof step of a committed transaction: audit path, header, commit.

    Raises
    ------
    StoreCorrupt
        If the block or its commit is missing.
    """
    tx, height, position = located
    block = reader.block(height)
    path = compute_audit_path(block.envelopes, position)
    return ProofStep(tx, path, block.header, reader.commit(height))


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


def find_registration(reader: BlockReader, device_id: str) -> Located:
    """Return the register_device transaction of `device_id` with its location.

    Raises
    ------
    NotFound
        If the device is not registered.
    StoreCorrupt
        If its registering block does not hold the transaction.
    """
    device = get_device(reader.store, device_id)
    if device is None:
        raise NotFound(f"device {device_id!r} is not registered", device_id=device_id)
    # Envelope [type, chain_id, signer, nonce, body, signature]; body[0] is the device id.
    found = reader.find_in_block(
        device.registered_height,
        lambda fields: fields[0] == "register_device" and fields[4][0] == device_id)
    if found is not None and isinstance(found[0].body, RegisterDevice):
        return found
    raise StoreCorrupt("the device's registering block does not register it",
                       device_id=device_id, height=device.registered_height)


def compute_final_tx_id(leaf: Bundle) -> bytes | None:
    """Return the id of the export or withdrawal that ended `leaf`, or None."""
    if leaf.withdrawal is not None:
        return leaf.withdrawal.withdraw_tx
    return None if leaf.export is None else leaf.export.export_tx


def lineage_moves(reader: BlockReader, lineage: list[Bundle]) -> list[list[Located]]:
    """Return, for each bundle of `lineage`, the located txs of its history, in order.

    Stores written before the history listed exports and withdrawals lack the leaf's
    ending transaction; the leaf record names it, so it is added where its body points.

    Raises
    ------
    StoreCorrupt
        If a history entry or the ending transaction is not committed.
    """
    store = reader.store
    moves = [[reader.locate(tx_id) for tx_id in store.bundle_history(bundle.bundle_id)]
             for bundle in lineage]
    final = compute_final_tx_id(lineage[-1])
    if final is None or any(tx.tx_id == final for history in moves for tx, _, _ in history):
        return moves
    located = reader.locate(final)
    body = located[0].body
    names = body.bundle_id if isinstance(body, (Withdraw, Export)) else b""
    index = next((i for i, bundle in enumerate(lineage) if bundle.bundle_id == names),
                 len(lineage) - 1)
    moves[index].append(located)
    return moves


def replay_record(record: Bundle, located: Located) -> Bundle:
    """Return a bundle record after one move of it (mirrors `greenchain.ledger.bundles`).

    Used to recover the root bundle as it stood after its issuing block when that block
    also moved it (the store keeps only the latest record). Mirrors the ledger's transfer,
    retire, export (`greenchain.ledger.lifecycle`) and withdraw exactly.
    """
    tx, height, _ = located
    body = tx.body
    if isinstance(body, Withdraw):
        withdrawal = Withdrawal(body.reason, tx.tx_id, height)
        return replace(record, status=WITHDRAWN, withdrawal=withdrawal, last_tx=tx.tx_id)
    assert isinstance(body, (Transfer, Retire, Export))
    if body.amount_wh != record.quantity_wh:
        return replace(record, status=SPLIT)
    if isinstance(body, Transfer):
        return replace(record, owner=body.receiver, last_tx=tx.tx_id)
    if isinstance(body, Export):
        destination = ExportRecord(body.destination_registry, body.destination_account,
                                   tx.tx_id, height)
        return replace(record, status=EXPORTED, last_tx=tx.tx_id, export=destination)
    claim = Retirement(body.beneficiary, body.consumption_start, body.consumption_end,
                       body.purpose, body.country, tx.tx_id, height)
    return replace(record, status=RETIRED, last_tx=tx.tx_id, retirement=claim)


def issued_record(root: Bundle, issued_owner: bytes, same_block_moves: list[Located]) -> Bundle:
    """Return the root bundle record as it stood after its issuing (attest or import) block."""
    record = replace(root, owner=issued_owner, status=ACTIVE, last_tx=root.issuance_tx,
                     retirement=None, withdrawal=None, export=None)
    for located in same_block_moves:
        record = replay_record(record, located)
    return record


def prove_root_bundle(store: ChainStore, root: Bundle, issuing: ProofStep,
                      root_moves: list[Located], issued_owner: bytes) -> RootBundleProof:
    """Return the root bundle record with its proof against the issuing block's state_root.

    Parameters
    ----------
    store:
        The node's chain store (its map keeps the nodes of old roots).
    root:
        The root bundle as stored now.
    issuing:
        The proven attest or import step that issued it.
    root_moves:
        The root bundle's own history (moves in the issuing block are replayed).
    issued_owner:
        The account that received the issued bundle.

    Raises
    ------
    StoreCorrupt
        If the map nodes are missing or the record cannot be matched to the proven value.
    """
    height = issuing.header.height
    record = issued_record(root, issued_owner, [m for m in root_moves if m[1] == height])
    key = smt_key(bundle_key(root.bundle_id))
    proof = smt_prove(lambda node: store.get(SMT_NODE + node), issuing.header.state_root, key)
    if proof.leaf_key != key or proof.leaf_value_hash != sha256(encode(to_fields(record))):
        raise StoreCorrupt("cannot recover the root bundle record at its issuing block",
                           bundle_id=root.bundle_id, height=height)
    return RootBundleProof(record, proof)


def prove_root_steps(reader: BlockReader, device_id: str,
                     issuing: Located) -> tuple[list[ProofStep], bytes]:
    """Return the proven root steps and the account that received the issued bundle.

    A registered device's root steps are its register_device and the attest; an imported
    (``ext:``) device's root step is the import alone (DESIGN §10).

    Raises
    ------
    NotFound, StoreCorrupt
        As `find_registration`, or if a block or commit is missing.
    """
    body = issuing[0].body
    if isinstance(body, Import):
        return [prove_step(reader, issuing)], body.owner_account
    registration = find_registration(reader, device_id)
    register_body = registration[0].body
    assert isinstance(register_body, RegisterDevice)
    steps = [prove_step(reader, registration), prove_step(reader, issuing)]
    return steps, register_body.owner_account


def prove_valset_changes(store: ChainStore,
                         reader: BlockReader | None = None) -> tuple[ProofStep, ...]:
    """Return every committed update_validators since genesis, proven, in chain order.

    The verifier replays them from the genesis set to know the set of each height
    (DESIGN §8); changes after the certificate's last step are included too (harmless).

    Parameters
    ----------
    store:
        The node's chain store.
    reader:
        The proof's block reader, if one is in use (shares its cache).

    Raises
    ------
    StoreCorrupt
        If a change's transaction, block or commit is missing.
    """
    blocks = BlockReader(store) if reader is None else reader
    return tuple(prove_step(blocks, blocks.locate(change.tx_id))
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
    reader = BlockReader(store)
    lineage = bundle_lineage(store, leaf)
    root_steps, issued_owner = prove_root_steps(reader, device_id,
                                                reader.locate(lineage[0].issuance_tx))
    moves = lineage_moves(reader, lineage)
    root = prove_root_bundle(store, lineage[0], root_steps[-1], moves[0], issued_owner)
    steps = root_steps + [prove_step(reader, located) for history in moves
                          for located in history]
    return ProvenanceProof(root_steps[0].header.chain_id, device_id, serial,
                           prove_valset_changes(store, reader), tuple(steps), root)


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

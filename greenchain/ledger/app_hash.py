"""The app_hash chain and the certificate-state root (DESIGN §5)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from greenchain.codec import encode_trusted
from greenchain.crypto.hashing import sha256
from greenchain.crypto.smt import smt_update
from greenchain.ledger.view import CERTIFICATE_PREFIXES, SMT_NODE, StateView

_sha256 = hashlib.sha256


def compute_app_hash(prev_app_hash: bytes, state_root: bytes,
                     writes: Mapping[bytes, bytes | None]) -> bytes:
    """Return SHA-256(prev_app_hash || state_root || SHA-256(encode(sorted writes))).

    `writes` are every (key, value-or-None tombstone) a block puts into the state
    prefixes, tx index and period index included (DESIGN §5).
    """
    # (key, value) tuples encode as the 2-item arrays of the definition; keys are unique,
    # so sorting the pairs never compares values.
    ordered = sorted(writes.items())
    return sha256(prev_app_hash + state_root + sha256(encode_trusted(ordered)))


def is_certificate_key(key: bytes) -> bool:
    """Return True for keys of the certificate state (accounts, devices, bundles)."""
    return key[:2] in CERTIFICATE_PREFIXES


def smt_key(state_key: bytes) -> bytes:
    """Return the authenticated-map key of a state key: SHA-256 of it."""
    return sha256(state_key)


def compute_state_root(view: StateView, prev_root: bytes,
                       writes: Mapping[bytes, bytes | None]) -> tuple[bytes, dict[bytes, bytes]]:
    """Fold a block's certificate-state writes into the authenticated map.

    Returns
    -------
    tuple
        ``(state_root, node_writes)``: the new root and the new map nodes keyed by their
        store key (``SMT_NODE + node_hash``), to persist in the block's write batch.

    Raises
    ------
    StoreCorrupt
        If a map node the update needs is missing from `view` or does not match its hash.
    """
    # `smt_key` and `is_certificate_key`, inlined: this runs for every write of a block.
    updates = {
        _sha256(key).digest(): (None if value is None else _sha256(value).digest())
        for key, value in writes.items()
        if key[:2] in CERTIFICATE_PREFIXES
    }
    if not updates:
        return prev_root, {}

    def get_node(node_hash: bytes) -> bytes | None:
        return view.get(SMT_NODE + node_hash)

    root, nodes = smt_update(get_node, prev_root, updates)
    return root, {SMT_NODE + h: encoded for h, encoded in nodes.items()}

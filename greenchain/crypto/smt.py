"""The authenticated map behind `state_root`: a sparse Merkle tree (DESIGN §5, §8).

Keys are 256-bit strings (the caller passes SHA-256 of the state key); values are 32-byte
value hashes. Bit 0 of a key is the most significant bit of its first byte; bit ``d``
chooses the child at depth ``d`` (0 = left, 1 = right).

Shape (short-cut leaves, as in Diem's Jellyfish tree): a subtree holding no entry is
empty, a subtree holding exactly one entry is a single leaf placed where that key first
diverges from all others, and a subtree holding two or more entries is an inner node.
The shape is therefore a function of the set of entries alone, so the root does not
depend on the order or batching of updates, and the depth is about log2(entries).

Hashing (domain-separated, like RFC 6962 §2.1):

- empty subtree: 32 zero bytes (`EMPTY_ROOT`);
- leaf:  ``SHA-256(0x00 || key || value_hash)``;
- inner: ``SHA-256(0x01 || left_hash || right_hash)``.

A leaf hash does not depend on its depth, so a leaf moves up unchanged when its sibling
empties. Nodes are stored under these hashes as the canonical msgpack array
``[0, key, value_hash]`` (leaf) or ``[1, left, right]`` (inner), 70 bytes, built and parsed
here directly (byte-identical to `greenchain.codec.encode`: this is the per-block hot
path). Nodes are never deleted, so every old root stays provable.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from greenchain.errors import Malformed, StoreCorrupt

EMPTY_ROOT: bytes = bytes(32)
"""Root of the empty map (and hash of any empty subtree): 32 zero bytes."""

KEY_BITS = 256
"""Key length in bits; also the longest possible proof (in siblings)."""

GetNode = Callable[[bytes], bytes | None]
"""Reads a stored node: node hash (32 bytes) -> encoded node, or None if unknown."""

_LEAF_PREFIX = b"\x93\x00\xc4\x20"  # msgpack: array of 3, int 0, bin of 32 bytes
_INNER_PREFIX = b"\x93\x01\xc4\x20"  # msgpack: array of 3, int 1, bin of 32 bytes
_BIN32 = b"\xc4\x20"
_NODE_LEN = 70
_SHIFT_TOP = KEY_BITS - 1
_sha256 = hashlib.sha256


def smt_leaf_hash(key: bytes, value_hash: bytes) -> bytes:
    """Return the hash of a leaf: ``SHA-256(0x00 || key || value_hash)`` (32 bytes)."""
    return _sha256(b"\x00" + key + value_hash).digest()


def smt_inner_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an inner node: ``SHA-256(0x01 || left || right)`` (32 bytes)."""
    return _sha256(b"\x01" + left + right).digest()


def _is_hash32(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32


def _require_hash32(value: object, name: str) -> None:
    if not _is_hash32(value):
        raise Malformed(f"{name} must be 32 bytes")


def _bit(key_int: int, depth: int) -> int:
    return (key_int >> (_SHIFT_TOP - depth)) & 1


# --- node storage ---------------------------------------------------------------------
def _load(get_node: GetNode, node_hash: bytes) -> tuple[bool, bytes, bytes]:
    """Read and check one node: (is_leaf, key or left, value_hash or right)."""
    data = get_node(node_hash)
    if data is None:
        raise StoreCorrupt("authenticated-map node missing", node_hash=node_hash)
    prefix = data[:4]
    is_leaf = prefix == _LEAF_PREFIX
    if len(data) != _NODE_LEN or data[36:38] != _BIN32 or not (
            is_leaf or prefix == _INNER_PREFIX):
        raise StoreCorrupt("authenticated-map node malformed", node_hash=node_hash)
    first, second = data[4:36], data[38:70]
    # Content addressing detects corruption for one hash; byte 1 (msgpack 0 or 1) is
    # also the node's hash domain byte.
    if _sha256(data[1:2] + first + second).digest() != node_hash:
        raise StoreCorrupt("authenticated-map node does not match its hash",
                           node_hash=node_hash)
    return is_leaf, first, second


@dataclass(slots=True)
class _Batch:
    """Working state of one `smt_update`: sorted updates and the nodes created."""

    get_node: GetNode
    ints: list[int]
    """Updated keys as big-endian integers, ascending (same order as the bytes)."""
    keys: list[bytes]
    values: list[bytes | None]
    """The new value hash of ``keys[i]``, None to delete it."""
    new_nodes: dict[bytes, bytes]
    """Every node created so far: node hash -> encoded node."""

    def put_leaf(self, key: bytes, value_hash: bytes) -> bytes:
        node_hash = smt_leaf_hash(key, value_hash)
        self.new_nodes[node_hash] = _LEAF_PREFIX + key + _BIN32 + value_hash
        return node_hash

    def put_inner(self, left: bytes, right: bytes) -> bytes:
        node_hash = smt_inner_hash(left, right)
        self.new_nodes[node_hash] = _INNER_PREFIX + left + _BIN32 + right
        return node_hash

    def is_leaf(self, node_hash: bytes) -> bool:
        data = self.new_nodes.get(node_hash)
        if data is not None:
            return data[:4] == _LEAF_PREFIX
        return _load(self.get_node, node_hash)[0]


def _split(ints: list[int], depth: int, lo: int, hi: int) -> int:
    """Return the first index in ``[lo, hi)`` whose key has bit `depth` set.

    All keys in the range share their first `depth` bits, so the smallest key of the
    right half is the common prefix followed by a 1 bit and zeros.
    """
    shift = _SHIFT_TOP - depth
    threshold = ((ints[lo] >> shift) | 1) << shift
    return bisect_left(ints, threshold, lo, hi)


# --- batch update ---------------------------------------------------------------------
def _build(batch: _Batch, entries: tuple[list[int], list[bytes], list[bytes]],
           depth: int, lo: int, hi: int) -> bytes:
    """Build the canonical subtree at `depth` holding exactly ``entries[lo:hi]``."""
    if lo == hi:
        return EMPTY_ROOT
    ints, keys, values = entries
    if hi - lo == 1:
        return batch.put_leaf(keys[lo], values[lo])
    mid = _split(ints, depth, lo, hi)
    left = _build(batch, entries, depth + 1, lo, mid)
    right = _build(batch, entries, depth + 1, mid, hi)
    return batch.put_inner(left, right)


def _merged_entries(batch: _Batch, lo: int, hi: int, leaf: tuple[bytes, bytes] | None,
                    ) -> tuple[list[int], list[bytes], list[bytes]]:
    """Return the entries of a subtree (empty or one `leaf`) after ``updates[lo:hi]``."""
    ints: list[int] = []
    keys: list[bytes] = []
    values: list[bytes] = []
    for i in range(lo, hi):
        value = batch.values[i]
        if value is not None:
            ints.append(batch.ints[i])
            keys.append(batch.keys[i])
            values.append(value)
    if leaf is None:
        return ints, keys, values
    old_int = int.from_bytes(leaf[0], "big")
    at = bisect_left(batch.ints, old_int, lo, hi)
    if at == hi or batch.ints[at] != old_int:
        # The batch does not touch the old entry: keep it, in key order.
        at = bisect_left(ints, old_int)
        ints.insert(at, old_int)
        keys.insert(at, leaf[0])
        values.insert(at, leaf[1])
    return ints, keys, values


def _join_with_empty(batch: _Batch, left: bytes, right: bytes) -> bytes:
    """Return the canonical node over two canonical children, one of them empty."""
    child = right if left == EMPTY_ROOT else left
    if child == EMPTY_ROOT or batch.is_leaf(child):
        return child  # a lone leaf moves up; its hash does not depend on the depth
    return batch.put_inner(left, right)


def _update(batch: _Batch, node_hash: bytes, depth: int, lo: int, hi: int) -> bytes:
    """Apply ``updates[lo:hi]`` (all under this node) to the subtree at `node_hash`."""
    if node_hash == EMPTY_ROOT:
        entries = _merged_entries(batch, lo, hi, None)
        return _build(batch, entries, depth, 0, len(entries[0]))
    is_leaf, first, second = _load(batch.get_node, node_hash)
    if is_leaf:
        entries = _merged_entries(batch, lo, hi, (first, second))
        return _build(batch, entries, depth, 0, len(entries[0]))
    mid = _split(batch.ints, depth, lo, hi)
    # Untouched children are passed through without a call: most of them are.
    left = _update(batch, first, depth + 1, lo, mid) if mid > lo else first
    right = _update(batch, second, depth + 1, mid, hi) if hi > mid else second
    if left == first and right == second:
        return node_hash
    if left == EMPTY_ROOT or right == EMPTY_ROOT:
        return _join_with_empty(batch, left, right)
    return batch.put_inner(left, right)


def smt_update(get_node: GetNode, root: bytes, updates: Mapping[bytes, bytes | None],
               ) -> tuple[bytes, dict[bytes, bytes]]:
    """Apply a batch of updates to the map with root `root` (DESIGN §5).

    The sorted keys are partitioned bit by bit down the tree, so each changed node is
    computed once per batch. The result does not depend on the order of `updates`.

    Parameters
    ----------
    get_node:
        Reads a stored node by hash (32 bytes) -> encoded node, or None.
    root:
        The current root (32 bytes); `EMPTY_ROOT` for the empty map.
    updates:
        Key (32 bytes, SHA-256 of the state key) -> value hash (32 bytes), or None to
        delete the key (deleting an absent key does nothing).

    Returns
    -------
    tuple[bytes, dict[bytes, bytes]]
        The new root (32 bytes) and every node created, node hash -> encoded node, to be
        persisted in the same write batch as the block.

    Raises
    ------
    Malformed
        If `root`, a key or a value hash is not 32 bytes.
    StoreCorrupt
        If a needed node is missing, malformed or does not match its hash.
    """
    _require_hash32(root, "root")
    for key, value in updates.items():
        _require_hash32(key, "key")
        if value is not None:
            _require_hash32(value, "value_hash")
    ordered = sorted((int.from_bytes(key, "big"), key, value) for key, value in updates.items())
    batch = _Batch(get_node, [i for i, _, _ in ordered], [k for _, k, _ in ordered],
                   [v for _, _, v in ordered], {})
    new_root = _update(batch, root, 0, 0, len(ordered)) if ordered else root
    return new_root, batch.new_nodes


# --- reads and proofs -----------------------------------------------------------------
def _walk(get_node: GetNode, root: bytes, key: bytes,
          ) -> tuple[list[bytes], tuple[bytes, bytes] | None]:
    """Follow `key` from `root`: (siblings root first, the leaf reached or None)."""
    _require_hash32(root, "root")
    _require_hash32(key, "key")
    key_int = int.from_bytes(key, "big")
    siblings: list[bytes] = []
    node_hash = root
    while node_hash != EMPTY_ROOT:
        is_leaf, first, second = _load(get_node, node_hash)
        if is_leaf:
            return siblings, (first, second)
        if _bit(key_int, len(siblings)):
            siblings.append(first)
            node_hash = second
        else:
            siblings.append(second)
            node_hash = first
    return siblings, None


def smt_get(get_node: GetNode, root: bytes, key: bytes) -> bytes | None:
    """Return the value hash stored under `key` in the map `root`, or None if absent.

    Raises
    ------
    Malformed
        If `root` or `key` is not 32 bytes.
    StoreCorrupt
        If a node on the path is missing, malformed or does not match its hash.
    """
    _, leaf = _walk(get_node, root, key)
    if leaf is not None and leaf[0] == key:
        return leaf[1]
    return None


@dataclass(frozen=True, slots=True)
class SmtProof:
    """Inclusion or non-inclusion proof of one key (DESIGN §5, §8).

    The path follows the key's bits from the root and ends in an empty subtree or in a
    leaf: the key's own leaf (inclusion), or another key's leaf sharing the path
    (non-inclusion). Canonical form: ``[siblings, leaf_key, leaf_value_hash]``.
    """

    siblings: tuple[bytes, ...]
    """Sibling hashes (32 bytes each) from depth 0 down, at most 256."""
    leaf_key: bytes | None
    """Key of the leaf ending the path (32 bytes), or None if it ends in an empty subtree."""
    leaf_value_hash: bytes | None
    """Value hash of that leaf (32 bytes), None exactly when `leaf_key` is None."""

    def to_fields(self) -> list[Any]:
        """Return the canonical array ``[[sibling, ...], leaf_key, leaf_value_hash]``."""
        return [list(self.siblings), self.leaf_key, self.leaf_value_hash]


def _is_well_formed(proof: object) -> bool:
    if not (isinstance(proof, SmtProof) and isinstance(proof.siblings, tuple)
            and len(proof.siblings) <= KEY_BITS and all(map(_is_hash32, proof.siblings))):
        return False
    if proof.leaf_key is None:
        return proof.leaf_value_hash is None
    return _is_hash32(proof.leaf_key) and _is_hash32(proof.leaf_value_hash)


def smt_proof_from_fields(values: Any) -> SmtProof:
    """Build an `SmtProof` from its canonical array (the inverse of `to_fields`).

    Raises
    ------
    Malformed
        If `values` is not ``[list of <= 256 32-byte hashes, key or None, hash or None]``
        with the key and the value hash both present or both None.
    """
    if not isinstance(values, (list, tuple)) or len(values) != 3:
        raise Malformed("SmtProof must be an array of 3 fields")
    siblings, leaf_key, leaf_value_hash = values
    if not isinstance(siblings, (list, tuple)):
        raise Malformed("SmtProof siblings must be an array")
    proof = SmtProof(tuple(siblings), leaf_key, leaf_value_hash)
    if not _is_well_formed(proof):
        raise Malformed("SmtProof fields have the wrong shape")
    return proof


def smt_prove(get_node: GetNode, root: bytes, key: bytes) -> SmtProof:
    """Return a proof of `key`'s value hash, or of its absence, under `root`.

    Raises
    ------
    Malformed
        If `root` or `key` is not 32 bytes.
    StoreCorrupt
        If a node on the path is missing, malformed or does not match its hash.
    """
    siblings, leaf = _walk(get_node, root, key)
    leaf_key, leaf_value_hash = leaf if leaf is not None else (None, None)
    return SmtProof(tuple(siblings), leaf_key, leaf_value_hash)


def _terminal_hash(key: bytes, value_hash: bytes | None, proof: SmtProof) -> bytes | None:
    """Hash of the node ending the path, or None if it cannot prove the claim."""
    if proof.leaf_key is None or proof.leaf_value_hash is None:
        return EMPTY_ROOT if value_hash is None else None
    if value_hash is not None and (proof.leaf_key, proof.leaf_value_hash) != (key, value_hash):
        return None
    if value_hash is None and proof.leaf_key == key:
        return None
    # The other leaf must sit on key's path: both keys share the path's bits.
    depth = len(proof.siblings)
    if depth and (int.from_bytes(proof.leaf_key, "big") ^ int.from_bytes(key, "big")
                  ) >> (KEY_BITS - depth):
        return None
    return smt_leaf_hash(proof.leaf_key, proof.leaf_value_hash)


def verify_smt_proof(root: bytes, key: bytes, value_hash: bytes | None,
                     proof: SmtProof) -> bool:
    """Return True if `proof` shows ``key -> value_hash`` in the map with root `root`.

    Parameters
    ----------
    root:
        The trusted root (32 bytes), e.g. a committed header's state_root.
    key:
        The key (32 bytes, SHA-256 of the state key).
    value_hash:
        The claimed value hash (32 bytes), or None to check that `key` is absent.
    proof:
        The proof from `smt_prove`.

    Returns
    -------
    bool
        False on any mismatch or malformed input; never raises.
    """
    if not (_is_hash32(root) and _is_hash32(key) and _is_well_formed(proof)
            and (value_hash is None or _is_hash32(value_hash))):
        return False
    current = _terminal_hash(key, value_hash, proof)
    if current is None:
        return False
    key_int = int.from_bytes(key, "big")
    for depth in range(len(proof.siblings) - 1, -1, -1):
        sibling = proof.siblings[depth]
        if _bit(key_int, depth):
            current = smt_inner_hash(sibling, current)
        else:
            current = smt_inner_hash(current, sibling)
    return current == root

"""RFC 6962 Merkle trees over a block's transactions (DESIGN §4).

Leaf hash = SHA-256(0x00 || leaf); node hash = SHA-256(0x01 || left || right); the tree
splits at the largest power of two smaller than the number of leaves (RFC 6962 §2.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """Return the RFC 6962 hash of one leaf."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 hash of an inner node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def _root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    # Bottom-up pairing gives the same root as RFC 6962's recursive split: an odd
    # node at the end of a level is promoted unchanged.
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Return the RFC 6962 Merkle tree hash of `leaves` (SHA-256 of b"" when empty)."""
    if not leaves:
        return EMPTY_ROOT
    return _root_of_hashes([leaf_hash(leaf) for leaf in leaves])


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Return the RFC 6962 audit path of leaf `index`, leaf level first.

    Raises
    ------
    IndexError
        If `index` is outside the leaves.
    """
    if not 0 <= index < len(leaves):
        raise IndexError("leaf index out of range")
    hashes = [leaf_hash(leaf) for leaf in leaves]
    return _path(hashes, index)


def _path(hashes: Sequence[bytes], index: int) -> list[bytes]:
    if len(hashes) <= 1:
        return []
    k = _split(len(hashes))
    if index < k:
        return _path(hashes[:k], index) + [_root_of_hashes(hashes[k:])]
    return _path(hashes[k:], index - k) + [_root_of_hashes(hashes[:k])]


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """Recompute the root from a leaf and its audit path (RFC 9162 §2.1.3.2).

    Returns None when the path length does not fit `index` and `size`.
    """
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    current = leaf_hash(leaf)
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            current = node_hash(sibling, current)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            current = node_hash(current, sibling)
        fn >>= 1
        sn >>= 1
    return current if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes],
                     root: bytes) -> bool:
    """Return True if `path` proves `leaf` at `index` in a tree of `size` with `root`."""
    return root_from_path(leaf, index, size, path) == root

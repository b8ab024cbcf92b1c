"""RFC 6962 Merkle trees (DESIGN §4): known answers, audit paths, tampered proofs.

Vectors: tests/vectors/merkle/ (format in its README.md).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from greenchain.crypto import merkle

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "merkle"
KNOWN: dict[str, Any] = json.loads((VECTORS / "rfc6962_known_answers.json").read_text())
PATHS: dict[str, Any] = json.loads((VECTORS / "paths.json").read_text())
RFC_LEAVES = [bytes.fromhex(h) for h in KNOWN["leaves"]]


# --- an independent reference: RFC 6962 §2.1 as written (recursive MTH and PATH) -----
def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _ref_path(index: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return _ref_path(index, leaves[:k]) + [_mth(leaves[k:])]
    return _ref_path(index - k, leaves[k:]) + [_mth(leaves[:k])]


def _sides(index: int, size: int) -> list[bool]:
    """Leaf-first list of 'the sibling is on the right' along the path of (index, size)."""
    if size <= 1:
        return []
    k = _split(size)
    if index < k:
        return _sides(index, k) + [True]
    return _sides(index - k, size - k) + [False]


def _leaves(n: int) -> list[bytes]:
    return [b"tx-%d" % i for i in range(n)]


# --- known answers --------------------------------------------------------------------
@pytest.mark.parametrize("entry", KNOWN["roots"], ids=lambda e: f"size{e['size']}")
def test_root_matches_the_published_answer(entry: dict[str, Any]) -> None:
    assert merkle.merkle_root(RFC_LEAVES[:entry["size"]]).hex() == entry["root"]


def test_leaf_hashes_match_the_published_answers() -> None:
    assert [merkle.leaf_hash(leaf).hex() for leaf in RFC_LEAVES] == KNOWN["leaf_hashes"]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.EMPTY_ROOT == hashlib.sha256(b"").digest() == merkle.merkle_root([])


@pytest.mark.parametrize("proof", KNOWN["inclusion_proofs"],
                         ids=lambda p: f"index{p['index']}-size{p['size']}")
def test_inclusion_path_matches_the_published_proof(proof: dict[str, Any]) -> None:
    index, size = proof["index"], proof["size"]
    path = merkle.inclusion_path(RFC_LEAVES[:size], index)
    assert [h.hex() for h in path] == proof["path"]
    root = bytes.fromhex(KNOWN["roots"][size]["root"])
    assert merkle.verify_inclusion(RFC_LEAVES[index], index, size, path, root)


def test_leaf_and_node_prefixes_keep_a_leaf_from_posing_as_a_node() -> None:
    left, right = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    two_leaf_root = merkle.merkle_root([b"a", b"b"])
    # A one-leaf tree whose leaf is the concatenation must not have the same root.
    assert merkle.merkle_root([left + right]) != two_leaf_root
    assert merkle.node_hash(left, right) == two_leaf_root


# --- generated paths ------------------------------------------------------------------
def test_generated_paths_verify_and_match_the_implementation() -> None:
    leaves = [bytes.fromhex(h) for h in PATHS["leaves"]]
    for proof in PATHS["proofs"]:
        size, index = proof["size"], proof["index"]
        path = [bytes.fromhex(h) for h in proof["path"]]
        assert proof["leaf"] == leaves[index].hex()
        assert merkle.inclusion_path(leaves[:size], index) == path
        assert merkle.verify_inclusion(leaves[index], index, size, path,
                                       bytes.fromhex(proof["root"]))


@pytest.mark.parametrize("bad", PATHS["tampered"],
                         ids=lambda b: f"{b['how']}-i{b['index']}-n{b['size']}")
def test_tampered_generated_proof_fails(bad: dict[str, Any]) -> None:
    path = [bytes.fromhex(h) for h in bad["path"]]
    assert not merkle.verify_inclusion(bytes.fromhex(bad["leaf"]), bad["index"], bad["size"],
                                       path, bytes.fromhex(bad["root"]))


def test_generated_tampered_proofs_cover_every_kind_of_change() -> None:
    assert {bad["how"] for bad in PATHS["tampered"]} >= {
        "index + 1", "index - 1", "size * 2", "size // 2", "first path hash bit 3 flipped",
        "last path hash dropped", "root appended to the path", "leaf changed"}


# --- exhaustive properties over sizes 1..70 -------------------------------------------
def test_every_path_of_sizes_1_to_70_matches_rfc6962_and_verifies() -> None:
    for size in range(1, 71):
        leaves = _leaves(size)
        root = merkle.merkle_root(leaves)
        assert root == _mth(leaves)
        for index in range(size):
            path = merkle.inclusion_path(leaves, index)
            assert path == _ref_path(index, leaves)
            assert merkle.verify_inclusion(leaves[index], index, size, path, root)
            assert merkle.root_from_path(leaves[index], index, size, path) == root


def test_a_path_never_verifies_for_another_index_of_the_same_tree() -> None:
    for size in range(2, 71):
        leaves = _leaves(size)
        root = merkle.merkle_root(leaves)
        for index in range(size):
            path = merkle.inclusion_path(leaves, index)
            for other in {index - 1, index + 1, index ^ 1, index ^ 2, 0, size - 1} - {index}:
                assert not merkle.verify_inclusion(leaves[index], other, size, path, root)
            assert not merkle.verify_inclusion(leaves[index - 1], index, size, path, root)


def test_another_size_verifies_exactly_when_the_path_shape_is_the_same() -> None:
    # RFC 6962 binds the size only through the root's signer: a path also verifies for a
    # size whose tree has the same left/right steps for the index. Any other size fails.
    outcomes = set()
    for size in range(1, 71):
        leaves = _leaves(size)
        root = merkle.merkle_root(leaves)
        for index in range(size):
            path = merkle.inclusion_path(leaves, index)
            shape = _sides(index, size)
            nearby = range(max(1, size - 9), size + 10)
            for other_size in {*nearby, 1, size // 2 or 1, 2 * size, 2 * size + 1} - {size}:
                verifies = merkle.verify_inclusion(leaves[index], index, other_size, path, root)
                same_shape = index < other_size and _sides(index, other_size) == shape
                assert verifies is same_shape
                outcomes.add(verifies)
    assert outcomes == {True, False}


def test_the_position_is_authenticated_only_together_with_the_size() -> None:
    # Why a proof must take the tree size from a signed header: leaf 1 of a 2-leaf tree
    # also verifies as leaf 2 of a 3-leaf tree.
    leaves = _leaves(2)
    path = merkle.inclusion_path(leaves, 1)
    assert merkle.verify_inclusion(leaves[1], 2, 3, path, merkle.merkle_root(leaves))


def test_every_single_bit_flip_in_a_path_fails() -> None:
    for size in (2, 3, 5, 8, 13, 31, 64, 70):
        leaves = _leaves(size)
        root = merkle.merkle_root(leaves)
        for index in range(size):
            path = merkle.inclusion_path(leaves, index)
            for position in range(len(path)):
                for bit in (0, 7, 255):
                    broken = list(path)
                    node = bytearray(broken[position])
                    node[bit // 8] ^= 1 << (bit % 8)
                    broken[position] = bytes(node)
                    assert not merkle.verify_inclusion(leaves[index], index, size, broken, root)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 70])
def test_shortened_lengthened_and_reordered_paths_fail(size: int) -> None:
    leaves = _leaves(size)
    root = merkle.merkle_root(leaves)
    for index in range(size):
        path = merkle.inclusion_path(leaves, index)
        candidates = [path + [root], [root] + path, path + [b""]]
        if path:
            candidates += [path[:-1], path[1:]]
        if len(path) > 1:
            candidates.append(list(reversed(path)))
        for candidate in candidates:
            assert not merkle.verify_inclusion(leaves[index], index, size, candidate, root)
        assert not merkle.verify_inclusion(leaves[index] + b"!", index, size, path, root)


@pytest.mark.parametrize("index, size", [(-1, 4), (4, 4), (0, 0), (5, 3)])
def test_index_outside_the_tree_gives_no_root(index: int, size: int) -> None:
    assert merkle.root_from_path(b"x", index, size, []) is None
    assert not merkle.verify_inclusion(b"x", index, size, [], merkle.leaf_hash(b"x"))


@pytest.mark.parametrize("index", [-1, 3, 10])
def test_inclusion_path_refuses_an_index_outside_the_leaves(index: int) -> None:
    with pytest.raises(IndexError):
        merkle.inclusion_path(_leaves(3), index)

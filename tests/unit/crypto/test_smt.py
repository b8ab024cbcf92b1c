"""Tests of the sparse Merkle tree behind state_root (DESIGN §5)."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenchain.codec import decode, encode
from greenchain.crypto.smt import (
    EMPTY_ROOT,
    SmtProof,
    smt_get,
    smt_inner_hash,
    smt_leaf_hash,
    smt_proof_from_fields,
    smt_prove,
    smt_update,
    verify_smt_proof,
)
from greenchain.errors import DecodeError, Malformed, StoreCorrupt

NO_NODES: dict[bytes, bytes] = {}


def h(label: object) -> bytes:
    return hashlib.sha256(repr(label).encode()).digest()


# --- naive reference: recompute the root of a plain dict from scratch ------------------
def ref_bit(key: bytes, depth: int) -> int:
    return (key[depth // 8] >> (7 - depth % 8)) & 1


def ref_root(entries: Mapping[bytes, bytes], depth: int = 0) -> bytes:
    if not entries:
        return bytes(32)
    if len(entries) == 1:
        ((key, value),) = entries.items()
        return hashlib.sha256(b"\x00" + key + value).digest()
    left = {k: v for k, v in entries.items() if ref_bit(k, depth) == 0}
    right = {k: v for k, v in entries.items() if ref_bit(k, depth) == 1}
    return hashlib.sha256(b"\x01" + ref_root(left, depth + 1) + ref_root(right, depth + 1)).digest()


class Tree:
    """A node store plus a current root; keeps every node, like the real store."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}
        self.root = EMPTY_ROOT
        self.entries: dict[bytes, bytes] = {}

    def apply(self, updates: Mapping[bytes, bytes | None]) -> bytes:
        self.root, new_nodes = smt_update(self.nodes.get, self.root, updates)
        self.nodes.update(new_nodes)
        for key, value in updates.items():
            if value is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = value
        return self.root

    def get(self, key: bytes) -> bytes | None:
        return smt_get(self.nodes.get, self.root, key)

    def prove(self, key: bytes, root: bytes | None = None) -> SmtProof:
        return smt_prove(self.nodes.get, self.root if root is None else root, key)


def random_entries(seed: int, count: int) -> dict[bytes, bytes]:
    rng = random.Random(seed)
    return {h(("k", seed, i)): rng.randbytes(32) for i in range(count)}


def key_with_bits(prefix_bits: str, fill: int = 0) -> bytes:
    """A key starting with the given bits, then `fill` repeated."""
    bits = prefix_bits + str(fill) * (256 - len(prefix_bits))
    return int(bits, 2).to_bytes(32, "big")


# --- roots -----------------------------------------------------------------------------
def test_empty_root_is_32_zero_bytes() -> None:
    assert EMPTY_ROOT == bytes(32)
    assert smt_update(NO_NODES.get, EMPTY_ROOT, {}) == (EMPTY_ROOT, {})


def test_single_entry_root_is_its_leaf_hash() -> None:
    key, value = h("k"), h("v")
    root, nodes = smt_update(NO_NODES.get, EMPTY_ROOT, {key: value})
    assert root == smt_leaf_hash(key, value) == hashlib.sha256(b"\x00" + key + value).digest()
    assert set(nodes) == {root}


def test_two_entries_diverging_deep_make_a_chain_of_inner_nodes() -> None:
    # Keys equal except in the last bit: 255 inner nodes with one empty side each.
    a, b = key_with_bits("", 0), key_with_bits("0" * 255 + "1", 0)
    tree = Tree()
    root = tree.apply({a: h(1), b: h(2)})
    assert root == ref_root({a: h(1), b: h(2)})
    expected = smt_inner_hash(smt_leaf_hash(a, h(1)), smt_leaf_hash(b, h(2)))
    for _ in range(255):
        expected = smt_inner_hash(expected, EMPTY_ROOT)
    assert root == expected
    assert len(tree.prove(a).siblings) == 256
    assert verify_smt_proof(root, b, h(2), tree.prove(b))


def test_root_matches_reference_after_random_batches() -> None:
    rng = random.Random(7)
    tree = Tree()
    keys = [h(("key", i)) for i in range(300)]
    for _ in range(12):
        batch: dict[bytes, bytes | None] = {}
        for key in rng.sample(keys, 40):
            batch[key] = None if rng.random() < 0.3 else rng.randbytes(32)
        tree.apply(batch)
        assert tree.root == ref_root(tree.entries)
    assert tree.entries  # the run kept some entries


def test_root_does_not_depend_on_order_or_batching() -> None:
    entries = random_entries(1, 200)
    items = list(entries.items())
    one_batch = Tree().apply(entries)
    reversed_batch = Tree().apply(dict(reversed(items)))
    one_by_one = Tree()
    for key, value in items:
        one_by_one.apply({key: value})
    shuffled = Tree()
    random.Random(3).shuffle(items)
    for start in range(0, len(items), 17):
        shuffled.apply(dict(items[start:start + 17]))
    assert one_batch == reversed_batch == one_by_one.root == shuffled.root
    assert one_batch == ref_root(entries)


def test_insert_then_delete_returns_the_earlier_root() -> None:
    tree = Tree()
    base = tree.apply(random_entries(2, 100))
    extra = random_entries(3, 50)
    tree.apply(extra)
    assert tree.root != base
    assert tree.apply(dict.fromkeys(extra)) == base


def test_deleting_everything_gives_empty_root() -> None:
    entries = random_entries(4, 120)
    tree = Tree()
    tree.apply(entries)
    keys = list(entries)
    tree.apply(dict.fromkeys(keys[:60]))
    assert tree.apply(dict.fromkeys(keys[60:])) == EMPTY_ROOT
    assert tree.get(keys[0]) is None


def test_delete_collapses_lone_leaf_upwards() -> None:
    a, b = key_with_bits("0000"), key_with_bits("0001")
    c = key_with_bits("1")
    tree = Tree()
    tree.apply({a: h(1), b: h(2), c: h(3)})
    root = tree.apply({b: None})
    assert root == smt_inner_hash(smt_leaf_hash(a, h(1)), smt_leaf_hash(c, h(3)))
    assert tree.apply({c: None}) == smt_leaf_hash(a, h(1))


def test_insert_and_delete_in_one_batch() -> None:
    tree = Tree()
    entries = random_entries(5, 80)
    tree.apply(entries)
    keys = list(entries)
    batch: dict[bytes, bytes | None] = {k: None for k in keys[:30]}
    batch.update({h(("new", i)): h(i) for i in range(30)})
    batch[keys[40]] = h("changed")
    batch[h("never there")] = None
    tree.apply(batch)
    assert tree.root == ref_root(tree.entries)


def test_noop_updates_keep_the_root() -> None:
    tree = Tree()
    entries = random_entries(6, 50)
    root = tree.apply(entries)
    new_root, nodes = smt_update(tree.nodes.get, root, {h("absent"): None})
    assert new_root == root
    assert len(nodes) <= 1 and set(nodes) <= set(tree.nodes)  # at most the leaf reached
    key = next(iter(entries))
    assert smt_update(tree.nodes.get, root, {key: entries[key]})[0] == root


def test_update_does_not_change_older_roots() -> None:
    tree = Tree()
    first = tree.apply(random_entries(8, 60))
    snapshot = dict(tree.entries)
    tree.apply(random_entries(9, 60))
    for key, value in snapshot.items():
        assert smt_get(tree.nodes.get, first, key) == value


# --- node encoding ---------------------------------------------------------------------
def test_new_nodes_are_canonical_msgpack_addressed_by_their_hash() -> None:
    _, nodes = smt_update(NO_NODES.get, EMPTY_ROOT, random_entries(10, 40))
    kinds = set()
    for node_hash, data in nodes.items():
        tag, first, second = decode(data)
        assert encode([tag, first, second]) == data
        assert len(data) == 70
        expected = smt_leaf_hash(first, second) if tag == 0 else smt_inner_hash(first, second)
        assert tag in (0, 1) and node_hash == expected
        kinds.add(tag)
    assert kinds == {0, 1}


def test_missing_node_raises_store_corrupt() -> None:
    tree = Tree()
    tree.apply(random_entries(11, 30))
    del tree.nodes[tree.root]
    with pytest.raises(StoreCorrupt):
        smt_update(tree.nodes.get, tree.root, {h("x"): h("y")})
    with pytest.raises(StoreCorrupt):
        tree.get(h("x"))
    with pytest.raises(StoreCorrupt):
        tree.prove(h("x"))


@pytest.mark.parametrize("position", [0, 1, 3, 10, 37, 69])
def test_corrupted_node_raises_store_corrupt(position: int) -> None:
    tree = Tree()
    tree.apply(random_entries(12, 30))
    data = bytearray(tree.nodes[tree.root])
    data[position] ^= 0x01
    tree.nodes[tree.root] = bytes(data)
    with pytest.raises(StoreCorrupt):
        smt_update(tree.nodes.get, tree.root, {h("x"): h("y")})


def test_truncated_node_raises_store_corrupt() -> None:
    tree = Tree()
    tree.apply(random_entries(13, 5))
    tree.nodes[tree.root] = tree.nodes[tree.root][:-1]
    with pytest.raises(StoreCorrupt):
        tree.get(h("x"))


@pytest.mark.parametrize("updates", [
    {b"short": h(1)},
    {h(1): b"short"},
    {h(1) + b"\x00": None},
])
def test_bad_update_shapes_raise_malformed(updates: dict[bytes, bytes | None]) -> None:
    with pytest.raises(Malformed):
        smt_update(NO_NODES.get, EMPTY_ROOT, updates)


def test_bad_root_or_key_raises_malformed() -> None:
    with pytest.raises(Malformed):
        smt_update(NO_NODES.get, b"\x00" * 31, {})
    with pytest.raises(Malformed):
        smt_get(NO_NODES.get, EMPTY_ROOT, b"\x01")
    with pytest.raises(Malformed):
        smt_prove(NO_NODES.get, EMPTY_ROOT, b"\x01" * 33)


# --- proofs ----------------------------------------------------------------------------
def test_proofs_of_present_keys() -> None:
    tree = Tree()
    entries = random_entries(14, 150)
    tree.apply(entries)
    for key, value in entries.items():
        proof = tree.prove(key)
        assert proof.leaf_key == key and proof.leaf_value_hash == value
        assert tree.get(key) == value
        assert verify_smt_proof(tree.root, key, value, proof)
        assert not verify_smt_proof(tree.root, key, h("other value"), proof)
        assert not verify_smt_proof(tree.root, key, None, proof)
    depths = [len(tree.prove(key).siblings) for key in entries]
    assert max(depths) < 24  # about log2(150), far from 256


def test_proofs_of_absent_keys_cover_both_endings() -> None:
    tree = Tree()
    tree.apply(random_entries(15, 64))
    endings = set()
    for i in range(200):
        key = h(("absent", i))
        proof = tree.prove(key)
        assert tree.get(key) is None
        assert verify_smt_proof(tree.root, key, None, proof)
        assert not verify_smt_proof(tree.root, key, h("anything"), proof)
        endings.add(proof.leaf_key is None)
    assert endings == {True, False}  # ends in an empty subtree and in another key's leaf


def test_proofs_of_deleted_keys() -> None:
    tree = Tree()
    entries = random_entries(16, 50)
    tree.apply(entries)
    deleted = list(entries)[:10]
    tree.apply(dict.fromkeys(deleted))
    for key in deleted:
        proof = tree.prove(key)
        assert tree.get(key) is None
        assert verify_smt_proof(tree.root, key, None, proof)
        assert not verify_smt_proof(tree.root, key, entries[key], proof)


def test_empty_map_proves_absence() -> None:
    proof = smt_prove(NO_NODES.get, EMPTY_ROOT, h("k"))
    assert proof == SmtProof((), None, None)
    assert verify_smt_proof(EMPTY_ROOT, h("k"), None, proof)
    assert not verify_smt_proof(EMPTY_ROOT, h("k"), h("v"), proof)


def test_proofs_against_old_roots_after_later_updates() -> None:
    tree = Tree()
    entries = random_entries(17, 80)
    old_root = tree.apply(entries)
    keys = list(entries)
    tree.apply({keys[0]: None, keys[1]: h("new value"), h("added"): h("added value")})
    tree.apply(random_entries(18, 80))
    assert tree.root != old_root
    old = tree.prove(keys[0], root=old_root)
    assert verify_smt_proof(old_root, keys[0], entries[keys[0]], old)
    assert verify_smt_proof(tree.root, keys[0], None, tree.prove(keys[0]))
    assert not verify_smt_proof(tree.root, keys[0], entries[keys[0]], old)
    assert verify_smt_proof(old_root, keys[1], entries[keys[1]], tree.prove(keys[1], old_root))
    assert verify_smt_proof(old_root, h("added"), None, tree.prove(h("added"), old_root))


def test_proof_for_one_key_does_not_prove_another() -> None:
    tree = Tree()
    entries = random_entries(19, 40)
    tree.apply(entries)
    a, b = list(entries)[:2]
    assert not verify_smt_proof(tree.root, b, entries[a], tree.prove(a))
    assert not verify_smt_proof(tree.root, b, entries[b], tree.prove(a))


def test_non_inclusion_needs_the_other_leaf_on_the_path() -> None:
    c, d = key_with_bits("10"), key_with_bits("01")
    tree = Tree()
    root = tree.apply({c: h(3)})
    honest = tree.prove(d)
    assert honest == SmtProof((), c, h(3)) and verify_smt_proof(root, d, None, honest)
    # A hand-made (non-canonical) root holding c's leaf on d's side: the hashes fold,
    # but c's first bit differs from d's, so the leaf cannot vouch for d's absence.
    odd_root = smt_inner_hash(smt_leaf_hash(c, h(3)), EMPTY_ROOT)
    assert not verify_smt_proof(odd_root, d, None, SmtProof((EMPTY_ROOT,), c, h(3)))
    e = key_with_bits("11")
    on_path_root = smt_inner_hash(EMPTY_ROOT, smt_leaf_hash(c, h(3)))
    assert verify_smt_proof(on_path_root, e, None, SmtProof((EMPTY_ROOT,), c, h(3)))


def proof_bytes(proof: SmtProof) -> bytes:
    return encode(proof.to_fields())


def test_proof_round_trips_through_canonical_msgpack() -> None:
    tree = Tree()
    tree.apply(random_entries(20, 30))
    for key in [*list(tree.entries)[:5], h("absent 1"), h("absent 2")]:
        proof = tree.prove(key)
        assert smt_proof_from_fields(decode(proof_bytes(proof))) == proof


def every_byte_flipped(data: bytes) -> list[bytes]:
    return [data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:] for i in range(len(data))]


def tampered_proof_holds(root: bytes, key: bytes, value: bytes | None, data: bytes) -> bool:
    try:
        proof = smt_proof_from_fields(decode(data))
    except DecodeError:
        return False
    return verify_smt_proof(root, key, value, proof)


@pytest.mark.parametrize("present", [True, False])
def test_flipping_any_byte_of_the_proof_breaks_it(present: bool) -> None:
    tree = Tree()
    entries = random_entries(21, 40)
    tree.apply(entries)
    key = next(iter(entries)) if present else h("absent")
    value = entries[key] if present else None
    data = proof_bytes(tree.prove(key))
    assert tampered_proof_holds(tree.root, key, value, data)
    for bad in every_byte_flipped(data):
        assert not tampered_proof_holds(tree.root, key, value, bad)


def test_flipping_any_byte_of_root_key_or_value_breaks_the_proof() -> None:
    tree = Tree()
    entries = random_entries(22, 40)
    tree.apply(entries)
    key = next(iter(entries))
    proof = tree.prove(key)
    for bad_root in every_byte_flipped(tree.root):
        assert not verify_smt_proof(bad_root, key, entries[key], proof)
    for bad_key in every_byte_flipped(key):
        assert not verify_smt_proof(tree.root, bad_key, entries[key], proof)
    for bad_value in every_byte_flipped(entries[key]):
        assert not verify_smt_proof(tree.root, key, bad_value, proof)


def test_dropping_or_adding_a_sibling_breaks_the_proof() -> None:
    tree = Tree()
    entries = random_entries(23, 40)
    tree.apply(entries)
    key = next(iter(entries))
    proof = tree.prove(key)
    shorter = SmtProof(proof.siblings[:-1], proof.leaf_key, proof.leaf_value_hash)
    longer = SmtProof((*proof.siblings, EMPTY_ROOT), proof.leaf_key, proof.leaf_value_hash)
    assert not verify_smt_proof(tree.root, key, entries[key], shorter)
    assert not verify_smt_proof(tree.root, key, entries[key], longer)


@pytest.mark.parametrize("fields", [
    None,
    [],
    [[], None],
    [[], None, None, None],
    [b"", None, None],
    [[b"\x00" * 31], None, None],
    [[1], None, None],
    [[], h(1), None],
    [[], None, h(1)],
    [[], b"\x00", h(1)],
    [[], h(1), "text"],
    [[bytes(32)] * 257, None, None],
    {"siblings": []},
])
def test_bad_proof_fields_raise_malformed(fields: object) -> None:
    with pytest.raises(Malformed):
        smt_proof_from_fields(fields)


@pytest.mark.parametrize("args", [
    (b"", h(1), None, SmtProof((), None, None)),
    (EMPTY_ROOT, b"", None, SmtProof((), None, None)),
    (EMPTY_ROOT, h(1), b"x", SmtProof((), None, None)),
    (EMPTY_ROOT, h(1), None, None),
    (EMPTY_ROOT, h(1), None, "proof"),
    (EMPTY_ROOT, h(1), None, SmtProof([EMPTY_ROOT], None, None)),  # type: ignore[arg-type]
    (EMPTY_ROOT, h(1), None, SmtProof((b"x",), None, None)),
    (EMPTY_ROOT, h(1), None, SmtProof((1,), None, None)),  # type: ignore[arg-type]
    (EMPTY_ROOT, h(1), None, SmtProof((), h(2), None)),
    (EMPTY_ROOT, h(1), None, SmtProof((), None, h(2))),
    ("root", 3, 4.5, SmtProof((), None, None)),
])
def test_verify_never_raises_on_bad_input(args: tuple[object, object, object, object]) -> None:
    assert verify_smt_proof(*args) is False  # type: ignore[arg-type]


# --- property tests --------------------------------------------------------------------
# A small key pool with deep shared prefixes, so collisions, re-insertions, deletions and
# long paths all happen.
KEY_POOL = [h(("pool", i)) for i in range(24)] + [
    key_with_bits(""), key_with_bits("0" * 255 + "1"), key_with_bits("0" * 200 + "1"),
    key_with_bits("1", 1), key_with_bits("1" * 255 + "0", 1), key_with_bits("01" * 64),
]
VALUE_POOL = [h(("value", i)) for i in range(4)]

update_batches = st.lists(
    st.dictionaries(st.sampled_from(KEY_POOL), st.none() | st.sampled_from(VALUE_POOL),
                    max_size=12),
    max_size=6,
)
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(update_batches)
def test_property_root_and_reads_match_the_reference(batches: list[dict[bytes, bytes | None]],
                                                     ) -> None:
    tree = Tree()
    for batch in batches:
        tree.apply(batch)
        assert tree.root == ref_root(tree.entries)
    for key in KEY_POOL:
        assert tree.get(key) == tree.entries.get(key)


@PROPERTY_SETTINGS
@given(update_batches)
def test_property_every_key_has_a_valid_proof_at_every_root(
        batches: list[dict[bytes, bytes | None]]) -> None:
    tree = Tree()
    history = [(tree.root, dict(tree.entries))]
    for batch in batches:
        tree.apply(batch)
        history.append((tree.root, dict(tree.entries)))
    for root, entries in history:
        for key in KEY_POOL:
            proof = tree.prove(key, root)
            assert verify_smt_proof(root, key, entries.get(key), proof)
            wrong = None if key in entries else VALUE_POOL[0]
            assert not verify_smt_proof(root, key, wrong, proof)


@PROPERTY_SETTINGS
@given(update_batches, st.randoms(use_true_random=False))
def test_property_batching_and_order_do_not_matter(batches: list[dict[bytes, bytes | None]],
                                                   rng: random.Random) -> None:
    merged: dict[bytes, bytes | None] = {}
    for batch in batches:
        merged.update(batch)
    tree = Tree()
    for batch in batches:
        tree.apply(batch)
    items = list(merged.items())
    rng.shuffle(items)
    assert Tree().apply(dict(items)) == tree.root


# --- benchmark (soak: run with `pytest -m soak -s`) ------------------------------------
@pytest.mark.soak
def test_benchmark_5000_updates_into_100000_entries() -> None:
    tree = Tree()
    tree.apply(random_entries(100, 100_000))
    rng = random.Random(101)
    existing = list(tree.entries)
    seconds = []
    for round_no in range(5):
        batch: dict[bytes, bytes | None] = {k: rng.randbytes(32)
                                            for k in rng.sample(existing, 2500)}
        batch.update({h(("bench", round_no, i)): rng.randbytes(32) for i in range(2500)})
        start = time.perf_counter()
        root, nodes = smt_update(tree.nodes.get, tree.root, batch)
        seconds.append(time.perf_counter() - start)
    print(f"\nsmt_update 5000 into 100000: best {min(seconds):.3f} s, "
          f"median {sorted(seconds)[2]:.3f} s, {len(nodes)} new nodes")
    assert root != tree.root

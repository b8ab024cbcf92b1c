"""One KV conformance suite run on MemoryKV and LevelKV, plus LevelKV's open and lock rules.

Model: py-evm ``eth/tools/db/base.py: DatabaseAPITestSuite`` (STYLE §11).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenchain.errors import StoreCorrupt, StoreError, StoreLocked
from greenchain.store.kv import KV, MemoryKV, atomic_batch, prefix_upper_bound
from greenchain.store.leveldb import LevelKV

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]


@pytest.fixture(params=["memory", "leveldb"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KV]:
    store: KV = MemoryKV() if request.param == "memory" else LevelKV(tmp_path / "db")
    try:
        yield store
    finally:
        store.close()


def put_all(kv: KV, keys: list[bytes]) -> None:
    kv.write_batch({key: b"v:" + key for key in keys})


def keys_of(pairs: Iterator[tuple[bytes, bytes]]) -> list[bytes]:
    out = []
    for key, value in pairs:
        assert value == b"v:" + key
        out.append(key)
    return out


# --- get, put, delete ------------------------------------------------------------------
def test_get_missing_key_returns_none(kv: KV) -> None:
    assert kv.get(b"absent") is None


def test_put_then_get(kv: KV) -> None:
    kv.write_batch({b"a": b"1", b"b": b"2"})
    assert kv.get(b"a") == b"1"
    assert kv.get(b"b") == b"2"


def test_overwrite_replaces_value(kv: KV) -> None:
    kv.write_batch({b"a": b"1"})
    kv.write_batch({b"a": b"2"})
    assert kv.get(b"a") == b"2"
    assert list(kv.iterate(b"")) == [(b"a", b"2")]


def test_none_deletes_and_deleting_absent_key_is_noop(kv: KV) -> None:
    kv.write_batch({b"a": b"1", b"b": b"2"})
    kv.write_batch({b"a": None, b"never": None})
    assert kv.get(b"a") is None
    assert kv.get(b"never") is None
    assert list(kv.iterate(b"")) == [(b"b", b"2")]


def test_empty_value_is_not_absence(kv: KV) -> None:
    kv.write_batch({b"k": b""})
    assert kv.get(b"k") == b""
    kv.write_batch({b"k": None})
    assert kv.get(b"k") is None


def test_empty_key_and_binary_keys(kv: KV) -> None:
    keys = [b"", b"\x00", b"\x00\x00", b"\xff", b"\xff\xff", b"\x7f\x80"]
    put_all(kv, keys)
    for key in keys:
        assert kv.get(key) == b"v:" + key
    assert keys_of(kv.iterate(b"")) == sorted(keys)


def test_mixed_batch_puts_and_deletes_together(kv: KV) -> None:
    put_all(kv, [b"a", b"b", b"c"])
    kv.write_batch({b"a": None, b"b": b"v:b", b"d": b"v:d"})
    assert keys_of(kv.iterate(b"")) == [b"b", b"c", b"d"]


@pytest.mark.parametrize(
    "writes",
    [{b"a": b"1", "b": b"2"}, {b"a": b"1", b"b": "2"}, {b"a": b"1", memoryview(b"b"): b"2"}],
)
def test_bad_types_raise_and_write_nothing(kv: KV, writes: dict[object, object]) -> None:
    with pytest.raises(TypeError):
        kv.write_batch(writes)  # type: ignore[arg-type]
    assert kv.get(b"a") is None


def test_a_refused_batch_deletes_nothing_either(kv: KV) -> None:
    put_all(kv, [b"a", b"b"])
    with pytest.raises(TypeError):  # the delete comes before the bad value
        kv.write_batch({b"a": None, b"c": b"3", b"b": bytearray(b"2")})  # type: ignore[dict-item]
    assert keys_of(kv.iterate(b"")) == [b"a", b"b"]


# --- iterate ---------------------------------------------------------------------------
def test_iterate_selects_prefix_in_byte_order(kv: KV) -> None:
    put_all(kv, [b"b/2", b"a/1", b"b/10", b"b", b"b/1", b"c/1", b"b0"])
    assert keys_of(kv.iterate(b"b/")) == [b"b/1", b"b/10", b"b/2"]
    assert keys_of(kv.iterate(b"b/", reverse=True)) == [b"b/2", b"b/10", b"b/1"]
    assert keys_of(kv.iterate(b"x")) == []


def test_iterate_empty_prefix_yields_everything(kv: KV) -> None:
    keys = [b"a", b"b\x00", b"b", b"\xff\xff"]
    put_all(kv, keys)
    assert keys_of(kv.iterate(b"")) == sorted(keys)
    assert keys_of(kv.iterate(b"", reverse=True)) == sorted(keys, reverse=True)


def test_iterate_forward_from_start(kv: KV) -> None:
    put_all(kv, [b"p1", b"p3", b"p5", b"q0", b"o9"])
    assert keys_of(kv.iterate(b"p", start=b"p3")) == [b"p3", b"p5"]  # inclusive
    assert keys_of(kv.iterate(b"p", start=b"p4")) == [b"p5"]  # between keys
    assert keys_of(kv.iterate(b"p", start=b"a")) == [b"p1", b"p3", b"p5"]  # before prefix
    assert keys_of(kv.iterate(b"p", start=b"p6")) == []  # past the last key
    assert keys_of(kv.iterate(b"p", start=b"z")) == []  # past the prefix


def test_iterate_reverse_from_start(kv: KV) -> None:
    put_all(kv, [b"p1", b"p3", b"p5", b"q0", b"o9"])
    assert keys_of(kv.iterate(b"p", start=b"p3", reverse=True)) == [b"p3", b"p1"]
    assert keys_of(kv.iterate(b"p", start=b"p4", reverse=True)) == [b"p3", b"p1"]
    assert keys_of(kv.iterate(b"p", start=b"z", reverse=True)) == [b"p5", b"p3", b"p1"]
    assert keys_of(kv.iterate(b"p", start=b"p0", reverse=True)) == []
    assert keys_of(kv.iterate(b"p", start=b"a", reverse=True)) == []


def test_iterate_prefix_ending_in_ff(kv: KV) -> None:
    keys = [b"a\xfe", b"a\xff", b"a\xff\x00", b"a\xff\xff", b"b", b"\xff", b"\xff\xff\x01"]
    put_all(kv, keys)
    assert keys_of(kv.iterate(b"a\xff")) == [b"a\xff", b"a\xff\x00", b"a\xff\xff"]
    assert keys_of(kv.iterate(b"a\xff", reverse=True)) == [b"a\xff\xff", b"a\xff\x00", b"a\xff"]
    assert keys_of(kv.iterate(b"\xff")) == [b"\xff", b"\xff\xff\x01"]
    assert keys_of(kv.iterate(b"\xff\xff", reverse=True)) == [b"\xff\xff\x01"]
    assert keys_of(kv.iterate(b"a\xff", start=b"a\xff\x01")) == [b"a\xff\xff"]
    assert keys_of(kv.iterate(b"a\xff", start=b"a\xff\x01", reverse=True)) == [
        b"a\xff\x00",
        b"a\xff",
    ]


def test_iterator_does_not_see_later_writes(kv: KV) -> None:
    put_all(kv, [b"k1", b"k2", b"k3"])
    pairs = kv.iterate(b"k")
    kv.write_batch({b"k0": b"v:k0", b"k2": None, b"k4": b"v:k4"})
    assert keys_of(pairs) == [b"k1", b"k2", b"k3"]
    assert keys_of(kv.iterate(b"k")) == [b"k0", b"k1", b"k3", b"k4"]


def test_iterate_matches_a_dict_model(kv: KV) -> None:
    rng = random.Random(20240611)
    alphabet = [b"\x00", b"a", b"b", b"\xfe", b"\xff"]
    model: dict[bytes, bytes] = {}

    def random_key() -> bytes:
        return b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3)))

    for _ in range(30):
        writes = {random_key(): rng.choice([None, b"", b"x", b"y"]) for _ in range(6)}
        kv.write_batch(writes)
        for key, value in writes.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        prefix, start, reverse = (
            random_key()[:2],
            rng.choice([None, random_key()]),
            rng.random() < 0.5,
        )
        expected = sorted(
            (k, v)
            for k, v in model.items()
            if k.startswith(prefix) and (start is None or (k <= start if reverse else k >= start))
        )
        expected = expected[::-1] if reverse else expected
        assert list(kv.iterate(prefix, start=start, reverse=reverse)) == expected


# --- atomic_batch ----------------------------------------------------------------------
def test_atomic_batch_commits_on_exit(kv: KV) -> None:
    kv.write_batch({b"old": b"1"})
    with atomic_batch(kv) as writes:
        writes[b"new"] = b"2"
        writes[b"old"] = None
        assert kv.get(b"new") is None  # nothing is written before the block ends
    assert kv.get(b"new") == b"2"
    assert kv.get(b"old") is None


def test_atomic_batch_writes_nothing_when_body_raises(kv: KV) -> None:
    kv.write_batch({b"old": b"1"})
    with pytest.raises(ValueError, match="boom"), atomic_batch(kv) as writes:
        writes[b"new"] = b"2"
        writes[b"old"] = None
        raise ValueError("boom")
    assert kv.get(b"new") is None
    assert kv.get(b"old") == b"1"


# --- closing ---------------------------------------------------------------------------
def test_closed_store_raises_store_error(kv: KV) -> None:
    kv.write_batch({b"a": b"1"})
    kv.close()
    kv.close()  # closing twice is allowed
    with pytest.raises(StoreError):
        kv.get(b"a")
    with pytest.raises(StoreError):
        kv.write_batch({b"b": b"2"})
    with pytest.raises(StoreError):
        list(kv.iterate(b""))


def test_open_iterator_fails_with_store_error_after_close(kv: KV) -> None:
    put_all(kv, [b"a", b"b", b"c"])
    pairs = kv.iterate(b"")
    assert next(pairs) == (b"a", b"v:a")
    kv.close()
    with pytest.raises(StoreError):
        next(pairs)


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound(b"a") == b"b"
    assert prefix_upper_bound(b"a\xff\xff") == b"b"
    assert prefix_upper_bound(b"\x00\xfe") == b"\x00\xff"
    assert prefix_upper_bound(b"\xff\xff") is None
    assert prefix_upper_bound(b"") is None


# --- LevelKV only: persistence, open errors and the LOCK -------------------------------
def test_level_data_survives_reopen(tmp_path: Path) -> None:
    store = LevelKV(tmp_path / "a" / "b")  # missing parents are created
    store.write_batch({b"k": b"v"})
    store.close()
    store = LevelKV(tmp_path / "a" / "b", create=False)
    try:
        assert store.get(b"k") == b"v"
    finally:
        store.close()


def test_level_second_open_in_same_process_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "db"
    first = LevelKV(path)
    try:
        with pytest.raises(StoreLocked, match="is in use by another process") as caught:
            LevelKV(path)
        assert caught.value.message == f"data directory {path} is in use by another process"
        assert caught.value.data["path"] == str(path)
        assert caught.value.__cause__ is not None
    finally:
        first.close()
    LevelKV(path).close()  # the LOCK is released on close


@pytest.mark.timeout(30)
def test_level_open_held_by_other_process_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "db"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    holder = subprocess.Popen(
        [sys.executable, str(HERE / "kv_worker.py"), "hold", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "ready\n"
        with pytest.raises(StoreLocked, match=f"data directory {path} is in use by another"):
            LevelKV(path)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()
    LevelKV(path).close()  # the holder's death released the LOCK


def test_level_missing_store_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist") as caught:
        LevelKV(tmp_path / "missing", create=False)
    assert type(caught.value) is StoreError
    assert not (tmp_path / "missing").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="cannot open data directory") as caught:
        LevelKV(tmp_path / "empty", create=False)
    assert type(caught.value) is StoreError


def test_level_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(StoreError) as caught:
        LevelKV(tmp_path / "file")
    assert type(caught.value) is StoreError
    assert str(tmp_path / "file") in caught.value.message


def test_level_corrupt_current_file(tmp_path: Path) -> None:
    path = tmp_path / "db"
    LevelKV(path).close()
    (path / "CURRENT").write_bytes(b"garbage")
    with pytest.raises(StoreCorrupt, match="is corrupt"):
        LevelKV(path)


def test_kv_module_does_not_import_plyvel() -> None:
    # Only greenchain.store.leveldb may load plyvel (STYLE §11); importing kv stays cheap.
    code = "import sys, greenchain.store.kv; print('plyvel' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert result.stdout.strip() == "False"

"""Crash safety of LevelKV: a SIGKILLed writer leaves each batch wholly present or absent.

The writer is `kv_worker.py crash DIR` (see its docstring for the batch layout). The test
reads its progress lines and kills it right after line N, so the kill lands while later
batches are being written; it then reopens the store and checks all-or-nothing (DESIGN §5).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from greenchain.store.leveldb import LevelKV

HERE = Path(__file__).resolve().parent
WORKER_PATH = HERE / "kv_worker.py"
REPO_ROOT = HERE.parents[1]


def _load_worker() -> ModuleType:
    # Loaded by path so the test does not depend on pytest's import mode.
    spec = importlib.util.spec_from_file_location("kv_worker", WORKER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


def start_worker(mode: str, path: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, str(WORKER_PATH), mode, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def run_until_reported(proc: subprocess.Popen[str], first: int, last: int) -> None:
    """Block until the worker has reported batches `first` to `last`, then SIGKILL it."""
    assert proc.stdout is not None
    for expected in range(first, last + 1):
        line = proc.stdout.readline()
        assert line, f"worker ended early: {proc.stderr.read() if proc.stderr else ''}"
        assert int(line) == expected
    proc.kill()
    proc.wait()


def batch_numbers_present(store: LevelKV) -> dict[int, int]:
    """Map each batch number found under ``batch/`` to how many of its keys exist."""
    counts: dict[int, int] = {}
    for key, value in store.iterate(b"batch/"):
        batch = int(key.split(b"/")[1])
        assert value == worker.batch_value(batch)
        counts[batch] = counts.get(batch, 0) + 1
    return counts


def assert_all_or_nothing(store: LevelKV, reported: int) -> int:
    meta = store.get(b"meta")
    assert meta is not None
    last = int.from_bytes(meta, "big")
    # Every reported batch was synced before its line was printed, so it survived.
    assert last >= reported
    # Batch `last` is whole, its predecessor is whole, older ones were wholly deleted and
    # nothing of a later (torn) batch exists.
    expected = {batch: worker.BATCH_KEYS for batch in (last - 1, last) if batch >= 1}
    assert batch_numbers_present(store) == expected
    return last


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kill_after", [1, 2, 9, 33])
def test_sigkill_leaves_whole_batches(tmp_path: Path, kill_after: int) -> None:
    path = tmp_path / "db"
    proc = start_worker("crash", path)
    try:
        run_until_reported(proc, 1, kill_after)
        assert proc.returncode == -9
    finally:
        stop(proc)
    store = LevelKV(path, create=False)
    try:
        last = assert_all_or_nothing(store, kill_after)
        # The store stays usable after recovery: the next batch commits on top.
        store.write_batch(worker.batch_writes(last + 1))
        assert_all_or_nothing(store, last + 1)
    finally:
        store.close()


@pytest.mark.timeout(60)
def test_repeated_crashes_keep_the_store_consistent(tmp_path: Path) -> None:
    # The worker resumes after the batch in meta, so the invariant must hold across runs.
    path = tmp_path / "db"
    last = 0
    for more in (1, 4, 7):
        proc = start_worker("crash", path)
        try:
            run_until_reported(proc, last + 1, last + more)
            assert proc.returncode == -9
        finally:
            stop(proc)
        store = LevelKV(path, create=False)
        try:
            last = assert_all_or_nothing(store, last + more)
        finally:
            store.close()
    assert last >= 12


def test_torn_log_record_is_dropped_whole(tmp_path: Path) -> None:
    # Simulate a write cut short on disk: cut bytes off the end of LevelDB's log, which
    # then holds the last batch only in part. Recovery must drop that batch entirely.
    path = tmp_path / "db"
    store = LevelKV(path)
    for batch in (1, 2, 3):
        store.write_batch(worker.batch_writes(batch))
    store.close()  # LevelDB keeps the batches in its log until the next open
    (log,) = path.glob("*.log")
    size = log.stat().st_size
    with log.open("r+b") as handle:
        handle.truncate(size - 100)
    store = LevelKV(path, create=False)
    try:
        assert store.get(b"meta") == (2).to_bytes(8, "big")
        assert batch_numbers_present(store) == {1: worker.BATCH_KEYS, 2: worker.BATCH_KEYS}
    finally:
        store.close()

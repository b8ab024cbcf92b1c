"""`KV` on LevelDB through plyvel; the only module that imports plyvel (DESIGN §5, STYLE §11).

Each `write_batch` is one LevelDB ``WriteBatch`` written with ``sync=True``: LevelDB logs the
batch as one record and fsyncs it, so after a crash a batch is either wholly present or absent.
Every plyvel error is turned into a `StoreError` here; callers never see plyvel types.
Model: the old py-evm ``eth/db/backends/level.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import plyvel

from greenchain.errors import StoreCorrupt, StoreError, StoreLocked
from greenchain.store.kv import Writes, check_key, prefix_upper_bound

# LevelDB reports a failed flock() on <dir>/LOCK as "IO error: lock <dir>/LOCK: <reason>";
# other I/O failures on the LOCK file (permissions, not a directory) lack the "lock " word.
_LOCK_FAILURE = "IO error: lock "

LEVELDB_OPTIONS: dict[str, int | None] = {"bloom_filter_bits": 10, "compression": None}
"""Options of every LevelDB this node opens (measured on the catch-up of a 100k-tx chain).

- ``bloom_filter_bits``: a 10-bit-per-key Bloom filter per table, so a read of an absent
  key (every new transaction's replay check, most period-index reads) skips the table's
  data blocks instead of reading one per level.
- ``compression``: off. Most bytes written are hashes (map nodes, ids), which Snappy cannot
  shrink but still spends CPU on, in every compaction and on every read; turning it off
  cut the background compaction CPU of a catch-up by about three quarters, for about 10%
  more disk.

Both apply to the tables LevelDB writes from then on; older tables are read as they are.
"""


def _plyvel_text(error: BaseException) -> str:
    # plyvel puts LevelDB's status string in args[0] as bytes.
    detail = error.args[0] if error.args else error
    if isinstance(detail, bytes):
        return detail.decode("utf-8", "replace")
    return str(detail)


def _open_error(path: str, error: Exception) -> StoreError:
    text = _plyvel_text(error)
    if isinstance(error, plyvel.IOError) and text.startswith(_LOCK_FAILURE):
        return StoreLocked(f"data directory {path} is in use by another process", path=path)
    if isinstance(error, plyvel.CorruptionError):
        return StoreCorrupt(f"data directory {path} is corrupt: {text}", path=path)
    return StoreError(f"cannot open data directory {path}: {text}", path=path)


def _store_error(path: str, error: Exception) -> StoreError:
    """Return the `StoreError` for what plyvel raised during a read or a write."""
    if isinstance(error, plyvel.CorruptionError):
        return StoreCorrupt(f"data directory {path} is corrupt: {_plyvel_text(error)}",
                            path=path)
    if isinstance(error, plyvel.Error):
        return StoreError(f"store {path} failed: {_plyvel_text(error)}", path=path)
    # plyvel raises RuntimeError when the database or an iterator was closed under us.
    return StoreError(f"store {path} is closed", path=path)


_PLYVEL_ERRORS = (plyvel.Error, RuntimeError)
"""What plyvel raises on reads and writes (`_store_error` maps each to a `StoreError`)."""


@contextmanager
def _mapped_errors(path: str) -> Iterator[None]:
    """Turn what plyvel raises during reads and writes into `StoreError`."""
    try:
        yield
    except _PLYVEL_ERRORS as error:
        raise _store_error(path, error) from error


class LevelKV:
    """`KV` backed by a LevelDB directory.

    Parameters
    ----------
    path:
        The data directory; with `create`, it and its missing parents are created.
    create:
        Create the database when absent; otherwise a missing database is an error.

    Raises
    ------
    StoreLocked
        Another process (or another `LevelKV` in this one) holds the directory's LOCK.
    StoreCorrupt
        LevelDB reports corruption on open.
    StoreError
        Any other failure to open (missing database without `create`, not a directory, ...).
    """

    def __init__(self, path: str | os.PathLike[str], create: bool = True) -> None:
        self._path = os.fspath(path)
        self._db = self._open(create)
        self._closed = False

    def _open(self, create: bool) -> Any:
        if create:
            try:
                Path(self._path).mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(
                    f"cannot create data directory {self._path}: {error}", path=self._path
                ) from error
        elif not os.path.isdir(self._path):
            # LevelDB would create the directory before failing; leave no trace of a typo.
            raise StoreError(f"data directory {self._path} does not exist", path=self._path)
        try:
            return plyvel.DB(self._path, create_if_missing=create, **LEVELDB_OPTIONS)
        except plyvel.Error as error:
            raise _open_error(self._path, error) from error

    @property
    def path(self) -> str:
        """The data directory this store was opened on."""
        return self._path

    def get(self, key: bytes) -> bytes | None:
        """Return the value under `key`, or None (see `KV.get`)."""
        # The hottest call of the node (every state read): the checks are inlined and
        # errors mapped by a plain try, since a context manager per read cost more than
        # the LevelDB lookup itself.
        if type(key) is not bytes:
            check_key(key)
        if self._closed:
            self._check_open()
        try:
            value: bytes | None = self._db.get(key)
        except _PLYVEL_ERRORS as error:
            raise _store_error(self._path, error) from error
        return value

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield the pairs under `prefix` from `start`, lazily (see `KV.iterate`).

        The plyvel iterator (and with it LevelDB's implicit snapshot) is created at the call,
        not at the first ``next()``, so writes made after the call are never seen.
        """
        check_key(prefix)
        if start is not None:
            check_key(start)
        self._check_open()
        with _mapped_errors(self._path):
            raw = self._db.iterator(reverse=reverse, **_bounds(prefix, start, reverse))
        return self._drain(raw, prefix)

    def _drain(self, raw: Any, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        try:
            with _mapped_errors(self._path):
                for key, value in raw:
                    # Bounds already hold the scan inside the prefix; this guards the edges.
                    if not key.startswith(prefix):
                        return
                    yield key, value
        finally:
            with _mapped_errors(self._path):
                raw.close()

    def write_batch(self, writes: Writes) -> None:
        """Write all of `writes` in one synced LevelDB batch (see `KV.write_batch`)."""
        self._check_open()
        # One pass: the plyvel batch is the private copy `check_writes` would make, and a
        # type error drops it unwritten, so nothing of a refused write set reaches disk.
        try:
            batch = self._db.write_batch(sync=True)
            put, delete = batch.put, batch.delete
            for key, value in writes.items():
                if type(key) is not bytes:
                    check_key(key)
                if value is None:
                    delete(key)
                elif type(value) is bytes:
                    put(key, value)
                else:
                    raise TypeError(f"store values must be bytes or None, "
                                    f"not {type(value).__name__}")
            batch.write()
        except _PLYVEL_ERRORS as error:
            raise _store_error(self._path, error) from error

    def close(self) -> None:
        """Close the database and release its LOCK (see `KV.close`)."""
        if not self._closed:
            self._closed = True
            with _mapped_errors(self._path):
                self._db.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self._path} is closed", path=self._path)


def _bounds(prefix: bytes, start: bytes | None, reverse: bool) -> dict[str, bytes | bool]:
    """Return plyvel ``iterator()`` keyword bounds for a prefix scan from `start`.

    plyvel's own ``prefix=`` cannot be combined with ``start``/``stop``, so the prefix is
    expressed as the range ``[prefix, prefix_upper_bound(prefix))``, narrowed by `start`.
    """
    low: bytes = prefix
    high = prefix_upper_bound(prefix)
    bounds: dict[str, bytes | bool] = {}
    if start is not None and reverse and (high is None or start < high):
        bounds["stop"], bounds["include_stop"] = start, True
    elif high is not None:
        bounds["stop"] = high
    if start is not None and not reverse:
        low = max(low, start)
    bounds["start"] = low
    return bounds

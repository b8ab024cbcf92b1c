"""The bytes key-value interface of the store and its in-memory backend (DESIGN §5, STYLE §11).

Everything above the backends speaks `KV`: point reads, ordered prefix scans and one atomic,
durable write batch. `MemoryKV` serves tests and the pure layers; `greenchain.store.leveldb.LevelKV`
serves the node. Both pass one conformance suite (model: py-evm ``eth/db/atomic.py`` and
``eth/tools/db/base.py: DatabaseAPITestSuite``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

from greenchain.errors import StoreError

Writes = Mapping[bytes, bytes | None]
"""A write set: key -> new value, or None to delete the key."""


class KV(Protocol):
    """A sorted bytes-to-bytes store with atomic batches.

    Keys and values are `bytes` (any length, any byte values, the empty key included).
    Order is plain lexicographic byte order, as LevelDB's default comparator.
    """

    def get(self, key: bytes) -> bytes | None:
        """Return the value stored under `key`, or None when absent.

        Raises
        ------
        StoreError
            The store is closed or unreadable.
        """
        ...

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield the ``(key, value)`` pairs whose key starts with `prefix`, in byte order.

        Parameters
        ----------
        prefix:
            Only keys beginning with these bytes are yielded; ``b""`` selects every key.
        start:
            Forward: the first key yielded is the smallest one ``>= start``. Reverse: the
            first key yielded is the largest one ``<= start``. None: from the prefix's end.
        reverse:
            Yield in descending key order.

        Returns
        -------
        Iterator[tuple[bytes, bytes]]
            A view of the store as of the call; later writes do not show in it.

        Raises
        ------
        StoreError
            The store is closed (also while the iterator is being consumed).
        """
        ...

    def write_batch(self, writes: Writes) -> None:
        """Apply every write at once, durably (fsync): after a crash all or none are present.

        Parameters
        ----------
        writes:
            Key -> value to put, or None to delete the key (deleting an absent key is a no-op).

        Raises
        ------
        StoreError
            The store is closed or the write failed; nothing was written.
        """
        ...

    def close(self) -> None:
        """Release the store; later calls raise `StoreError`. Closing twice is allowed."""
        ...


def check_key(key: object) -> bytes:
    """Return `key` if it is `bytes`.

    Both backends reject the same inputs, so a bug that would fail on disk also fails in
    memory.

    Raises
    ------
    TypeError
        `key` is not `bytes` (bytearray and memoryview included: keys must be immutable).
    """
    if type(key) is not bytes:
        raise TypeError(f"store keys must be bytes, not {type(key).__name__}")
    return key


def check_writes(writes: Writes) -> dict[bytes, bytes | None]:
    """Check a write set's types and return a private copy of it.

    Parameters
    ----------
    writes:
        Key -> value or None (delete).

    Returns
    -------
    dict[bytes, bytes | None]
        The same writes, copied so a caller mutating its mapping cannot change the batch.

    Raises
    ------
    TypeError
        A key is not `bytes`, or a value is neither `bytes` nor None.
    """
    checked: dict[bytes, bytes | None] = {}
    for key, value in writes.items():
        if value is not None and type(value) is not bytes:
            raise TypeError(f"store values must be bytes or None, not {type(value).__name__}")
        checked[check_key(key)] = value
    return checked


def prefix_upper_bound(prefix: bytes) -> bytes | None:
    r"""Return the smallest key greater than every key starting with `prefix`.

    Parameters
    ----------
    prefix:
        Key prefix, e.g. ``b"a\xff"``.

    Returns
    -------
    bytes | None
        ``b"b"`` for ``b"a\xff"``; None when no such key exists (empty or all-0xff prefix).
    """
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class MemoryKV:
    """`KV` held in memory: a dict for values plus a sorted list of keys for scans.

    Not durable; `write_batch` is atomic because it checks everything before changing
    anything. The standard library's `bisect` keeps the keys sorted (sortedcontainers
    only comes with the test extras and ships no type information).
    """

    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []
        self._closed = False

    def get(self, key: bytes) -> bytes | None:
        """Return the value under `key`, or None (see `KV.get`)."""
        self._check_open()
        return self._values.get(check_key(key))

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield the pairs under `prefix` from `start` (see `KV.iterate`)."""
        self._check_open()
        low, high = self._index_range(check_key(prefix), start, reverse)
        # Copy the slice now: the iterator must not see writes made while it is consumed.
        keys = self._keys[low:high]
        if reverse:
            keys.reverse()
        pairs = [(key, self._values[key]) for key in keys]
        return self._yield_while_open(pairs)

    def write_batch(self, writes: Writes) -> None:
        """Apply all writes at once (see `KV.write_batch`)."""
        self._check_open()
        for key, value in check_writes(writes).items():
            if value is None:
                self._delete(key)
            else:
                self._put(key, value)

    def close(self) -> None:
        """Mark the store closed (see `KV.close`)."""
        self._closed = True

    def _index_range(self, prefix: bytes, start: bytes | None, reverse: bool) -> tuple[int, int]:
        low = bisect.bisect_left(self._keys, prefix)
        bound = prefix_upper_bound(prefix)
        high = len(self._keys) if bound is None else bisect.bisect_left(self._keys, bound)
        if start is not None and reverse:
            high = min(high, bisect.bisect_right(self._keys, check_key(start)))
        elif start is not None:
            low = max(low, bisect.bisect_left(self._keys, check_key(start)))
        return low, max(low, high)

    def _yield_while_open(self, pairs: list[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
        for pair in pairs:
            self._check_open()
            yield pair

    def _put(self, key: bytes, value: bytes) -> None:
        if key not in self._values:
            bisect.insort(self._keys, key)
        self._values[key] = value

    def _delete(self, key: bytes) -> None:
        if self._values.pop(key, None) is not None:
            del self._keys[bisect.bisect_left(self._keys, key)]

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the in-memory store is closed")


@contextmanager
def atomic_batch(kv: KV) -> Iterator[dict[bytes, bytes | None]]:
    """Collect writes in a dict and commit them in one `KV.write_batch` when the block exits.

    Parameters
    ----------
    kv:
        The store to commit to.

    Yields
    ------
    dict[bytes, bytes | None]
        An empty write set to fill: key -> value, or None to delete. Reads through `kv`
        inside the block do not see these writes yet.

    Raises
    ------
    StoreError
        The commit failed (nothing was written).
    TypeError
        A key or value in the write set is not bytes.

    Notes
    -----
    If the block raises, nothing is written and the exception propagates. An empty write set
    commits nothing (no fsync). Model: py-evm ``eth/db/atomic.py``; DESIGN §5 (one batch per
    height).
    """
    writes: dict[bytes, bytes | None] = {}
    yield writes
    if writes:
        kv.write_batch(writes)

"""Child process for the store tests: `crash DIR` writes batches forever, `hold DIR` keeps the lock.

crash: resumes after the batch in ``meta`` (as a node resumes from its stored height).
Batch n puts BATCH_KEYS keys ``batch/<n>/<i>`` and ``meta``, all holding n, and deletes the
keys of batch n - 2; after each batch it prints n. The parent kills it with SIGKILL.
hold: opens the store, prints "ready" and keeps it open until its stdin closes.
"""

from __future__ import annotations

import sys

from greenchain.store.leveldb import LevelKV

BATCH_KEYS = 50
PADDING = bytes(range(256)) * 4  # 1 KiB per value, so a batch spans several log blocks


def batch_key(batch: int, index: int) -> bytes:
    return b"batch/%08d/%02d" % (batch, index)


def batch_value(batch: int) -> bytes:
    return batch.to_bytes(8, "big") + PADDING


def batch_writes(batch: int) -> dict[bytes, bytes | None]:
    writes: dict[bytes, bytes | None] = {b"meta": batch.to_bytes(8, "big")}
    for index in range(BATCH_KEYS):
        writes[batch_key(batch, index)] = batch_value(batch)
        if batch > 2:
            writes[batch_key(batch - 2, index)] = None
    return writes


def crash(path: str) -> None:
    store = LevelKV(path)
    meta = store.get(b"meta")
    batch = 0 if meta is None else int.from_bytes(meta, "big")
    while True:
        batch += 1
        store.write_batch(batch_writes(batch))
        print(batch, flush=True)


def hold(path: str) -> None:
    store = LevelKV(path)
    print("ready", flush=True)
    sys.stdin.read()
    store.close()


if __name__ == "__main__":
    {"crash": crash, "hold": hold}[sys.argv[1]](sys.argv[2])

"""Evidence is kept per validator up to a bound, so an endless equivocator cannot fill the disk."""

from __future__ import annotations

from greenchain.store.chain import EVIDENCE_PER_VALIDATOR, ChainStore
from greenchain.store.kv import MemoryKV


def test_evidence_is_idempotent_and_bounded_per_validator() -> None:
    store = ChainStore(MemoryKV())
    liar, other = b"\x01" * 32, b"\x02" * 32
    digests = [i.to_bytes(32, "big") for i in range(EVIDENCE_PER_VALIDATOR + 5)]
    stored = [store.add_evidence(liar, d, [liar, i]) for i, d in enumerate(digests)]
    assert stored == [True] * EVIDENCE_PER_VALIDATOR + [False] * 5
    assert store.add_evidence(liar, digests[0], [liar, 0])  # already held: still True
    assert store.add_evidence(other, digests[0], [other, 0])  # another validator has room
    records = store.evidence()
    assert len(records) == EVIDENCE_PER_VALIDATOR + 1
    assert sum(1 for r in records if r[0] == liar) == EVIDENCE_PER_VALIDATOR

"""The mempool (DESIGN §3): admission against committed state plus the pool, eviction."""

from __future__ import annotations

import pytest
from helpers.ledger_builders import (
    ALICE,
    BOB,
    CAROL,
    CHAIN_ID,
    GATEWAY,
    HOUR0,
    ISSUING_BODIES,
    NOW_MS,
    WT1,
    WT2,
    Chain,
    attest,
    bad_signature,
    set_up_chain,
    sign,
    transfer,
)

import greenchain.mempool as mempool_module
from greenchain.crypto.hashing import sha256
from greenchain.errors import (
    BadSignature,
    NotOwner,
    PeriodInFuture,
    PeriodOverlap,
    PoolFull,
    ReplayedTransaction,
    WrongChain,
)
from greenchain.ledger.checks import check_tx_static
from greenchain.ledger.view import get_bundle, get_device
from greenchain.mempool import Mempool
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.transactions import Tx, make_tx
from greenchain.params import MAX_CLOCK_SKEW_S

FIRST = compute_bundle_id(WT1, 0, 1000)


def issued_chain() -> Chain:
    """Registrations in block 1 and a 1000 Wh bundle [0, 1000) of WT1 (alice) in block 2."""
    chain = set_up_chain()
    chain.extend([sign(GATEWAY, attest(WT1, HOUR0, HOUR0 + 600, 1000))])
    return chain


def pool_for(chain: Chain, max_txs: int = 1000) -> Mempool:
    return Mempool(chain.state, CHAIN_ID, ISSUING_BODIES, None, chain.tip.height + 1, max_txs)


def admit_all(pool: Mempool, txs: list[Tx]) -> None:
    for tx in txs:
        assert pool.admit(tx, NOW_MS) is True


def refused(pool: Mempool, tx: Tx, error: type[Exception]) -> None:
    """Assert `tx` is refused with exactly `error` and the pool is unchanged."""
    pending, writes = dict(pool.pending), dict(pool.overlay.writes)
    with pytest.raises(error) as info:
        pool.admit(tx, NOW_MS)
    assert type(info.value) is error
    assert pool.pending == pending and pool.overlay.writes == writes
    assert tx.tx_id not in pool


# --- admission ------------------------------------------------------------------------
def test_admit_in_arrival_order() -> None:
    pool = pool_for(issued_chain())
    txs = [sign(GATEWAY, attest(WT2, HOUR0, HOUR0 + 600, 10)),
           sign(ALICE, transfer(FIRST, 10, BOB)),
           sign(GATEWAY, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 10))]
    admit_all(pool, txs)
    assert len(pool) == 3 and all(tx.tx_id in pool for tx in txs)
    assert pool.candidates(10, 1 << 20) == txs


def test_attestation_overlapping_a_pending_one_is_refused_at_once() -> None:
    pool = pool_for(issued_chain())
    admit_all(pool, [sign(GATEWAY, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 10))])
    refused(pool, sign(GATEWAY, attest(WT1, HOUR0 + 900, HOUR0 + 1500, 10)), PeriodOverlap)
    # Overlap with committed state is refused too.
    refused(pool, sign(GATEWAY, attest(WT1, HOUR0 + 300, HOUR0 + 700, 10)), PeriodOverlap)
    assert len(pool) == 1


def test_transfer_of_wh_a_pending_transfer_moves_is_refused() -> None:
    pool = pool_for(issued_chain())
    admit_all(pool, [sign(ALICE, transfer(FIRST, 1000, BOB))])
    refused(pool, sign(ALICE, transfer(FIRST, 1, CAROL)), NotOwner)


def test_duplicate_submission_is_a_safe_retry() -> None:
    chain = issued_chain()
    pool = pool_for(chain)
    tx = sign(GATEWAY, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 70))
    assert pool.admit(tx, NOW_MS) is True
    writes = dict(pool.overlay.writes)
    assert pool.admit(tx, NOW_MS) is False
    assert len(pool) == 1 and pool.candidates(10, 1 << 20) == [tx]
    assert pool.overlay.writes == writes
    # Applied once: the device's pending counter grew by 70 Wh, not 140.
    device = get_device(pool.overlay, WT1)
    assert device is not None and device.issued_wh == 1070


def test_committed_tx_resubmitted_is_a_replay() -> None:
    chain = issued_chain()
    tx = sign(ALICE, transfer(FIRST, 5, BOB))
    chain.extend([tx])
    refused(pool_for(chain), tx, ReplayedTransaction)


def test_pool_full_at_capacity() -> None:
    pool = pool_for(issued_chain(), max_txs=2)
    first, second = (sign(GATEWAY, attest(WT1, HOUR0 + 600 * i, HOUR0 + 600 * (i + 1), 1))
                     for i in (1, 2))
    admit_all(pool, [first, second])
    err_tx = sign(GATEWAY, attest(WT1, HOUR0 + 1800, HOUR0 + 2400, 1))
    refused(pool, err_tx, PoolFull)
    # A retry of something already held is answered, not refused, even when full.
    assert pool.admit(first, NOW_MS) is False


def test_admission_clock_allows_the_skew() -> None:
    pool = pool_for(issued_chain())
    now_s = NOW_MS // 1000
    end_ok = now_s + MAX_CLOCK_SKEW_S
    admit_all(pool, [sign(GATEWAY, attest(WT2, end_ok - 1, end_ok, 1))])
    refused(pool, sign(GATEWAY, attest(WT2, end_ok, end_ok + 1, 1)), PeriodInFuture)


# --- signatures -----------------------------------------------------------------------
def test_bad_signature_refused() -> None:
    pool = pool_for(issued_chain())
    forged = bad_signature(sign(ALICE, transfer(FIRST, 10, BOB)))
    refused(pool, forged, BadSignature)
    assert sha256(forged.raw) not in pool.verified


def test_wrong_chain_refused() -> None:
    pool = pool_for(issued_chain())
    refused(pool, make_tx(ALICE, "other-chain", transfer(FIRST, 10, BOB), 1), WrongChain)


def count_static_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    def counting(tx: Tx, chain_id: str) -> None:
        calls.append(tx.tx_id)
        check_tx_static(tx, chain_id)

    monkeypatch.setattr(mempool_module, "check_tx_static", counting)
    return calls


def test_signature_verified_once_per_envelope(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_static_checks(monkeypatch)
    chain = issued_chain()
    pool = pool_for(chain)
    blocker = sign(GATEWAY, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 5))
    late = sign(GATEWAY, attest(WT1, HOUR0 + 900, HOUR0 + 1000, 5))
    keep = sign(GATEWAY, attest(WT2, HOUR0, HOUR0 + 600, 5))
    admit_all(pool, [blocker, keep])
    refused(pool, late, PeriodOverlap)
    refused(pool, late, PeriodOverlap)  # a resubmission: stateful check again, no signature check
    assert pool.admit(keep, NOW_MS) is False
    assert calls == [blocker.tx_id, keep.tx_id, late.tx_id]
    # Re-checking the rest after a commit does not verify signatures again.
    built = chain.build([blocker])
    chain.commit(built)
    pool.on_commit(chain.state, built.block.txs, chain.tip.height + 1, NOW_MS)
    assert keep.tx_id in pool
    assert calls == [blocker.tx_id, keep.tx_id, late.tx_id]


# --- after a commit -------------------------------------------------------------------
def test_on_commit_drops_included_and_evicts_what_now_fails() -> None:
    chain = issued_chain()
    pool = pool_for(chain)
    mine = sign(GATEWAY, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 5))
    to_bob = sign(ALICE, transfer(FIRST, 1000, BOB))
    still_fine = sign(GATEWAY, attest(WT2, HOUR0, HOUR0 + 600, 5))
    admit_all(pool, [mine, to_bob, still_fine])
    # Another proposer's block includes our attestation and a conflicting transfer we never saw.
    to_carol = sign(ALICE, transfer(FIRST, 1000, CAROL))
    built = chain.build([mine, to_carol])
    assert not built.rejected
    chain.commit(built)
    evicted = pool.on_commit(chain.state, built.block.txs, chain.tip.height + 1, NOW_MS)
    assert [(tx, type(exc)) for tx, exc in evicted] == [(to_bob, NotOwner)]
    assert list(pool.pending) == [still_fine.tx_id]
    assert pool.next_height == chain.tip.height + 1
    assert sha256(mine.raw) not in pool.verified
    # The pool's overlay now sits on the new state plus what is still pending.
    bundle = get_bundle(pool.overlay, FIRST)
    assert bundle is not None and bundle.owner == CAROL.public
    device = get_device(pool.overlay, WT2)
    assert device is not None and device.issued_wh == 5
    # The evicted transfer can no longer be admitted; the included one is now a replay.
    refused(pool, to_bob, NotOwner)
    refused(pool, mine, ReplayedTransaction)


def test_on_commit_evicts_an_attestation_overlapping_a_committed_one() -> None:
    chain = issued_chain()
    pool = pool_for(chain)
    pending = sign(GATEWAY, attest(WT2, HOUR0, HOUR0 + 600, 5))
    admit_all(pool, [pending])
    rival = sign(GATEWAY, attest(WT2, HOUR0 + 300, HOUR0 + 400, 1))
    chain.extend([rival])
    evicted = pool.on_commit(chain.state, [rival], chain.tip.height + 1, NOW_MS)
    assert [(tx.tx_id, exc.rule) for tx, exc in evicted] == [(pending.tx_id, "period_overlap")]
    assert len(pool) == 0


def test_candidates_respect_block_limits() -> None:
    pool = pool_for(issued_chain())
    txs = [sign(GATEWAY, attest(WT2, HOUR0 + 60 * i, HOUR0 + 60 * (i + 1), 1)) for i in range(5)]
    admit_all(pool, txs)
    assert pool.candidates(3, 1 << 20) == txs[:3]
    size = len(txs[0].raw) + len(txs[1].raw)
    assert pool.candidates(10, size) == txs[:2]
    assert pool.candidates(10, size - 1) == txs[:1]


def test_commit_of_the_pool_prefix_keeps_pending_state_without_a_recheck(
        monkeypatch: pytest.MonkeyPatch) -> None:
    chain = issued_chain()
    pool = pool_for(chain)
    first = sign(GATEWAY, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 10))
    second = sign(GATEWAY, attest(WT1, HOUR0 + 1200, HOUR0 + 1800, 10))
    admit_all(pool, [first, second])
    built = chain.build([first])
    chain.commit(built)
    rechecks: list[int] = []
    monkeypatch.setattr(Mempool, "_recheck", lambda self, view, now: rechecks.append(1) or [])
    assert pool.on_commit(chain.state, built.block.txs, 3, NOW_MS) == []
    assert rechecks == [] and list(pool.pending) == [second.tx_id]
    # The kept pending state still refuses what overlaps the remaining pending attestation.
    refused(pool, sign(GATEWAY, attest(WT1, HOUR0 + 1500, HOUR0 + 1600, 10)), PeriodOverlap)
    # A block that is not the pool's prefix forces the re-check.
    other = sign(GATEWAY, attest(WT2, HOUR0 + 600, HOUR0 + 1200, 10))
    built = chain.build([other])
    chain.commit(built)
    pool.on_commit(chain.state, built.block.txs, 4, NOW_MS)
    assert rechecks == [1]

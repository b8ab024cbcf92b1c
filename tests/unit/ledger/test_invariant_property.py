"""The serial-range invariant of DESIGN §2 under random blocks, and its checker.

Random attestations (devices, periods, energies; some overlapping, too long, over
capacity or in the future), transfers and retirements (of random bundles, whole, partial,
zero or too large; now and then by the wrong signer) among three accounts are built into
blocks of random sizes by `build_block`, as a proposer would. After every block:
`check_serial_partition` holds, the leaf bundles hold exactly the Wh issued, and
`apply_block` of the built block on a fresh copy of the pre-state gives the same result.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache

import pytest
from helpers.ledger_builders import (
    ALICE,
    BOB,
    CAROL,
    GATEWAY,
    HOUR0,
    ISSUER,
    Chain,
    block_env,
    register_device,
    retire,
    set_up_chain,
    sign,
    transfer,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenchain.crypto.keys import KeyPair
from greenchain.errors import InvariantViolation
from greenchain.ledger.blocks import ChainTip, apply_block
from greenchain.ledger.invariants import (
    check_serial_partition,
    check_state_serial_partition,
    compute_issued_wh_by_device,
    iterate_state_bundles,
)
from greenchain.ledger.view import MemoryState, Overlay, device_key, get_device, put_record
from greenchain.model.blocks import Commit
from greenchain.model.certificates import ACTIVE, RETIRED, SPLIT, Bundle, compute_bundle_id
from greenchain.model.transactions import Attest, Tx, make_tx

ACCOUNTS = (ALICE, BOB, CAROL)
DEVICES = ("WT1", "WT2", "WT3")
"""WT1 (alice) and WT2 (bob) have 2.05 MW; WT3 (carol) has 3600 W, so 1 Wh per second."""
HOURS = 51
"""Production hours 0..47 lie before genesis; hours 48..50 end after every block time here."""
AMOUNT_KINDS = ("whole", "part", "part", "over", "zero")


@dataclass(frozen=True)
class AttestOp:
    device: int
    hour: int
    start_min: int
    length_min: int
    energy_wh: int


@dataclass(frozen=True)
class MoveOp:
    retire: bool
    pick: int
    leaf_only: bool
    amount_kind: str
    amount_raw: int
    receiver: int
    wrong_signer: bool


Op = AttestOp | MoveOp


@lru_cache(maxsize=1)
def base_chain() -> tuple[dict[bytes, bytes], ChainTip, Commit | None]:
    """Block 1: accounts and WT1, WT2; block 2: WT3. Cached, copied per example."""
    chain = set_up_chain()
    chain.extend([sign(ISSUER, register_device("WT3", CAROL, capacity_w=3600))])
    return dict(chain.state.data), chain.tip, chain.last_commit


def fresh_chain() -> Chain:
    data, tip, last_commit = base_chain()
    return Chain(MemoryState(dict(data)), tip, block_env(), last_commit)


def pick_amount(kind: str, raw: int, quantity: int) -> int:
    if kind == "whole":
        return quantity
    if kind == "part":
        return 1 + raw % max(quantity - 1, 1)
    if kind == "over":
        return quantity + 1 + raw % 5
    return 0


def owner_key(bundle: Bundle) -> KeyPair:
    return next(key for key in ACCOUNTS if key.public == bundle.owner)


def move_tx(op: MoveOp, state: MemoryState, nonce: int) -> Tx | None:
    """A transfer or retirement of a bundle chosen among the committed ones (None if none)."""
    stored = list(iterate_state_bundles(state))
    choices = [b for b in stored if b.status != SPLIT] if op.leaf_only else stored
    if not choices:
        return None
    bundle = choices[op.pick % len(choices)]
    amount = pick_amount(op.amount_kind, op.amount_raw, bundle.quantity_wh)
    signer = owner_key(bundle)
    if op.wrong_signer:
        signer = ACCOUNTS[(ACCOUNTS.index(signer) + 1) % len(ACCOUNTS)]
    body = (retire(bundle.bundle_id, amount) if op.retire
            else transfer(bundle.bundle_id, amount, ACCOUNTS[op.receiver]))
    return make_tx(signer, "greenchain-test", body, nonce)


def attest_tx(op: AttestOp, nonce: int) -> Tx:
    start = HOUR0 + op.hour * 3600 + op.start_min * 60
    body = Attest(DEVICES[op.device], start, start + op.length_min * 60, op.energy_wh)
    return make_tx(GATEWAY, "greenchain-test", body, nonce)


def block_txs(ops: list[Op], state: MemoryState, nonces: itertools.count[int]) -> list[Tx]:
    txs = []
    for op in ops:
        tx = (attest_tx(op, next(nonces)) if isinstance(op, AttestOp)
              else move_tx(op, state, next(nonces)))
        if tx is not None:
            txs.append(tx)
    return txs


def assert_invariants(state: MemoryState) -> None:
    check_state_serial_partition(state)
    leaves = [b for b in iterate_state_bundles(state) if b.status != SPLIT]
    issued = compute_issued_wh_by_device(state)
    assert sum(b.quantity_wh for b in leaves) == sum(issued.values())
    assert all(b.status in (ACTIVE, RETIRED) for b in leaves)


def run_blocks(blocks: list[list[Op]]) -> Counter[str]:
    """Build, re-apply and commit each block; check the invariants after each. Returns stats."""
    chain = fresh_chain()
    nonces = itertools.count(1)
    stats: Counter[str] = Counter()
    for ops in blocks:
        pre_state, pre_tip = chain.copy_state(), chain.tip
        txs = block_txs(ops, chain.state, nonces)
        built = chain.build(txs)
        # The proposer accounts for every candidate: included or rejected with a rule.
        assert len(built.block.txs) + len(built.rejected) == len(txs)
        replayed = apply_block(pre_state, built.block, pre_tip, chain.env)
        assert replayed == built.result
        chain.commit(built)
        assert_invariants(chain.state)
        stats.update(tx.type for tx in built.block.txs)
        stats.update(exc.rule for _, exc in built.rejected)
    stats.update(b.status for b in iterate_state_bundles(chain.state))
    return stats


attest_ops = st.builds(
    AttestOp,
    device=st.integers(0, len(DEVICES) - 1),
    hour=st.integers(0, HOURS - 1),
    start_min=st.integers(0, 59),
    length_min=st.integers(1, 60),
    energy_wh=st.integers(-1, 3000),
)
move_ops = st.builds(
    MoveOp,
    retire=st.booleans(),
    pick=st.integers(0, 1000),
    leaf_only=st.integers(0, 9).map(lambda n: n > 0),
    amount_kind=st.sampled_from(AMOUNT_KINDS),
    amount_raw=st.integers(0, 10_000),
    receiver=st.integers(0, len(ACCOUNTS) - 1),
    wrong_signer=st.integers(0, 19).map(lambda n: n == 0),
)
blocks_of_ops = st.lists(st.lists(st.one_of(attest_ops, move_ops, move_ops), max_size=8),
                         min_size=1, max_size=6)


@settings(max_examples=100, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(blocks_of_ops)
def test_serial_partition_holds_after_every_block(blocks: list[list[Op]]) -> None:
    run_blocks(blocks)  # asserts the invariants after every block


def random_ops(rng: random.Random, count: int) -> list[Op]:
    ops: list[Op] = []
    for _ in range(count):
        if rng.random() < 0.4:
            ops.append(AttestOp(rng.randrange(3), rng.randrange(HOURS), rng.randrange(60),
                                rng.randint(1, 60), rng.randint(-1, 3000)))
        else:
            ops.append(MoveOp(rng.random() < 0.4, rng.randrange(1000), rng.random() < 0.9,
                              rng.choice(AMOUNT_KINDS), rng.randrange(10_000), rng.randrange(3),
                              rng.random() < 0.05))
    return ops


def test_random_chain_exercises_every_path() -> None:
    # One long fixed-seed run, to show the generator reaches the interesting cases.
    rng = random.Random(20150301)
    stats = run_blocks([random_ops(rng, rng.randint(0, 12)) for _ in range(40)])
    for accepted in ("attest", "transfer", "retire", "split", "retired"):
        assert stats[accepted] > 0, accepted
    for rule in ("period_overlap", "invalid_period", "over_capacity", "invalid_amount",
                 "amount_exceeds_remaining", "bundle_not_active", "not_owner",
                 "period_in_future"):
        assert stats[rule] > 0, rule


# --- the checker itself ---------------------------------------------------------------
def leaf(device: str, start: int, end: int, status: str = ACTIVE) -> Bundle:
    bundle_id = compute_bundle_id(device, start, end)
    return Bundle(bundle_id, device, start, end, HOUR0, HOUR0 + 600, ALICE.public, status,
                  b"\x00" * 32, 1, b"", b"\x00" * 32, None)


def violation(bundles: list[Bundle], issued: dict[str, int]) -> InvariantViolation:
    with pytest.raises(InvariantViolation) as info:
        check_serial_partition(bundles, issued)
    return info.value


def test_checker_accepts_a_partition() -> None:
    parts = [leaf("D", 0, 300, RETIRED), leaf("D", 300, 1000), leaf("D", 0, 1000, SPLIT),
             leaf("E", 0, 5)]
    check_serial_partition(parts, {"D": 1000, "E": 5, "F": 0})


def test_checker_catches_a_gap() -> None:
    err = violation([leaf("D", 0, 300), leaf("D", 400, 1000)], {"D": 1000})
    assert (err.device_id, err.kind, err.at) == ("D", "gap", 300)  # type: ignore[attr-defined]


def test_checker_catches_a_missing_tail_and_a_missing_device() -> None:
    err = violation([leaf("D", 0, 300)], {"D": 1000})
    assert (err.kind, err.at) == ("gap", 300)  # type: ignore[attr-defined]
    err = violation([], {"D": 10})
    assert (err.kind, err.at) == ("gap", 0)  # type: ignore[attr-defined]


def test_checker_catches_an_overlap() -> None:
    err = violation([leaf("D", 0, 600), leaf("D", 500, 1000)], {"D": 1000})
    assert (err.device_id, err.kind, err.at) == ("D", "overlap", 500)  # type: ignore[attr-defined]


def test_checker_catches_a_split_parent_left_active() -> None:
    # A split that forgot to mark its parent: parent and children all count as leaves.
    err = violation([leaf("D", 0, 1000), leaf("D", 0, 300), leaf("D", 300, 1000)], {"D": 1000})
    assert err.kind == "overlap"  # type: ignore[attr-defined]


def test_checker_catches_over_issue_empty_range_and_unknown_device() -> None:
    assert violation([leaf("D", 0, 1000)], {"D": 900}).kind == "overlap"  # type: ignore[attr-defined]
    assert violation([leaf("D", 0, 0)], {"D": 0}).kind == "empty"  # type: ignore[attr-defined]
    err = violation([leaf("X", 0, 1)], {"D": 0})
    assert (err.device_id, err.kind) == ("X", "unknown_device")  # type: ignore[attr-defined]


def test_checker_on_a_tampered_state() -> None:
    chain = fresh_chain()
    built = chain.build([make_tx(GATEWAY, "greenchain-test", Attest("WT1", HOUR0, HOUR0 + 600,
                                                                    1000), 1)])
    chain.commit(built)
    check_state_serial_partition(chain.state)
    # Bump the device's issued counter by hand: the state now claims Wh no bundle holds.
    device = get_device(chain.state, "WT1")
    assert device is not None
    overlay = Overlay(chain.state)
    put_record(overlay, device_key("WT1"), replace(device, issued_wh=1001))
    chain.state.apply(overlay.writes)
    with pytest.raises(InvariantViolation) as info:
        check_state_serial_partition(chain.state)
    assert (info.value.device_id, info.value.kind) == ("WT1", "gap")  # type: ignore[attr-defined]

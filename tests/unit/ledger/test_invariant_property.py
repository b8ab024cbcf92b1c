"""The serial-range invariant of DESIGN §2 under random blocks, and its checker.

Random attestations (devices, periods, energies; some overlapping, too long, over
capacity or in the future), transfers, retirements and exports (of random bundles, whole,
partial, zero or too large; now and then by the wrong signer) among three accounts,
withdrawals by the issuing body (now and then by someone else) and imports of external
ranges (some overlapping earlier imports) onto ``ext:`` devices are built into blocks of
random sizes by `build_block`, as a proposer would, on a chain with a one-day expiry
policy whose block time jumps ahead by random hours, so bundles expire along the way.
After every block: `check_serial_partition` holds for every device (``ext:`` ones
included), the leaf bundles hold exactly the Wh issued, the imported external ranges of
each ``ext:`` device add up to its issued Wh, no bundle moved after its expiry, and
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
    DAY_S,
    GATEWAY,
    HOUR0,
    ISSUER,
    OTHER_ISSUER,
    Chain,
    block_env,
    export,
    import_,
    register_device,
    retire,
    set_up_chain,
    sign,
    transfer,
    withdraw,
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
from greenchain.ledger.view import (
    MemoryState,
    Overlay,
    device_key,
    get_bundle,
    get_device,
    get_imported_ranges,
    put_record,
)
from greenchain.model.blocks import Commit
from greenchain.model.certificates import (
    ACTIVE,
    EXPORTED,
    RETIRED,
    SPLIT,
    WITHDRAWN,
    Bundle,
    compute_bundle_id,
    is_expired_at,
    is_ext_device_id,
)
from greenchain.model.transactions import Attest, Export, Retire, Transfer, Tx, make_tx

ACCOUNTS = (ALICE, BOB, CAROL)
DEVICES = ("WT1", "WT2", "WT3")
"""WT1 (alice) and WT2 (bob) have 2.05 MW; WT3 (carol) has 3600 W, so 1 Wh per second."""
HOURS = 60
"""Production hours 0..47 lie before genesis; hours 48..59 end after it (attestable later,
as the block time jumps ahead)."""
AMOUNT_KINDS = ("whole", "part", "part", "over", "zero")
MOVE_KINDS = ("transfer", "retire", "export")
EXPIRY_S = 2 * DAY_S
"""Two days: at genesis nothing is expired; hour h expires once the block time is h + 1
hours past genesis, so bundles expire as the block time jumps ahead."""
REGISTRIES = ("AIB-DE", "AIB-NL")
EXT_DEVICES = ("WIND-1", "PV-2")
EXT_SERIALS = 5000
"""External serials of the imports lie in [0, 5000), so some imports overlap others."""


@dataclass(frozen=True)
class AttestOp:
    device: int
    hour: int
    start_min: int
    length_min: int
    energy_wh: int


@dataclass(frozen=True)
class MoveOp:
    kind: str
    pick: int
    leaf_only: bool
    amount_kind: str
    amount_raw: int
    receiver: int
    wrong_signer: bool


@dataclass(frozen=True)
class WithdrawOp:
    pick: int
    leaf_only: bool
    wrong_signer: bool


@dataclass(frozen=True)
class ImportOp:
    registry: int
    device: int
    ext_start: int
    length: int
    owner: int
    hour: int
    other_issuer: bool


Op = AttestOp | MoveOp | WithdrawOp | ImportOp


@dataclass(frozen=True)
class BlockPlan:
    advance_h: int
    """Hours the block time jumps ahead of the 1 s step (expiry comes closer)."""
    ops: list[Op]


@lru_cache(maxsize=1)
def base_chain() -> tuple[dict[bytes, bytes], ChainTip, Commit | None]:
    """Block 1: accounts and WT1, WT2; block 2: WT3. Cached, copied per example."""
    chain = set_up_chain()
    chain.extend([sign(ISSUER, register_device("WT3", CAROL, capacity_w=3600))])
    return dict(chain.state.data), chain.tip, chain.last_commit


def fresh_chain() -> Chain:
    data, tip, last_commit = base_chain()
    return Chain(MemoryState(dict(data)), tip, block_env(expiry_s=EXPIRY_S), last_commit)


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


def pick_bundle(state: MemoryState, pick: int, leaf_only: bool) -> Bundle | None:
    """A bundle chosen among the committed ones (leaves only, or any), None if none."""
    stored = list(iterate_state_bundles(state))
    choices = [b for b in stored if b.status != SPLIT] if leaf_only else stored
    return choices[pick % len(choices)] if choices else None


def move_tx(op: MoveOp, state: MemoryState, nonce: int) -> Tx | None:
    """A transfer, retirement or export of a committed bundle (None if there is none)."""
    bundle = pick_bundle(state, op.pick, op.leaf_only)
    if bundle is None:
        return None
    amount = pick_amount(op.amount_kind, op.amount_raw, bundle.quantity_wh)
    signer = owner_key(bundle)
    if op.wrong_signer:
        signer = ACCOUNTS[(ACCOUNTS.index(signer) + 1) % len(ACCOUNTS)]
    body = {"retire": retire(bundle.bundle_id, amount),
            "export": export(bundle.bundle_id, amount),
            "transfer": transfer(bundle.bundle_id, amount, ACCOUNTS[op.receiver])}[op.kind]
    return make_tx(signer, "greenchain-test", body, nonce)


def withdraw_tx(op: WithdrawOp, state: MemoryState, nonce: int) -> Tx | None:
    """A withdrawal of a committed bundle by its issuing body (or, wrongly, its owner)."""
    bundle = pick_bundle(state, op.pick, op.leaf_only)
    if bundle is None:
        return None
    signer = owner_key(bundle) if op.wrong_signer else ISSUER
    return make_tx(signer, "greenchain-test", withdraw(bundle.bundle_id), nonce)


def import_tx(op: ImportOp, nonce: int) -> Tx:
    start = HOUR0 + op.hour * 3600
    body = import_(op.ext_start, op.ext_start + op.length, owner=ACCOUNTS[op.owner],
                   registry=REGISTRIES[op.registry], device=EXT_DEVICES[op.device],
                   start=start, end=start + 3600)
    return make_tx(OTHER_ISSUER if op.other_issuer else ISSUER, "greenchain-test", body, nonce)


def attest_tx(op: AttestOp, nonce: int) -> Tx:
    start = HOUR0 + op.hour * 3600 + op.start_min * 60
    body = Attest(DEVICES[op.device], start, start + op.length_min * 60, op.energy_wh)
    return make_tx(GATEWAY, "greenchain-test", body, nonce)


def op_tx(op: Op, state: MemoryState, nonce: int) -> Tx | None:
    if isinstance(op, AttestOp):
        return attest_tx(op, nonce)
    if isinstance(op, MoveOp):
        return move_tx(op, state, nonce)
    if isinstance(op, WithdrawOp):
        return withdraw_tx(op, state, nonce)
    return import_tx(op, nonce)


def block_txs(ops: list[Op], state: MemoryState, nonces: itertools.count[int]) -> list[Tx]:
    return [tx for op in ops if (tx := op_tx(op, state, next(nonces))) is not None]


def assert_invariants(state: MemoryState) -> None:
    check_state_serial_partition(state)
    leaves = [b for b in iterate_state_bundles(state) if b.status != SPLIT]
    issued = compute_issued_wh_by_device(state)
    assert sum(b.quantity_wh for b in leaves) == sum(issued.values())
    assert all(b.status in (ACTIVE, RETIRED, WITHDRAWN, EXPORTED) for b in leaves)
    for device_id, issued_wh in issued.items():
        if is_ext_device_id(device_id):
            # Each external serial imported once: the merged ranges are the issued Wh.
            ranges = get_imported_ranges(state, device_id)
            assert sum(end - start for start, end in ranges) == issued_wh
            assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))


def assert_nothing_moved_after_expiry(chain: Chain, txs: tuple[Tx, ...], time_ms: int) -> None:
    for tx in txs:
        if isinstance(tx.body, (Transfer, Retire, Export)):
            source = get_bundle(chain.state, tx.body.bundle_id)
            assert source is not None
            assert not is_expired_at(source, time_ms, EXPIRY_S)


def run_blocks(blocks: list[BlockPlan]) -> Counter[str]:
    """Build, re-apply and commit each block; check the invariants after each. Returns stats."""
    chain = fresh_chain()
    nonces = itertools.count(1)
    stats: Counter[str] = Counter()
    for plan in blocks:
        pre_state, pre_tip = chain.copy_state(), chain.tip
        txs = block_txs(plan.ops, chain.state, nonces)
        time_ms = chain.next_time_ms() + plan.advance_h * 3_600_000
        built = chain.build(txs, time_ms)
        # The proposer accounts for every candidate: included or rejected with a rule.
        assert len(built.block.txs) + len(built.rejected) == len(txs)
        replayed = apply_block(pre_state, built.block, pre_tip, chain.env)
        assert replayed == built.result
        chain.commit(built)
        assert_invariants(chain.state)
        assert_nothing_moved_after_expiry(chain, built.block.txs, time_ms)
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
    kind=st.sampled_from(MOVE_KINDS),
    pick=st.integers(0, 1000),
    leaf_only=st.integers(0, 9).map(lambda n: n > 0),
    amount_kind=st.sampled_from(AMOUNT_KINDS),
    amount_raw=st.integers(0, 10_000),
    receiver=st.integers(0, len(ACCOUNTS) - 1),
    wrong_signer=st.integers(0, 19).map(lambda n: n == 0),
)
withdraw_ops = st.builds(
    WithdrawOp,
    pick=st.integers(0, 1000),
    leaf_only=st.integers(0, 9).map(lambda n: n > 0),
    wrong_signer=st.integers(0, 9).map(lambda n: n == 0),
)
import_ops = st.builds(
    ImportOp,
    registry=st.integers(0, len(REGISTRIES) - 1),
    device=st.integers(0, len(EXT_DEVICES) - 1),
    ext_start=st.integers(0, EXT_SERIALS - 1),
    length=st.integers(0, 800),
    owner=st.integers(0, len(ACCOUNTS) - 1),
    hour=st.integers(0, HOURS - 1),
    other_issuer=st.integers(0, 9).map(lambda n: n == 0),
)
block_plans = st.builds(
    BlockPlan,
    advance_h=st.sampled_from((0, 0, 0, 1, 6, 13)),
    ops=st.lists(st.one_of(attest_ops, move_ops, move_ops, withdraw_ops, import_ops),
                 max_size=8),
)
blocks_of_ops = st.lists(block_plans, min_size=1, max_size=6)


@settings(max_examples=100, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(blocks_of_ops)
def test_serial_partition_holds_after_every_block(blocks: list[BlockPlan]) -> None:
    run_blocks(blocks)  # asserts the invariants after every block


def random_op(rng: random.Random) -> Op:
    roll = rng.random()
    if roll < 0.35:
        # Half of them in the first hours, so that periods overlap now and then.
        hour = rng.randrange(4) if rng.random() < 0.5 else rng.randrange(HOURS)
        return AttestOp(rng.randrange(3), hour, rng.randrange(60), rng.randint(1, 60),
                        rng.randint(-1, 3000))
    if roll < 0.85:
        return MoveOp(rng.choice(MOVE_KINDS), rng.randrange(1000), rng.random() < 0.9,
                      rng.choice(AMOUNT_KINDS), rng.randrange(10_000), rng.randrange(3),
                      rng.random() < 0.05)
    if roll < 0.9:
        return WithdrawOp(rng.randrange(1000), rng.random() < 0.9, rng.random() < 0.1)
    length = 0 if rng.random() < 0.1 else rng.randint(1, 800)  # 0: an empty range
    return ImportOp(rng.randrange(len(REGISTRIES)), rng.randrange(len(EXT_DEVICES)),
                    rng.randrange(EXT_SERIALS), length, rng.randrange(3),
                    rng.randrange(HOURS), rng.random() < 0.1)


def random_plan(rng: random.Random) -> BlockPlan:
    advance_h = rng.choice((0, 0, 0, 0, 1, 2))
    return BlockPlan(advance_h, [random_op(rng) for _ in range(rng.randint(0, 12))])


def test_random_chain_exercises_every_path() -> None:
    # One long fixed-seed run, to show the generator reaches the interesting cases.
    rng = random.Random(20150301)
    stats = run_blocks([random_plan(rng) for _ in range(40)])
    for accepted in ("attest", "transfer", "retire", "export", "withdraw", "import", "split",
                     "retired", "withdrawn", "exported"):
        assert stats[accepted] > 0, accepted
    for rule in ("period_overlap", "invalid_period", "over_capacity", "invalid_amount",
                 "amount_exceeds_remaining", "bundle_not_active", "not_owner",
                 "period_in_future", "bundle_expired", "already_imported", "unauthorized",
                 "bad_tx_body"):
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

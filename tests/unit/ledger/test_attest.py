"""Issuance by attestation (DESIGN §2, §3): periods, overlap, capacity, serials."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.ledger_builders import (
    ALICE,
    BOB,
    CAPACITY_W,
    GATEWAY,
    HOUR0,
    ISSUER,
    NOW_MS,
    OTHER_GATEWAY,
    PRODUCTION_START_S,
    WT1,
    WT2,
    assert_refused,
    attest,
    base_state,
    bundles,
    commit_txs,
    issue,
    make_ctx,
    register_device,
    sign,
)

from greenchain.errors import (
    AccountSuspended,
    BeforeProductionStart,
    DeviceSuspended,
    InvalidAmount,
    InvalidPeriod,
    MeterRegisterMismatch,
    OverCapacity,
    PeriodInFuture,
    PeriodOverlap,
    Unauthorized,
    UnknownDevice,
)
from greenchain.ledger.invariants import check_state_serial_partition
from greenchain.ledger.transactions import apply_tx
from greenchain.ledger.view import MemoryState, Overlay, get_device, get_periods
from greenchain.model.certificates import ACTIVE, compute_bundle_id
from greenchain.model.transactions import SuspendAccount, SuspendDevice

# Capacity 2,050,000 W over 900 s allows exactly 512,500 Wh (2,050,000 * 900 / 3600).
QUARTER_MAX_WH = CAPACITY_W * 900 // 3600


def pending_overlay(state: MemoryState) -> Overlay:
    """An overlay holding one pending attestation of WT2, so refusals have writes to keep."""
    overlay = Overlay(state)
    apply_tx(overlay, sign(GATEWAY, attest(WT2, HOUR0, HOUR0 + 60, 5)), make_ctx(), 0)
    return overlay


def test_attest_issues_a_bundle_to_the_owner() -> None:
    state = base_state()
    tx = sign(GATEWAY, attest(WT1, HOUR0, HOUR0 + 600, 1000))
    commit_txs(state, [tx], make_ctx(height=5))
    (bundle,) = bundles(state).values()
    assert bundle.bundle_id == compute_bundle_id(WT1, 0, 1000)
    assert (bundle.device_id, bundle.serial_start, bundle.serial_end) == (WT1, 0, 1000)
    assert (bundle.period_start, bundle.period_end) == (HOUR0, HOUR0 + 600)
    assert (bundle.owner, bundle.status, bundle.parent) == (ALICE.public, ACTIVE, b"")
    assert (bundle.issuance_tx, bundle.issuance_height, bundle.last_tx) == (tx.tx_id, 5, tx.tx_id)
    assert bundle.retirement is None
    device = get_device(state, WT1)
    assert device is not None and device.issued_wh == 1000
    assert get_periods(state, WT1, HOUR0 // 3600) == [[HOUR0, HOUR0 + 600]]


def test_serials_continue_from_issued_wh() -> None:
    state = base_state()
    first = issue(state, attest(WT1, HOUR0, HOUR0 + 600, 1000))
    second = issue(state, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 250))
    other = issue(state, attest(WT2, HOUR0, HOUR0 + 600, 70))
    assert (first.serial_start, first.serial_end) == (0, 1000)
    assert (second.serial_start, second.serial_end) == (1000, 1250)
    # Each device has its own serial space.
    assert (other.serial_start, other.serial_end, other.owner) == (0, 70, BOB.public)
    check_state_serial_partition(state)


def test_one_gateway_attests_for_several_devices() -> None:
    state = base_state()
    issue(state, attest(WT1, HOUR0, HOUR0 + 600, 1))
    issue(state, attest(WT2, HOUR0, HOUR0 + 600, 1))
    assert len(bundles(state)) == 2


# --- who may attest -------------------------------------------------------------------
def test_unknown_device() -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(GATEWAY, attest("WT404")), UnknownDevice)


@pytest.mark.parametrize("signer", [ALICE, ISSUER, OTHER_GATEWAY], ids=["owner", "issuer",
                                                                        "other-gateway"])
def test_wrong_signer(signer: object) -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(signer, attest(WT1)), Unauthorized)  # type: ignore[arg-type]


def test_suspended_device() -> None:
    state = base_state()
    commit_txs(state, [sign(ISSUER, SuspendDevice(WT1, "meter audit"))])
    assert_refused(pending_overlay(state), sign(GATEWAY, attest(WT1)), DeviceSuspended)


# --- the period -----------------------------------------------------------------------
@pytest.mark.parametrize(("start", "end"), [
    (HOUR0 + 600, HOUR0 + 600),           # length 0
    (HOUR0 + 600, HOUR0 + 300),           # negative length
    (HOUR0, HOUR0 + 3601),                # longer than 3600 s
    (HOUR0 + 1800, HOUR0 + 3600 + 600),   # 1 h long but crosses a UTC hour
    (HOUR0 + 3599, HOUR0 + 3601),         # 2 s across the hour boundary
], ids=["empty", "negative", "too-long", "crosses-hour", "straddles-boundary"])
def test_invalid_period(start: int, end: int) -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(GATEWAY, attest(WT1, start, end, 1)), InvalidPeriod)


@pytest.mark.parametrize(("start", "end"), [
    (HOUR0, HOUR0 + 3600),                # a whole UTC hour
    (HOUR0 + 1800, HOUR0 + 3600),         # ends exactly on the hour
    (HOUR0 + 3599, HOUR0 + 3600),         # one second
])
def test_valid_period_edges(start: int, end: int) -> None:
    state = base_state()
    bundle = issue(state, attest(WT1, start, end, 1))
    assert (bundle.period_start, bundle.period_end) == (start, end)


def test_before_production_start() -> None:
    overlay = pending_overlay(base_state())
    body = attest(WT1, PRODUCTION_START_S - 600, PRODUCTION_START_S, 1)
    assert_refused(overlay, sign(GATEWAY, body), BeforeProductionStart)


def test_at_production_start_accepted() -> None:
    state = base_state()
    assert issue(state, attest(WT1, PRODUCTION_START_S, PRODUCTION_START_S + 1, 1)).serial_end == 1


def test_period_ending_after_block_time() -> None:
    end_s = NOW_MS // 1000 + 1
    body = attest(WT1, end_s // 3600 * 3600, end_s, 1)
    assert_refused(pending_overlay(base_state()), sign(GATEWAY, body), PeriodInFuture)


def test_period_ending_exactly_at_block_time_accepted() -> None:
    # "Reached" means block_ms >= t_s * 1000 (DESIGN §2).
    end_s = HOUR0 + 7200
    state = base_state()
    commit_txs(state, [sign(GATEWAY, attest(WT1, end_s - 60, end_s, 1))],
               make_ctx(time_ms=end_s * 1000))
    assert get_periods(state, WT1, (end_s - 60) // 3600) == [[end_s - 60, end_s]]
    late = sign(GATEWAY, attest(WT1, end_s, end_s + 60, 1))
    assert_refused(Overlay(state), late, PeriodInFuture, make_ctx(time_ms=(end_s + 60) * 1000 - 1))


# --- overlap --------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "end"), [
    (HOUR0 + 600, HOUR0 + 1200),          # identical
    (HOUR0 + 300, HOUR0 + 900),           # overlaps the start
    (HOUR0 + 900, HOUR0 + 1500),          # overlaps the end
    (HOUR0 + 700, HOUR0 + 800),           # inside
    (HOUR0, HOUR0 + 3600),                # covers it
])
def test_overlap_with_earlier_period(start: int, end: int) -> None:
    state = base_state()
    issue(state, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 10))
    err = assert_refused(pending_overlay(state), sign(GATEWAY, attest(WT1, start, end, 1)),
                         PeriodOverlap)
    existing = (err.existing_start, err.existing_end)  # type: ignore[attr-defined]
    assert existing == (HOUR0 + 600, HOUR0 + 1200)


def test_overlap_with_pending_period_in_the_same_overlay() -> None:
    overlay = Overlay(base_state())
    apply_tx(overlay, sign(GATEWAY, attest(WT1, HOUR0, HOUR0 + 600, 5)), make_ctx(), 0)
    assert_refused(overlay, sign(GATEWAY, attest(WT1, HOUR0 + 300, HOUR0 + 900, 5)),
                   PeriodOverlap)


def test_adjacent_periods_and_back_fill_of_a_gap() -> None:
    state = base_state()
    issue(state, attest(WT1, HOUR0, HOUR0 + 600, 10))
    issue(state, attest(WT1, HOUR0 + 1200, HOUR0 + 1800, 20))
    # A later hour first, then back-fill of the gap [600, 1200) between two neighbours.
    issue(state, attest(WT1, HOUR0 + 7200, HOUR0 + 7800, 30))
    filled = issue(state, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 40))
    assert (filled.serial_start, filled.serial_end) == (60, 100)
    assert get_periods(state, WT1, HOUR0 // 3600) == [
        [HOUR0, HOUR0 + 600], [HOUR0 + 600, HOUR0 + 1200], [HOUR0 + 1200, HOUR0 + 1800]]
    assert_refused(Overlay(state), sign(GATEWAY, attest(WT1, HOUR0 + 1199, HOUR0 + 1201, 1)),
                   PeriodOverlap)
    check_state_serial_partition(state)


def test_same_period_on_another_device_is_no_overlap() -> None:
    state = base_state()
    issue(state, attest(WT1, HOUR0, HOUR0 + 600, 10))
    assert issue(state, attest(WT2, HOUR0, HOUR0 + 600, 10)).device_id == WT2


# --- energy ---------------------------------------------------------------------------
@pytest.mark.parametrize("energy_wh", [0, -1, -1000])
def test_energy_not_positive(energy_wh: int) -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(GATEWAY, attest(WT1, energy_wh=energy_wh)), InvalidAmount)


def test_capacity_boundary() -> None:
    start, end = HOUR0, HOUR0 + 900
    assert QUARTER_MAX_WH * 3600 == CAPACITY_W * (end - start)
    state = base_state()
    over = sign(GATEWAY, attest(WT1, start, end, QUARTER_MAX_WH + 1))
    err = assert_refused(pending_overlay(state), over, OverCapacity)
    assert err.capacity_w == CAPACITY_W  # type: ignore[attr-defined]
    bundle = issue(state, attest(WT1, start, end, QUARTER_MAX_WH))
    assert bundle.quantity_wh == QUARTER_MAX_WH


def test_capacity_boundary_small_device() -> None:
    # 1 W for 3600 s is exactly 1 Wh; 1 W for 3599 s is not enough for 1 Wh.
    state = base_state()
    commit_txs(state, [sign(ISSUER, register_device("TINY", ALICE, capacity_w=1))])
    assert_refused(Overlay(state), sign(GATEWAY, attest("TINY", HOUR0, HOUR0 + 3599, 1)),
                   OverCapacity)
    assert issue(state, attest("TINY", HOUR0, HOUR0 + 3600, 1)).quantity_wh == 1


# --- who receives: the owner account must be active ------------------------------------
def test_attest_to_a_suspended_owner_account() -> None:
    state = base_state()
    commit_txs(state, [sign(ISSUER, SuspendAccount(ALICE.public, "fraud"))])
    assert_refused(pending_overlay(state), sign(GATEWAY, attest(WT1)), AccountSuspended)
    # The other device's owner is active: its gateway still issues.
    assert issue(state, attest(WT2)).owner == BOB.public


# --- certificate attributes copied from the device --------------------------------------
def test_bundle_carries_the_device_s_certificate_attributes() -> None:
    state = base_state()
    commit_txs(state, [sign(ISSUER, replace(register_device("PV1", ALICE),
                                            energy_source="F01010100", technology="T010100",
                                            country="GB", support_received="production",
                                            issuance_purpose="voluntary",
                                            emissions_factor=12))])
    bundle = issue(state, attest("PV1"))
    assert (bundle.energy_carrier, bundle.energy_source, bundle.technology) == (
        "electricity", "F01010100", "T010100")
    assert (bundle.country, bundle.issue_market_zone, bundle.issuing_body) == (
        "GB", "GB", ISSUER.public)
    assert (bundle.support_received, bundle.issuance_purpose, bundle.emissions_factor) == (
        "production", "voluntary", 12)
    # NOW_MS is 2015-03-03T00:00:01Z: the issuance datestamp is that UTC midnight.
    assert bundle.issuance_date_s == NOW_MS // 1000 - 1
    assert bundle.issuance_id == f"PV1:{HOUR0}"
    assert (bundle.withdrawal, bundle.export) == (None, None)


# --- cumulative meter register readings -------------------------------------------------
def test_register_readings_accepted_and_remembered() -> None:
    state = base_state()
    issue(state, attest(WT1, HOUR0, HOUR0 + 600, 100, register=(5_000, 5_100)))
    device = get_device(state, WT1)
    assert device is not None and device.last_register_wh == 5_100
    # A gap in the readings is allowed (a period not attested), a decrease is not.
    issue(state, attest(WT1, HOUR0 + 1200, HOUR0 + 1800, 50, register=(5_300, 5_350)))
    # Attestations without readings stay possible and leave the last reading alone.
    issue(state, attest(WT1, HOUR0 + 1800, HOUR0 + 2400, 7))
    device = get_device(state, WT1)
    assert device is not None and device.last_register_wh == 5_350
    assert get_device(state, WT2).last_register_wh is None  # type: ignore[union-attr]


def test_register_reading_starting_at_the_last_end_is_accepted() -> None:
    state = base_state()
    issue(state, attest(WT1, HOUR0, HOUR0 + 600, 100, register=(0, 100)))
    bundle = issue(state, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 100, register=(100, 200)))
    assert bundle.serial_start == 100


@pytest.mark.parametrize(("register", "energy_wh"), [
    ((5_000, 5_099), 100),                # end - start below the energy
    ((5_000, 5_101), 100),                # end - start above the energy
    ((4_999, 5_099), 100),                # starts below the last reading (5_000..5_100)
    ((5_050, 5_150), 100),                # starts inside the last attested span
    ((-100, 0), 100),                     # a negative register
], ids=["short", "long", "decreases", "overlaps-last", "negative"])
def test_register_mismatch(register: tuple[int, int], energy_wh: int) -> None:
    state = base_state()
    issue(state, attest(WT1, HOUR0, HOUR0 + 600, 100, register=(5_000, 5_100)))
    body = attest(WT1, HOUR0 + 600, HOUR0 + 1200, energy_wh, register=register)
    err = assert_refused(pending_overlay(state), sign(GATEWAY, body), MeterRegisterMismatch)
    assert err.register_start_wh == register[0]  # type: ignore[attr-defined]


def test_register_readings_must_come_in_pairs() -> None:
    overlay = pending_overlay(base_state())
    for start, end in ((100, None), (None, 200)):
        body = replace(attest(WT1), register_start_wh=start, register_end_wh=end)
        assert_refused(overlay, sign(GATEWAY, body), MeterRegisterMismatch)


def test_first_reading_may_start_anywhere() -> None:
    state = base_state()
    bundle = issue(state, attest(WT1, HOUR0, HOUR0 + 600, 1000, register=(987_654_321,
                                                                         987_655_321)))
    assert bundle.quantity_wh == 1000

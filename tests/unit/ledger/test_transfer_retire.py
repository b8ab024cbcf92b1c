"""Moving certificates (DESIGN §2, §3): transfers and retirements, whole and split."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.ledger_builders import (
    ALICE,
    BOB,
    CAROL,
    GATEWAY,
    HOUR0,
    ISSUER,
    WT1,
    assert_refused,
    attest,
    base_state,
    bundles,
    commit_txs,
    issue,
    make_ctx,
    register_account,
    retire,
    sign,
    transfer,
)

from greenchain.crypto.keys import key_from_seed
from greenchain.errors import (
    AccountSuspended,
    AmountExceedsRemaining,
    BadTxBody,
    BundleNotActive,
    InvalidAmount,
    NotOwner,
    UnknownAccount,
    UnknownBundle,
    UnknownCountry,
)
from greenchain.ledger.invariants import check_state_serial_partition
from greenchain.ledger.transactions import apply_tx
from greenchain.ledger.view import MemoryState, Overlay, get_bundle
from greenchain.model.certificates import ACTIVE, RETIRED, SPLIT, Bundle, compute_bundle_id
from greenchain.model.transactions import SuspendAccount

DAVE = key_from_seed("dave")
QUANTITY = 1000


def issued() -> tuple[MemoryState, Bundle]:
    """Base state plus one 1000 Wh bundle of WT1 (serials [0, 1000)) owned by alice."""
    state = base_state()
    return state, issue(state, attest(WT1, HOUR0, HOUR0 + 600, QUANTITY))


def pending_overlay(state: MemoryState) -> Overlay:
    """An overlay holding one pending, unrelated write (an account), kept by refusals."""
    overlay = Overlay(state)
    apply_tx(overlay, sign(ISSUER, register_account(key_from_seed("erin"))), make_ctx(), 0)
    return overlay


def stored(state: MemoryState, bundle_id: bytes) -> Bundle:
    bundle = get_bundle(state, bundle_id)
    assert bundle is not None
    return bundle


# --- transfer -------------------------------------------------------------------------
def test_whole_transfer_keeps_the_bundle_id() -> None:
    state, bundle = issued()
    tx = sign(ALICE, transfer(bundle.bundle_id, QUANTITY, BOB))
    commit_txs(state, [tx])
    after = stored(state, bundle.bundle_id)
    assert (after.owner, after.status, after.last_tx) == (BOB.public, ACTIVE, tx.tx_id)
    assert (after.serial_start, after.serial_end, after.parent) == (0, QUANTITY, b"")
    assert after.issuance_tx == bundle.issuance_tx
    assert list(bundles(state)) == [bundle.bundle_id]


def test_partial_transfer_splits_low_serials_to_the_receiver() -> None:
    state, bundle = issued()
    tx = sign(ALICE, transfer(bundle.bundle_id, 300, BOB))
    commit_txs(state, [tx])
    low_id, high_id = compute_bundle_id(WT1, 0, 300), compute_bundle_id(WT1, 300, QUANTITY)
    assert set(bundles(state)) == {bundle.bundle_id, low_id, high_id}
    parent, low, high = (stored(state, i) for i in (bundle.bundle_id, low_id, high_id))
    assert (parent.status, parent.owner) == (SPLIT, ALICE.public)
    assert (low.serial_start, low.serial_end, low.owner, low.status) == (0, 300, BOB.public, ACTIVE)
    assert (high.serial_start, high.serial_end, high.owner, high.status) == (
        300, QUANTITY, ALICE.public, ACTIVE)
    assert low.parent == high.parent == bundle.bundle_id
    assert low.last_tx == high.last_tx == tx.tx_id
    # Lineage back to the issuing attestation and its production period is kept.
    assert low.issuance_tx == high.issuance_tx == bundle.issuance_tx
    assert (low.period_start, low.period_end) == (bundle.period_start, bundle.period_end)
    check_state_serial_partition(state)


def test_a_child_can_be_split_again() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, transfer(bundle.bundle_id, 300, BOB))])
    low_id = compute_bundle_id(WT1, 0, 300)
    commit_txs(state, [sign(BOB, transfer(low_id, 100, CAROL))])
    grandchild = stored(state, compute_bundle_id(WT1, 0, 100))
    assert (grandchild.owner, grandchild.parent) == (CAROL.public, low_id)
    assert stored(state, compute_bundle_id(WT1, 100, 300)).owner == BOB.public
    assert stored(state, low_id).status == SPLIT
    check_state_serial_partition(state)


def test_transfer_by_non_owner() -> None:
    state, bundle = issued()
    assert_refused(pending_overlay(state), sign(BOB, transfer(bundle.bundle_id, 1, CAROL)),
                   NotOwner)


def test_transfer_unknown_bundle() -> None:
    state, _ = issued()
    assert_refused(pending_overlay(state), sign(ALICE, transfer(b"\x11" * 32, 1)), UnknownBundle)


def test_transfer_of_split_parent() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, transfer(bundle.bundle_id, 300, BOB))])
    err = assert_refused(pending_overlay(state), sign(ALICE, transfer(bundle.bundle_id, 1, CAROL)),
                         BundleNotActive)
    assert err.status == SPLIT  # type: ignore[attr-defined]


def test_transfer_of_retired_bundle() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, retire(bundle.bundle_id, QUANTITY))])
    assert_refused(pending_overlay(state), sign(ALICE, transfer(bundle.bundle_id, 1, BOB)),
                   BundleNotActive)


@pytest.mark.parametrize("amount", [0, -1])
def test_transfer_amount_not_positive(amount: int) -> None:
    state, bundle = issued()
    assert_refused(pending_overlay(state), sign(ALICE, transfer(bundle.bundle_id, amount)),
                   InvalidAmount)


def test_transfer_amount_above_quantity() -> None:
    state, bundle = issued()
    err = assert_refused(pending_overlay(state),
                         sign(ALICE, transfer(bundle.bundle_id, QUANTITY + 1)),
                         AmountExceedsRemaining)
    assert err.remaining_wh == QUANTITY  # type: ignore[attr-defined]


def test_transfer_to_unknown_receiver() -> None:
    state, bundle = issued()
    assert_refused(pending_overlay(state), sign(ALICE, transfer(bundle.bundle_id, 1, DAVE)),
                   UnknownAccount)


def test_transfer_to_suspended_receiver() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ISSUER, SuspendAccount(BOB.public, "x"))])
    assert_refused(pending_overlay(state), sign(ALICE, transfer(bundle.bundle_id, 1, BOB)),
                   AccountSuspended)


def test_transfer_by_suspended_sender() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ISSUER, SuspendAccount(ALICE.public, "x"))])
    assert_refused(pending_overlay(state), sign(ALICE, transfer(bundle.bundle_id, 1, BOB)),
                   AccountSuspended)


def test_second_transfer_of_the_same_wh_in_one_overlay() -> None:
    state, bundle = issued()
    overlay = Overlay(state)
    apply_tx(overlay, sign(ALICE, transfer(bundle.bundle_id, 600, BOB)), make_ctx(), 0)
    assert_refused(overlay, sign(ALICE, transfer(bundle.bundle_id, 600, CAROL)), BundleNotActive)
    rest = compute_bundle_id(WT1, 600, QUANTITY)
    assert_refused(overlay, sign(ALICE, transfer(rest, 600, CAROL)), AmountExceedsRemaining)


# --- retire ---------------------------------------------------------------------------
def test_retire_whole() -> None:
    state, bundle = issued()
    tx = sign(ALICE, retire(bundle.bundle_id, QUANTITY, "Cambridge Estates B2",
                            HOUR0, HOUR0 + 3600))
    commit_txs(state, [tx], make_ctx(height=9))
    after = stored(state, bundle.bundle_id)
    assert (after.status, after.owner, after.last_tx) == (RETIRED, ALICE.public, tx.tx_id)
    claim = after.retirement
    assert claim is not None
    assert (claim.beneficiary, claim.consumption_start, claim.consumption_end) == (
        "Cambridge Estates B2", HOUR0, HOUR0 + 3600)
    assert (claim.purpose, claim.country, claim.retire_tx, claim.height) == (
        "disclosure", "GB", tx.tx_id, 9)
    assert list(bundles(state)) == [bundle.bundle_id]


def test_retire_partial() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, retire(bundle.bundle_id, 400))])
    low = stored(state, compute_bundle_id(WT1, 0, 400))
    high = stored(state, compute_bundle_id(WT1, 400, QUANTITY))
    assert (low.status, low.owner, low.parent) == (RETIRED, ALICE.public, bundle.bundle_id)
    assert low.retirement is not None
    assert (high.status, high.retirement, high.parent) == (ACTIVE, None, bundle.bundle_id)
    assert stored(state, bundle.bundle_id).status == SPLIT
    check_state_serial_partition(state)


def test_retired_bundle_cannot_move_again() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, retire(bundle.bundle_id, QUANTITY))])
    overlay = pending_overlay(state)
    assert_refused(overlay, sign(ALICE, retire(bundle.bundle_id, QUANTITY)), BundleNotActive)
    assert_refused(overlay, sign(ALICE, retire(bundle.bundle_id, 1)), BundleNotActive)


def test_retire_by_non_owner() -> None:
    state, bundle = issued()
    assert_refused(pending_overlay(state), sign(BOB, retire(bundle.bundle_id, 1)), NotOwner)


@pytest.mark.parametrize(("amount", "error"), [
    (0, InvalidAmount), (-5, InvalidAmount), (QUANTITY + 1, AmountExceedsRemaining)])
def test_retire_bad_amount(amount: int, error: type[Exception]) -> None:
    state, bundle = issued()
    assert_refused(pending_overlay(state), sign(ALICE, retire(bundle.bundle_id, amount)),
                   error)  # type: ignore[arg-type]


@pytest.mark.parametrize("beneficiary", ["", "   "])
def test_retire_without_beneficiary(beneficiary: str) -> None:
    state, bundle = issued()
    body = retire(bundle.bundle_id, 1, beneficiary)
    assert_refused(pending_overlay(state), sign(ALICE, body), BadTxBody)


@pytest.mark.parametrize(("start", "end"), [
    (HOUR0, HOUR0), (HOUR0 + 60, HOUR0), (-1, HOUR0)], ids=["empty", "reversed", "negative"])
def test_retire_consumption_period_empty(start: int, end: int) -> None:
    state, bundle = issued()
    body = retire(bundle.bundle_id, 1, consumption_start=start, consumption_end=end)
    assert_refused(pending_overlay(state), sign(ALICE, body), BadTxBody)


def test_retire_by_suspended_owner() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ISSUER, SuspendAccount(ALICE.public, "x"))])
    assert_refused(pending_overlay(state), sign(ALICE, retire(bundle.bundle_id, 1)),
                   AccountSuspended)


def test_receiver_can_retire_what_it_received() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, transfer(bundle.bundle_id, 250, BOB))])
    low_id = compute_bundle_id(WT1, 0, 250)
    commit_txs(state, [sign(BOB, retire(low_id, 250))])
    assert stored(state, low_id).status == RETIRED
    assert sum(b.quantity_wh for b in bundles(state).values() if b.status != SPLIT) == QUANTITY
    check_state_serial_partition(state)


def test_gateway_cannot_move_the_owner_s_bundle() -> None:
    state, bundle = issued()
    assert_refused(pending_overlay(state), sign(GATEWAY, transfer(bundle.bundle_id, 1)), NotOwner)


@pytest.mark.parametrize("country", ["ZZ", "", "gb"])
def test_retire_country_of_consumption_not_listed(country: str) -> None:
    state, bundle = issued()
    body = replace(retire(bundle.bundle_id, 1), country=country)
    err = assert_refused(pending_overlay(state), sign(ALICE, body), UnknownCountry)
    assert (err.code_list, err.code) == ("countries", country)  # type: ignore[attr-defined]

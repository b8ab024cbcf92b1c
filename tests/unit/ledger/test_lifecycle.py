"""Certificate lifecycle (DESIGN §2, §3): expiry, withdrawal by the issuing body, export.

Every refusal is checked for its exact error class and for leaving the overlay (with a
pending write in it) and the committed state unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.ledger_builders import (
    ALICE,
    BOB,
    CAROL,
    HOUR0,
    ISSUER,
    NOW_MS,
    OTHER_ISSUER,
    SHORT_EXPIRY_S,
    WT1,
    assert_refused,
    attest,
    base_state,
    bundles,
    commit_txs,
    export,
    issue,
    make_ctx,
    register_account,
    retire,
    sign,
    transfer,
    withdraw,
)

from greenchain.crypto.keys import KeyPair, key_from_seed
from greenchain.errors import (
    AccountSuspended,
    AmountExceedsRemaining,
    BadTxBody,
    BundleExpired,
    BundleNotActive,
    InvalidAmount,
    NotOwner,
    Unauthorized,
    UnknownBundle,
)
from greenchain.ledger.context import TxContext
from greenchain.ledger.invariants import check_state_serial_partition
from greenchain.ledger.transactions import apply_tx
from greenchain.ledger.view import MemoryState, Overlay, get_bundle
from greenchain.model.certificates import (
    ACTIVE,
    EXPIRED,
    EXPORTED,
    RETIRED,
    SPLIT,
    WITHDRAWN,
    Bundle,
    bundle_status_at,
    compute_bundle_id,
)
from greenchain.model.transactions import SuspendAccount

QUANTITY = 1000
PERIOD_END = HOUR0 + 600
EXPIRY_MS = (PERIOD_END + SHORT_EXPIRY_S) * 1000
"""2015-03-04T00:10:00Z: the first instant at which the issued bundle is expired."""


def issued() -> tuple[MemoryState, Bundle]:
    """Base state plus one 1000 Wh bundle of WT1 (serials [0, 1000)) owned by alice."""
    state = base_state()
    return state, issue(state, attest(WT1, HOUR0, PERIOD_END, QUANTITY))


def pending_overlay(state: MemoryState) -> Overlay:
    """An overlay holding one pending, unrelated write (an account), kept by refusals."""
    overlay = Overlay(state)
    apply_tx(overlay, sign(ISSUER, register_account(key_from_seed("erin"))), make_ctx(), 0)
    return overlay


def stored(state: MemoryState, bundle_id: bytes) -> Bundle:
    bundle = get_bundle(state, bundle_id)
    assert bundle is not None
    return bundle


def at(time_ms: int, expiry_s: int | None = SHORT_EXPIRY_S) -> TxContext:
    """The context of a block at `time_ms` under the short expiry policy (or `expiry_s`)."""
    return make_ctx(time_ms=time_ms, expiry_s=expiry_s)


# --- expiry (derived from block time, never stored) --------------------------------------
@pytest.mark.parametrize("move", ["transfer", "retire", "export"])
def test_expired_bundle_cannot_move(move: str) -> None:
    state, bundle = issued()
    body = {"transfer": transfer(bundle.bundle_id, 10, BOB),
            "retire": retire(bundle.bundle_id, 10),
            "export": export(bundle.bundle_id, 10)}[move]
    err = assert_refused(pending_overlay(state), sign(ALICE, body), BundleExpired,
                         at(EXPIRY_MS))
    assert err.expiry == PERIOD_END + SHORT_EXPIRY_S  # type: ignore[attr-defined]
    # One millisecond earlier it is not expired yet ("reached" is block_ms >= t * 1000).
    commit_txs(state, [sign(ALICE, body)], at(EXPIRY_MS - 1))
    assert stored(state, bundle.bundle_id).status == SPLIT


def test_without_an_expiry_policy_nothing_expires() -> None:
    state, bundle = issued()
    far_future_ms = (PERIOD_END + 100 * 365 * 86_400) * 1000
    commit_txs(state, [sign(ALICE, transfer(bundle.bundle_id, QUANTITY, BOB))],
               at(far_future_ms, None))
    assert stored(state, bundle.bundle_id).owner == BOB.public


def test_expiry_counts_from_the_end_of_each_production_period() -> None:
    state, first = issued()
    later = issue(state, attest(WT1, HOUR0 + 3000, HOUR0 + 3600, 200))
    between_ms = EXPIRY_MS + 60_000  # the first expired, the later one (period end +50 min) not
    assert bundle_status_at(first, between_ms, SHORT_EXPIRY_S) == EXPIRED
    assert bundle_status_at(later, between_ms, SHORT_EXPIRY_S) == ACTIVE
    commit_txs(state, [sign(ALICE, transfer(later.bundle_id, 200, BOB))],
               at(between_ms))
    assert_refused(Overlay(state), sign(ALICE, transfer(first.bundle_id, 1, BOB)), BundleExpired,
                   at(between_ms))


def test_split_pieces_keep_the_expiry_of_their_production_period() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, transfer(bundle.bundle_id, 300, BOB))])
    low = compute_bundle_id(WT1, 0, 300)
    assert_refused(Overlay(state), sign(BOB, retire(low, 300)), BundleExpired,
                   at(EXPIRY_MS))
    # Expiry is derived: the stored status is still active, nothing was written.
    assert stored(state, low).status == ACTIVE


def test_expired_bundle_can_still_be_withdrawn() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ISSUER, withdraw(bundle.bundle_id))],
               at(EXPIRY_MS + 1))
    assert stored(state, bundle.bundle_id).status == WITHDRAWN


# --- withdraw -------------------------------------------------------------------------
def test_withdraw_whole_bundle() -> None:
    state, bundle = issued()
    tx = sign(ISSUER, withdraw(bundle.bundle_id, "meter data correction"))
    commit_txs(state, [tx], make_ctx(height=7))
    after = stored(state, bundle.bundle_id)
    assert (after.status, after.owner, after.last_tx) == (WITHDRAWN, ALICE.public, tx.tx_id)
    assert after.withdrawal is not None
    assert (after.withdrawal.reason, after.withdrawal.withdraw_tx, after.withdrawal.height) == (
        "meter data correction", tx.tx_id, 7)
    assert list(bundles(state)) == [bundle.bundle_id]
    check_state_serial_partition(state)


def test_withdraw_a_piece_held_by_another_owner() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, transfer(bundle.bundle_id, 400, BOB))])
    piece = compute_bundle_id(WT1, 0, 400)
    assert stored(state, piece).issuing_body == ISSUER.public
    commit_txs(state, [sign(ISSUER, withdraw(piece))])
    assert stored(state, piece).status == WITHDRAWN
    assert stored(state, compute_bundle_id(WT1, 400, QUANTITY)).status == ACTIVE
    check_state_serial_partition(state)


def test_withdraw_of_a_suspended_owner_s_bundle() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ISSUER, SuspendAccount(ALICE.public, "fraud"))])
    commit_txs(state, [sign(ISSUER, withdraw(bundle.bundle_id))])
    assert stored(state, bundle.bundle_id).status == WITHDRAWN


@pytest.mark.parametrize("signer", [ALICE, OTHER_ISSUER], ids=["owner", "other-issuing-body"])
def test_withdraw_by_someone_else(signer: KeyPair) -> None:
    state, bundle = issued()
    assert_refused(pending_overlay(state), sign(signer, withdraw(bundle.bundle_id)),
                   Unauthorized)


def test_withdraw_unknown_bundle() -> None:
    state, _ = issued()
    assert_refused(pending_overlay(state), sign(ISSUER, withdraw(b"\x11" * 32)), UnknownBundle)


@pytest.mark.parametrize("reason", ["", "  "])
def test_withdraw_without_a_reason(reason: str) -> None:
    state, bundle = issued()
    assert_refused(pending_overlay(state), sign(ISSUER, withdraw(bundle.bundle_id, reason)),
                   BadTxBody)


@pytest.mark.parametrize("first", ["retire", "split", "withdraw", "export"])
def test_withdraw_of_a_final_bundle(first: str) -> None:
    state, bundle = issued()
    earlier = {"retire": sign(ALICE, retire(bundle.bundle_id, QUANTITY)),
               "split": sign(ALICE, transfer(bundle.bundle_id, 1, BOB)),
               "withdraw": sign(ISSUER, withdraw(bundle.bundle_id)),
               "export": sign(ALICE, export(bundle.bundle_id, QUANTITY))}[first]
    commit_txs(state, [earlier])
    # A retired certificate can never be withdrawn; nor can any other final status.
    err = assert_refused(pending_overlay(state), sign(ISSUER, withdraw(bundle.bundle_id)),
                         BundleNotActive)
    assert err.status == stored(state, bundle.bundle_id).status  # type: ignore[attr-defined]


@pytest.mark.parametrize("move", ["transfer", "retire", "export"])
def test_withdrawn_bundle_cannot_move(move: str) -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ISSUER, withdraw(bundle.bundle_id))])
    body = {"transfer": transfer(bundle.bundle_id, 1, BOB), "retire": retire(bundle.bundle_id, 1),
            "export": export(bundle.bundle_id, 1)}[move]
    assert_refused(pending_overlay(state), sign(ALICE, body), BundleNotActive)


# --- export ---------------------------------------------------------------------------
def test_export_whole_bundle_keeps_its_id() -> None:
    state, bundle = issued()
    tx = sign(ALICE, export(bundle.bundle_id, QUANTITY, "AIB-NL", "NL-ACME"))
    commit_txs(state, [tx], make_ctx(height=6))
    after = stored(state, bundle.bundle_id)
    assert (after.status, after.owner, after.last_tx) == (EXPORTED, ALICE.public, tx.tx_id)
    assert after.export is not None
    assert (after.export.destination_registry, after.export.destination_account) == (
        "AIB-NL", "NL-ACME")
    assert (after.export.export_tx, after.export.height) == (tx.tx_id, 6)
    assert list(bundles(state)) == [bundle.bundle_id]


def test_partial_export_splits_like_a_transfer() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, export(bundle.bundle_id, 250, account=""))])
    low = stored(state, compute_bundle_id(WT1, 0, 250))
    high = stored(state, compute_bundle_id(WT1, 250, QUANTITY))
    assert (low.status, low.owner, low.parent) == (EXPORTED, ALICE.public, bundle.bundle_id)
    assert low.export is not None and low.export.destination_account == ""
    assert (high.status, high.export, high.owner) == (ACTIVE, None, ALICE.public)
    assert stored(state, bundle.bundle_id).status == SPLIT
    check_state_serial_partition(state)


@pytest.mark.parametrize("registry", ["", "   "])
def test_export_without_a_destination_registry(registry: str) -> None:
    state, bundle = issued()
    body = export(bundle.bundle_id, 1, registry)
    assert_refused(pending_overlay(state), sign(ALICE, body), BadTxBody)


@pytest.mark.parametrize(("amount", "error"), [
    (0, InvalidAmount), (-1, InvalidAmount), (QUANTITY + 1, AmountExceedsRemaining)])
def test_export_bad_amount(amount: int, error: type[Exception]) -> None:
    state, bundle = issued()
    assert_refused(pending_overlay(state), sign(ALICE, export(bundle.bundle_id, amount)),
                   error)  # type: ignore[arg-type]


def test_export_by_non_owner_or_suspended_owner() -> None:
    state, bundle = issued()
    assert_refused(pending_overlay(state), sign(BOB, export(bundle.bundle_id, 1)), NotOwner)
    commit_txs(state, [sign(ISSUER, SuspendAccount(ALICE.public, "x"))])
    assert_refused(pending_overlay(state), sign(ALICE, export(bundle.bundle_id, 1)),
                   AccountSuspended)


@pytest.mark.parametrize("move", ["transfer", "retire", "export"])
def test_exported_bundle_cannot_move(move: str) -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, export(bundle.bundle_id, QUANTITY))])
    body = {"transfer": transfer(bundle.bundle_id, 1, CAROL),
            "retire": retire(bundle.bundle_id, 1), "export": export(bundle.bundle_id, 1)}[move]
    assert_refused(pending_overlay(state), sign(ALICE, body), BundleNotActive)


def test_retired_bundle_cannot_be_exported() -> None:
    state, bundle = issued()
    commit_txs(state, [sign(ALICE, retire(bundle.bundle_id, QUANTITY))])
    err = assert_refused(pending_overlay(state), sign(ALICE, export(bundle.bundle_id, 1)),
                         BundleNotActive)
    assert err.status == RETIRED  # type: ignore[attr-defined]


def test_now_is_before_every_short_expiry_here() -> None:
    # The fixtures above rely on the unit-test block time being before the expiry.
    assert NOW_MS < EXPIRY_MS
    assert replace(make_ctx(), expiry_s=SHORT_EXPIRY_S).time_ms == NOW_MS

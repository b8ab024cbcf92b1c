"""Import of certificates from another registry (DESIGN §2, §3).

Imported certificates live under a synthetic device ``ext:<registry>:<device>`` with its
own serial space; an external range is imported at most once. Every refusal is checked
for its exact error class and for leaving the overlay and the committed state unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.ledger_builders import (
    ALICE,
    BOB,
    GATEWAY,
    HOUR0,
    ISSUER,
    NOW_MS,
    OTHER_ISSUER,
    assert_refused,
    attest,
    base_state,
    bundles,
    commit_txs,
    import_,
    make_ctx,
    register_account,
    sign,
    transfer,
    withdraw,
)

from greenchain.crypto.keys import KeyPair, key_from_seed
from greenchain.errors import (
    AccountSuspended,
    AlreadyImported,
    BadTxBody,
    DeviceSuspended,
    InvalidPeriod,
    PeriodInFuture,
    SerialSpaceExhausted,
    Unauthorized,
    UnknownAccount,
    UnknownCode,
    UnknownCountry,
    UnknownEnergySource,
    UnknownIssuancePurpose,
    UnknownMarketZone,
    UnknownSupportCode,
    UnknownTechnology,
)
from greenchain.ledger.attest import MAX_SERIAL_END
from greenchain.ledger.imports import compute_merged_ranges
from greenchain.ledger.invariants import check_state_serial_partition
from greenchain.ledger.transactions import apply_tx
from greenchain.ledger.view import MemoryState, Overlay, get_device, get_imported_ranges
from greenchain.model.certificates import (
    ACTIVE,
    WITHDRAWN,
    compute_bundle_id,
    compute_ext_device_id,
    is_ext_device_id,
)
from greenchain.model.transactions import SuspendAccount, SuspendDevice

EXT = "ext:AIB-DE:DE-WIND-7"


def pending_overlay(state: MemoryState) -> Overlay:
    """An overlay holding one pending, unrelated write (an account), kept by refusals."""
    overlay = Overlay(state)
    apply_tx(overlay, sign(ISSUER, register_account(key_from_seed("erin"))), make_ctx(), 0)
    return overlay


def imported() -> MemoryState:
    """Base state plus external certificates [0, 500) of AIB-DE:DE-WIND-7 imported to alice."""
    state = base_state()
    commit_txs(state, [sign(ISSUER, import_(0, 500))])
    return state


# --- accepted -------------------------------------------------------------------------
def test_first_import_creates_the_synthetic_device_and_a_bundle() -> None:
    state = base_state()
    tx = sign(ISSUER, import_(1000, 1500, emissions_factor=None))
    commit_txs(state, [tx], make_ctx(height=4))
    assert compute_ext_device_id("AIB-DE", "DE-WIND-7") == EXT and is_ext_device_id(EXT)
    device = get_device(state, EXT)
    assert device is not None
    assert (device.owner_account, device.issuing_body, device.status) == (
        ALICE.public, ISSUER.public, ACTIVE)
    assert (device.attestation_key, device.capacity_w, device.issued_wh) == (b"", 0, 500)
    assert (device.country, device.issue_market_zone, device.technology) == (
        "DE", "DE-LU", "T020002")
    assert device.registered_height == 4
    (bundle,) = bundles(state).values()
    # Its own serial space starts at 0, whatever the external serials are.
    assert (bundle.device_id, bundle.serial_start, bundle.serial_end) == (EXT, 0, 500)
    assert bundle.bundle_id == compute_bundle_id(EXT, 0, 500)
    assert (bundle.owner, bundle.status, bundle.issuance_tx, bundle.parent) == (
        ALICE.public, ACTIVE, tx.tx_id, b"")
    assert (bundle.period_start, bundle.period_end) == (HOUR0, HOUR0 + 3600)
    assert (bundle.issuing_body, bundle.country, bundle.emissions_factor) == (
        ISSUER.public, "DE", None)
    assert get_imported_ranges(state, EXT) == [[1000, 1500]]
    check_state_serial_partition(state)


def test_later_imports_continue_the_serials_and_carry_their_own_attributes() -> None:
    state = imported()
    later = import_(500, 800, owner=BOB, support="production", start=HOUR0 + 3600,
                    end=HOUR0 + 7200)
    commit_txs(state, [sign(ISSUER, later)])
    bundle = bundles(state)[compute_bundle_id(EXT, 500, 800)]
    assert (bundle.owner, bundle.support_received, bundle.period_start) == (
        BOB.public, "production", HOUR0 + 3600)
    device = get_device(state, EXT)
    # The device keeps the owner of its first import; each bundle has its receiver.
    assert device is not None and (device.owner_account, device.issued_wh) == (ALICE.public, 800)
    # Adjacent external ranges are merged: one entry for [0, 800).
    assert get_imported_ranges(state, EXT) == [[0, 800]]
    check_state_serial_partition(state)


def test_imported_certificates_move_like_any_other() -> None:
    state = imported()
    bundle_id = compute_bundle_id(EXT, 0, 500)
    commit_txs(state, [sign(ALICE, transfer(bundle_id, 200, BOB))])
    commit_txs(state, [sign(ISSUER, withdraw(compute_bundle_id(EXT, 200, 500)))])
    assert bundles(state)[compute_bundle_id(EXT, 0, 200)].owner == BOB.public
    assert bundles(state)[compute_bundle_id(EXT, 200, 500)].status == WITHDRAWN
    check_state_serial_partition(state)


def test_the_same_external_device_of_another_registry_is_another_device() -> None:
    state = imported()
    commit_txs(state, [sign(ISSUER, import_(0, 500, registry="AIB-NL"))])
    assert get_device(state, "ext:AIB-NL:DE-WIND-7") is not None
    check_state_serial_partition(state)


def test_merged_ranges() -> None:
    assert compute_merged_ranges([], 5, 9) == [[5, 9]]
    assert compute_merged_ranges([[0, 5], [9, 12]], 5, 9) == [[0, 12]]
    assert compute_merged_ranges([[0, 5]], 6, 9) == [[0, 5], [6, 9]]
    assert compute_merged_ranges([[10, 20]], 0, 3) == [[0, 3], [10, 20]]


# --- AlreadyImported --------------------------------------------------------------------
@pytest.mark.parametrize(("start", "end"), [
    (0, 500), (499, 600), (100, 200), (0, 1), (0, 10_000),
], ids=["same", "overlaps-end", "inside", "first-serial", "covers"])
def test_already_imported(start: int, end: int) -> None:
    state = imported()
    err = assert_refused(pending_overlay(state), sign(ISSUER, import_(start, end)),
                         AlreadyImported)
    assert (err.imported_start, err.imported_end) == (0, 500)  # type: ignore[attr-defined]


def test_already_imported_within_one_overlay() -> None:
    overlay = Overlay(base_state())
    apply_tx(overlay, sign(ISSUER, import_(0, 500)), make_ctx(), 0)
    assert_refused(overlay, sign(ISSUER, import_(250, 260)), AlreadyImported)


def test_import_of_an_adjacent_range_is_accepted() -> None:
    state = imported()
    commit_txs(state, [sign(ISSUER, import_(500, 501))])
    assert get_imported_ranges(state, EXT) == [[0, 501]]


# --- refusals ---------------------------------------------------------------------------
@pytest.mark.parametrize("signer", [ALICE, GATEWAY], ids=["account", "gateway"])
def test_import_not_by_an_issuing_body(signer: KeyPair) -> None:
    assert_refused(pending_overlay(base_state()), sign(signer, import_()), Unauthorized)


def test_import_onto_another_issuing_body_s_device() -> None:
    state = imported()
    assert_refused(pending_overlay(state), sign(OTHER_ISSUER, import_(500, 600)), Unauthorized)
    # Under another registry name it is another synthetic device: accepted.
    commit_txs(state, [sign(OTHER_ISSUER, import_(500, 600, registry="AIB-DE2"))])


@pytest.mark.parametrize("changes", [
    {"source_registry": ""}, {"source_registry": "AIB:DE"}, {"source_device_id": " "},
    {"ext_start": 5, "ext_end": 5}, {"ext_start": 5, "ext_end": 4}, {"ext_start": -1},
    {"emissions_factor": -1}, {"source_device_id": "x" * 125},
], ids=["no-registry", "colon-in-registry", "no-device", "empty-range", "reversed-range",
        "negative-start", "negative-emissions", "id-too-long"])
def test_import_bad_body(changes: dict[str, object]) -> None:
    body = replace(import_(), **changes)  # type: ignore[arg-type]
    assert_refused(pending_overlay(base_state()), sign(ISSUER, body), BadTxBody)


@pytest.mark.parametrize(("changes", "error"), [
    ({"energy_source": "F0"}, UnknownEnergySource), ({"technology": "T0"}, UnknownTechnology),
    ({"country": "XX"}, UnknownCountry), ({"zone": "DE"}, UnknownMarketZone),
    ({"support": "lots"}, UnknownSupportCode), ({"purpose": "fun"}, UnknownIssuancePurpose),
], ids=["energy-source", "technology", "country", "zone", "support", "purpose"])
def test_import_unknown_code(changes: dict[str, str], error: type[UnknownCode]) -> None:
    body = import_(**changes)  # type: ignore[arg-type]
    assert_refused(pending_overlay(base_state()), sign(ISSUER, body), error)


@pytest.mark.parametrize(("start", "end", "error"), [
    (HOUR0, HOUR0, InvalidPeriod), (HOUR0 + 1800, HOUR0 + 5400, InvalidPeriod),
    (NOW_MS // 1000 // 3600 * 3600, NOW_MS // 1000 + 1, PeriodInFuture),
], ids=["empty", "crosses-hour", "in-future"])
def test_import_bad_period(start: int, end: int, error: type[Exception]) -> None:
    body = import_(start=start, end=end)
    assert_refused(pending_overlay(base_state()), sign(ISSUER, body), error)  # type: ignore[arg-type]


def test_import_to_an_unknown_or_suspended_account() -> None:
    state = base_state()
    dave = key_from_seed("dave")
    assert_refused(pending_overlay(state), sign(ISSUER, import_(owner=dave)), UnknownAccount)
    commit_txs(state, [sign(ISSUER, SuspendAccount(ALICE.public, "x"))])
    assert_refused(pending_overlay(state), sign(ISSUER, import_()), AccountSuspended)


def test_import_onto_a_suspended_synthetic_device() -> None:
    state = imported()
    commit_txs(state, [sign(ISSUER, SuspendDevice(EXT, "source registry audit"))])
    assert_refused(pending_overlay(state), sign(ISSUER, import_(500, 600)), DeviceSuspended)


def test_a_synthetic_device_never_attests() -> None:
    state = imported()
    # No key matches its empty attestation key, the gateway's included.
    err = assert_refused(pending_overlay(state), sign(GATEWAY, attest(EXT)), Unauthorized)
    assert err.signer == GATEWAY.public  # type: ignore[attr-defined]


def test_an_import_that_would_pass_serial_2_63_is_refused() -> None:
    # Found by an attack run: ext_end = 2^64 - 1 issued serials no API route could address.
    state = imported()  # the synthetic device already holds serials [0, 500)
    too_many = import_(1000, 1000 + MAX_SERIAL_END - 499)
    assert_refused(pending_overlay(state), sign(ISSUER, too_many), SerialSpaceExhausted)
    commit_txs(state, [sign(ISSUER, import_(1000, 1000 + MAX_SERIAL_END - 500))])
    device = get_device(state, EXT)
    assert device is not None and device.issued_wh == MAX_SERIAL_END
    check_state_serial_partition(state)

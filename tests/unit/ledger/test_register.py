"""Registry transactions (DESIGN §3): accounts, devices, suspensions, replay, validator set.

Every refusal is checked for its exact error class and for leaving the overlay (with an
earlier pending write in it) and the committed state unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.ledger_builders import (
    ALICE,
    BOB,
    GATEWAY,
    ISSUER,
    NOW_MS,
    PRODUCTION_START_S,
    SMALL_ORDER_KEY,
    VALIDATOR,
    WT1,
    assert_refused,
    attest,
    base_state,
    commit_txs,
    make_ctx,
    register_account,
    register_device,
    sign,
    transfer,
)

from greenchain.crypto.keys import key_from_seed
from greenchain.errors import (
    AccountExists,
    BadTxBody,
    DeviceExists,
    InsufficientApprovals,
    ReplayedTransaction,
    SmallOrderKey,
    Unauthorized,
    UnknownAccount,
    UnknownCode,
    UnknownCountry,
    UnknownDevice,
    UnknownEnergySource,
    UnknownIssuancePurpose,
    UnknownMarketZone,
    UnknownSupportCode,
    UnknownTechnology,
    ValidatorSetError,
)
from greenchain.ledger.transactions import apply_tx
from greenchain.ledger.view import (
    MemoryState,
    Overlay,
    get_account,
    get_bundle,
    get_device,
    get_tx_location,
)
from greenchain.model.certificates import ACTIVE, SUSPENDED, compute_bundle_id
from greenchain.model.transactions import (
    SuspendAccount,
    SuspendDevice,
    UpdateValidators,
    ValidatorSignature,
)

DAVE = key_from_seed("dave")
ERIN = key_from_seed("erin")


def pending_overlay(state: MemoryState) -> Overlay:
    """An overlay that already holds one pending write (erin's account)."""
    overlay = Overlay(state)
    apply_tx(overlay, sign(ISSUER, register_account(ERIN, "erin")), make_ctx(), 0)
    assert overlay.writes
    return overlay


# --- register_account -----------------------------------------------------------------
def test_register_account_accepted() -> None:
    overlay = Overlay(MemoryState())
    tx = sign(ISSUER, register_account(DAVE, "dave"))
    apply_tx(overlay, tx, make_ctx(height=7), 3)
    account = get_account(overlay, DAVE.public)
    assert account is not None
    assert (account.key, account.name, account.status) == (DAVE.public, "dave", ACTIVE)
    assert (account.issuing_body, account.registered_height) == (ISSUER.public, 7)
    assert get_tx_location(overlay, tx.tx_id) == (7, 3)


def test_register_account_not_issuing_body() -> None:
    overlay = pending_overlay(base_state())
    err = assert_refused(overlay, sign(ALICE, register_account(DAVE)), Unauthorized)
    assert err.signer == ALICE.public  # type: ignore[attr-defined]
    assert get_account(overlay, DAVE.public) is None


def test_register_account_duplicate() -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(ISSUER, register_account(ALICE, "again")), AccountExists)
    # A duplicate of a still-pending registration is refused too.
    assert_refused(overlay, sign(ISSUER, register_account(ERIN, "again")), AccountExists)


def test_register_account_small_order_key() -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(ISSUER, register_account(SMALL_ORDER_KEY)), SmallOrderKey)


# --- register_device ------------------------------------------------------------------
def test_register_device_accepted() -> None:
    state = base_state()
    overlay = Overlay(state)
    body = register_device("WT9", ALICE, capacity_w=1)
    apply_tx(overlay, sign(ISSUER, body), make_ctx(height=4), 0)
    device = get_device(overlay, "WT9")
    assert device is not None
    assert device.owner_account == ALICE.public
    assert device.attestation_key == GATEWAY.public
    assert (device.capacity_w, device.status, device.issued_wh) == (1, ACTIVE, 0)
    assert (device.issuing_body, device.registered_height) == (ISSUER.public, 4)
    assert device.production_start_s == PRODUCTION_START_S


def test_register_device_production_start_in_the_past_and_extreme_coordinates() -> None:
    overlay = Overlay(base_state())
    body = register_device("WT9", BOB, production_start_s=0, latitude_udeg=-90_000_000,
                           longitude_udeg=180_000_000)
    apply_tx(overlay, sign(ISSUER, body), make_ctx(), 0)
    device = get_device(overlay, "WT9")
    assert device is not None and device.production_start_s == 0


def test_register_device_not_issuing_body() -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(ALICE, register_device("WT9")), Unauthorized)


def test_register_device_duplicate_id() -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(ISSUER, register_device(WT1, BOB)), DeviceExists)


def test_register_device_unknown_owner() -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(ISSUER, register_device("WT9", DAVE)), UnknownAccount)


def test_register_device_owner_may_be_pending() -> None:
    overlay = pending_overlay(base_state())
    apply_tx(overlay, sign(ISSUER, register_device("WT9", ERIN)), make_ctx(), 1)
    device = get_device(overlay, "WT9")
    assert device is not None and device.owner_account == ERIN.public


@pytest.mark.parametrize("changes", [
    {"capacity_w": 0},
    {"capacity_w": -1},
    {"capacity_w": 100_000_000_001},
    {"capacity_w": 2**64 - 1},
    {"latitude_udeg": 90_000_001},
    {"latitude_udeg": -90_000_001},
    {"longitude_udeg": 180_000_001},
    {"longitude_udeg": -180_000_001},
    {"production_start_s": PRODUCTION_START_S + 3600},
    {"production_start_s": PRODUCTION_START_S - 1},
    {"production_start_s": -86_400},
], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_register_device_bad_field(changes: dict[str, int]) -> None:
    overlay = pending_overlay(base_state())
    body = register_device("WT9", ALICE, **changes)  # type: ignore[arg-type]
    assert_refused(overlay, sign(ISSUER, body), BadTxBody)
    assert get_device(overlay, "WT9") is None


@pytest.mark.parametrize("device_id", ["", "a\x00b", "x" * 129])
def test_register_device_bad_id(device_id: str) -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(ISSUER, register_device(device_id)), BadTxBody)


def test_register_device_small_order_attestation_key() -> None:
    overlay = pending_overlay(base_state())
    body = register_device("WT9", ALICE, gateway=SMALL_ORDER_KEY)
    assert_refused(overlay, sign(ISSUER, body), SmallOrderKey)


# --- suspensions ----------------------------------------------------------------------
def test_suspend_device_and_account() -> None:
    state = base_state()
    commit_txs(state, [sign(ISSUER, SuspendDevice(WT1, "meter audit")),
                       sign(ISSUER, SuspendAccount(BOB.public, "fraud"))])
    device, account = get_device(state, WT1), get_account(state, BOB.public)
    assert device is not None and device.status == SUSPENDED
    assert account is not None and account.status == SUSPENDED
    other = get_account(state, ALICE.public)
    assert other is not None and other.status == ACTIVE


def test_suspend_unknown_targets() -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(ISSUER, SuspendDevice("nope", "x")), UnknownDevice)
    assert_refused(overlay, sign(ISSUER, SuspendAccount(DAVE.public, "x")), UnknownAccount)


def test_suspend_not_issuing_body() -> None:
    overlay = pending_overlay(base_state())
    assert_refused(overlay, sign(ALICE, SuspendDevice(WT1, "x")), Unauthorized)
    assert_refused(overlay, sign(ALICE, SuspendAccount(BOB.public, "x")), Unauthorized)


# --- replay and validator set ---------------------------------------------------------
def test_replay_of_committed_tx() -> None:
    state = base_state()
    tx = sign(ISSUER, register_account(DAVE))
    commit_txs(state, [tx])
    overlay = pending_overlay(state)
    err = assert_refused(overlay, tx, ReplayedTransaction)
    assert err.tx_id == tx.tx_id  # type: ignore[attr-defined]


def test_replay_is_checked_before_the_rules() -> None:
    # A replayed suspension would otherwise pass (the target still exists).
    state = base_state()
    tx = sign(ISSUER, SuspendDevice(WT1, "x"))
    commit_txs(state, [tx])
    assert_refused(pending_overlay(state), tx, ReplayedTransaction)


def test_same_body_new_nonce_is_a_new_tx() -> None:
    state = base_state()
    first = sign(ISSUER, SuspendDevice(WT1, "x"), nonce=1)
    second = sign(ISSUER, SuspendDevice(WT1, "x"), nonce=2)
    commit_txs(state, [first, second])
    assert first.tx_id != second.tx_id
    assert get_tx_location(state, second.tx_id) == (2, 1)


def test_update_validators_without_valid_approvals_is_refused() -> None:
    # The rules of validator-set changes are tested in test_validators.py.
    overlay = pending_overlay(base_state())
    body = UpdateValidators((DAVE.public,), (), 10,
                            (ValidatorSignature(VALIDATOR.public, b"\x00" * 64),))
    ctx = replace(make_ctx(), genesis_validators=(VALIDATOR.public,))
    error = assert_refused(overlay, sign(VALIDATOR, body), InsufficientApprovals, ctx)
    assert isinstance(error, ValidatorSetError)


# --- registry data: EECS / EN 16325 fields and the genesis code lists -------------------
def test_register_device_stores_every_registry_field() -> None:
    overlay = Overlay(base_state())
    body = replace(register_device("WT9", ALICE), issue_market_zone="FR",
                   connected_grid_identification="17X100A100A0001A",
                   support_received="investment", is_storage=1, issuance_purpose="voluntary",
                   emissions_factor=0)
    apply_tx(overlay, sign(ISSUER, body), make_ctx(time_ms=NOW_MS + 86_400_000 + 5), 0)
    device = get_device(overlay, "WT9")
    assert device is not None
    assert (device.issue_market_zone, device.connected_grid_identification) == (
        "FR", "17X100A100A0001A")
    assert (device.support_received, device.is_storage, device.issuance_purpose) == (
        "investment", 1, "voluntary")
    assert device.emissions_factor == 0 and device.last_register_wh is None
    # Registration date: the UTC midnight of the block time (2015-03-04).
    assert device.registration_date_s == NOW_MS // 1000 - 1 + 86_400


def test_register_device_defaults_keep_older_constructions_working() -> None:
    # The 11 positional fields of before the registry issue, and the defaults after them.
    overlay = Overlay(base_state())
    apply_tx(overlay, sign(ISSUER, register_device("WT9", ALICE)), make_ctx(), 0)
    device = get_device(overlay, "WT9")
    assert device is not None
    # An empty market zone is the zone named like the country (FR is one bidding zone).
    assert (device.country, device.issue_market_zone) == ("FR", "FR")
    assert (device.support_received, device.issuance_purpose, device.is_storage) == (
        "none", "disclosure", 0)
    assert device.emissions_factor is None and device.connected_grid_identification == ""


@pytest.mark.parametrize(("changes", "error", "code_list"), [
    ({"energy_source": "F99999999"}, UnknownEnergySource, "energy_sources"),
    ({"technology": "T020003"}, UnknownTechnology, "technologies"),
    ({"country": "ZZ"}, UnknownCountry, "countries"),
    ({"country": "fr"}, UnknownCountry, "countries"),
    ({"issue_market_zone": "DE"}, UnknownMarketZone, "market_zones"),
    # Germany is not one zone named DE: an empty zone there means "DE", which is unknown.
    ({"country": "DE"}, UnknownMarketZone, "market_zones"),
    ({"support_received": "unknown"}, UnknownSupportCode, "support"),
    ({"issuance_purpose": "speculation"}, UnknownIssuancePurpose, "issuance_purposes"),
], ids=["energy-source", "technology", "country", "country-lowercase", "market-zone",
        "zone-of-a-split-country", "support", "issuance-purpose"])
def test_register_device_unknown_code(changes: dict[str, str], error: type[UnknownCode],
                                      code_list: str) -> None:
    overlay = pending_overlay(base_state())
    body = replace(register_device("WT9", ALICE), **changes)  # type: ignore[arg-type]
    err = assert_refused(overlay, sign(ISSUER, body), error)
    assert isinstance(err, UnknownCode)
    assert err.code_list == code_list  # type: ignore[attr-defined]
    assert get_device(overlay, "WT9") is None


def test_register_device_in_a_split_country_names_its_zone() -> None:
    overlay = Overlay(base_state())
    body = replace(register_device("WT9", ALICE), country="DE", issue_market_zone="DE-LU")
    apply_tx(overlay, sign(ISSUER, body), make_ctx(), 0)
    device = get_device(overlay, "WT9")
    assert device is not None and device.issue_market_zone == "DE-LU"


def test_codes_are_not_checked_without_code_lists() -> None:
    # A caller that did not load genesis data (code_lists None) checks no code.
    overlay = Overlay(base_state())
    body = replace(register_device("WT9", ALICE), technology="T999999", country="ZZ")
    apply_tx(overlay, sign(ISSUER, body), replace(make_ctx(), code_lists=None), 0)
    device = get_device(overlay, "WT9")
    assert device is not None and device.issue_market_zone == "ZZ"


@pytest.mark.parametrize("changes", [
    {"is_storage": 2}, {"is_storage": -1}, {"emissions_factor": -1},
    {"device_id": "ext:AIB-DE:DE-WIND-7"}, {"device_id": "ext:"},
], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_register_device_bad_registry_field(changes: dict[str, object]) -> None:
    overlay = pending_overlay(base_state())
    body = replace(register_device("WT9", ALICE), **changes)  # type: ignore[arg-type]
    assert_refused(overlay, sign(ISSUER, body), BadTxBody)


def test_suspended_device_keeps_its_issued_bundles_movable() -> None:
    # Suspending a device stops issuance, not the certificates already issued.
    state = base_state()
    commit_txs(state, [sign(GATEWAY, attest(WT1))])
    commit_txs(state, [sign(ISSUER, SuspendDevice(WT1, "meter audit"))])
    bundle_id = compute_bundle_id(WT1, 0, 1000)
    commit_txs(state, [sign(ALICE, transfer(bundle_id, 1000, BOB))])
    moved = get_bundle(state, bundle_id)
    assert moved is not None and moved.owner == BOB.public

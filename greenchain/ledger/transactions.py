"""Applying one transaction: one `apply_<type>` per row of DESIGN §3.

Each function takes an overlay, the transaction and its context, checks its rules in
order (one rule per ``if ... raise``) and writes the new records into the overlay. A
failing rule raises a typed `InvalidTransaction` before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from greenchain.codec import encode_trusted
from greenchain.crypto.signing import validate_public_key
from greenchain.errors import (
    AccountExists,
    BadTxBody,
    DeviceExists,
    ReplayedTransaction,
    UnknownAccount,
    UnknownDevice,
    UnknownTxType,
)
from greenchain.ledger.attest import apply_attest
from greenchain.ledger.bundles import apply_retire, apply_transfer
from greenchain.ledger.checks import validate_device_id, validate_issuing_body
from greenchain.ledger.codes import (
    certificate_codes,
    validate_codes,
    validate_emissions_factor,
)
from greenchain.ledger.context import TxContext
from greenchain.ledger.imports import apply_import
from greenchain.ledger.lifecycle import apply_export, apply_withdraw
from greenchain.ledger.validators import apply_update_validators
from greenchain.ledger.view import (
    Overlay,
    account_key,
    device_key,
    get_account,
    get_device,
    get_tx_location,
    put_record,
    tx_index_key,
)
from greenchain.model.certificates import (
    ACTIVE,
    SUSPENDED,
    Account,
    Device,
    compute_utc_date_s,
    is_ext_device_id,
)
from greenchain.model.transactions import (
    RegisterAccount,
    RegisterDevice,
    SuspendAccount,
    SuspendDevice,
    Tx,
)

MAX_CAPACITY_W = 100_000_000_000
"""100 GW: larger than any plant; keeps serials far inside 64 bits."""


def apply_register_account(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Register an account holder (DESIGN §3).

    Raises
    ------
    Unauthorized, AccountExists, SmallOrderKey
    """
    body = tx.body
    assert isinstance(body, RegisterAccount)
    validate_issuing_body(tx, ctx)
    # The account key must be usable for signing: not of small order (DESIGN §4).
    validate_public_key(body.account_key)
    if get_account(overlay, body.account_key) is not None:
        raise AccountExists("account already registered", account=body.account_key)
    account = Account(body.account_key, body.name, ACTIVE, tx.signer, ctx.height)
    put_record(overlay, account_key(body.account_key), account)


def _validate_device_body(body: RegisterDevice) -> None:
    validate_device_id(body.device_id)
    # ext:<registry>:<device> ids are reserved for imported certificates (DESIGN §2).
    if is_ext_device_id(body.device_id):
        raise BadTxBody("device ids starting with 'ext:' are reserved for imports",
                        device_id=body.device_id)
    # Bounded so that serials (cumulative Wh) stay far inside uint64 for centuries.
    if not 0 < body.capacity_w <= MAX_CAPACITY_W:
        raise BadTxBody(f"capacity_w must be 1 to {MAX_CAPACITY_W} W",
                        capacity_w=body.capacity_w)
    if not -90_000_000 <= body.latitude_udeg <= 90_000_000:
        raise BadTxBody("latitude out of range", latitude_udeg=body.latitude_udeg)
    if not -180_000_000 <= body.longitude_udeg <= 180_000_000:
        raise BadTxBody("longitude out of range", longitude_udeg=body.longitude_udeg)
    if body.production_start_s < 0 or body.production_start_s % 86400:
        raise BadTxBody("production start must be a UTC midnight in seconds")
    if body.is_storage not in (0, 1):
        raise BadTxBody("is_storage must be 0 or 1", is_storage=body.is_storage)
    validate_emissions_factor(body.emissions_factor)


def apply_register_device(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Register a production device (DESIGN §3).

    Raises
    ------
    Unauthorized, BadTxBody, UnknownCode, DeviceExists, UnknownAccount, SmallOrderKey
        `UnknownCode` as its leaf for the list (energy source, technology, country,
        market zone, support, issuance purpose) that does not hold the named code.
    """
    body = tx.body
    assert isinstance(body, RegisterDevice)
    validate_issuing_body(tx, ctx)
    _validate_device_body(body)
    codes = certificate_codes(body)
    validate_codes(ctx.code_lists, codes)
    if get_device(overlay, body.device_id) is not None:
        raise DeviceExists("device id already registered", device_id=body.device_id)
    if get_account(overlay, body.owner_account) is None:
        raise UnknownAccount("owner account is not registered", account=body.owner_account)
    validate_public_key(body.attestation_key)
    device = Device(
        body.device_id, body.device_name, body.attestation_key, body.owner_account,
        body.capacity_w, body.energy_source, body.technology, body.country,
        body.latitude_udeg, body.longitude_udeg, body.production_start_s, tx.signer,
        ACTIVE, 0, ctx.height, codes["market_zones"], body.connected_grid_identification,
        body.support_received, body.is_storage, body.issuance_purpose, body.emissions_factor,
        compute_utc_date_s(ctx.time_ms), None,
    )
    put_record(overlay, device_key(body.device_id), device)


def apply_suspend_device(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Suspend a device: it can no longer attest, nor receive imports (DESIGN §3).

    Raises
    ------
    Unauthorized, UnknownDevice
    """
    body = tx.body
    assert isinstance(body, SuspendDevice)
    validate_issuing_body(tx, ctx)
    device = get_device(overlay, body.device_id)
    if device is None:
        raise UnknownDevice("no such device", device_id=body.device_id)
    put_record(overlay, device_key(body.device_id), replace(device, status=SUSPENDED))


def apply_suspend_account(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Suspend an account: it can no longer transfer, retire or receive (DESIGN §3).

    Raises
    ------
    Unauthorized, UnknownAccount
    """
    body = tx.body
    assert isinstance(body, SuspendAccount)
    validate_issuing_body(tx, ctx)
    account = get_account(overlay, body.account_key)
    if account is None:
        raise UnknownAccount("no such account", account=body.account_key)
    put_record(overlay, account_key(body.account_key), replace(account, status=SUSPENDED))


APPLY: dict[str, Callable[[Overlay, Tx, TxContext], None]] = {
    "register_account": apply_register_account,
    "register_device": apply_register_device,
    "attest": apply_attest,
    "transfer": apply_transfer,
    "retire": apply_retire,
    "suspend_device": apply_suspend_device,
    "suspend_account": apply_suspend_account,
    "update_validators": apply_update_validators,
    "withdraw": apply_withdraw,
    "export": apply_export,
    "import": apply_import,
}


def apply_tx(overlay: Overlay, tx: Tx, ctx: TxContext, position: int) -> None:
    """Apply one transaction at `position` of block `ctx.height`, all or nothing.

    Signatures are not checked here (`check_tx_static` does that once per node).

    Raises
    ------
    InvalidTransaction
        A typed leaf naming the broken rule; `overlay` is then unchanged.
    """
    # DESIGN §3: a transaction whose id is already in the chain is a replay.
    if get_tx_location(overlay, tx.tx_id) is not None:
        raise ReplayedTransaction("transaction already committed", tx_id=tx.tx_id)
    handler = APPLY.get(tx.type)
    if handler is None:  # pragma: no cover - decode_tx refuses unknown types
        raise UnknownTxType(f"unknown transaction type {tx.type!r}")
    child = overlay.child()
    handler(child, tx, ctx)
    child.put(tx_index_key(tx.tx_id), encode_trusted([ctx.height, position]))
    overlay.merge(child)


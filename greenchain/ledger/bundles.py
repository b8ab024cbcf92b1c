"""Moving certificates: transfer and retirement, with splits (DESIGN §2, §3).

Moving a bundle's whole amount keeps the bundle (new owner or status). Moving part of it
splits it: the moved piece takes the low serials ``[s, s + amount)``, the rest keeps
``[s + amount, e)``; the parent becomes ``split`` and both children name it as parent.
An expired bundle (block time at or past its expiry date) no longer moves.
"""

from __future__ import annotations

from typing import Any

from greenchain.errors import (
    AccountSuspended,
    AmountExceedsRemaining,
    BadTxBody,
    BundleExpired,
    BundleNotActive,
    InvalidAmount,
    NotOwner,
    UnknownAccount,
    UnknownBundle,
)
from greenchain.ledger.codes import validate_code
from greenchain.ledger.context import TxContext
from greenchain.ledger.view import Overlay, bundle_key, get_account, get_bundle, put_record
from greenchain.model.certificates import (
    ACTIVE,
    RETIRED,
    SPLIT,
    Bundle,
    Retirement,
    compute_bundle_id,
    compute_expiry_time_s,
    is_expired_at,
)
from greenchain.model.fields import replace_fields
from greenchain.model.transactions import Retire, Transfer, Tx


def validate_active_holder(overlay: Overlay, key: bytes) -> None:
    """Raise unless `key` is a registered, active account.

    Raises
    ------
    UnknownAccount, AccountSuspended
    """
    account = get_account(overlay, key)
    if account is None:
        raise UnknownAccount("account is not registered", account=key)
    if account.status != ACTIVE:
        raise AccountSuspended("account is suspended", account=key)


def validate_not_expired(bundle: Bundle, ctx: TxContext) -> None:
    """Raise `BundleExpired` if the block time reached the bundle's expiry (DESIGN §2)."""
    if is_expired_at(bundle, ctx.time_ms, ctx.expiry_s):
        raise BundleExpired("bundle has expired", bundle_id=bundle.bundle_id,
                            expiry=compute_expiry_time_s(bundle, ctx.expiry_s),
                            time_ms=ctx.time_ms)


def validate_movable(overlay: Overlay, tx: Tx, ctx: TxContext, bundle_id: bytes,
                     amount_wh: int) -> Bundle:
    """Check that the signer may move `amount_wh` of an active, unexpired bundle it owns.

    Returns
    -------
    Bundle
        The source bundle.

    Raises
    ------
    UnknownBundle, NotOwner, BundleNotActive, BundleExpired, InvalidAmount,
    AmountExceedsRemaining, UnknownAccount, AccountSuspended
    """
    bundle = get_bundle(overlay, bundle_id)
    if bundle is None:
        raise UnknownBundle("no such bundle", bundle_id=bundle_id)
    if bundle.owner != tx.signer:
        raise NotOwner("signer does not own the bundle", bundle_id=bundle_id)
    validate_active_holder(overlay, tx.signer)
    if bundle.status != ACTIVE:
        raise BundleNotActive(f"bundle is {bundle.status}", bundle_id=bundle_id,
                              status=bundle.status)
    validate_not_expired(bundle, ctx)
    if amount_wh <= 0:
        raise InvalidAmount("amount must be a positive number of Wh", amount_wh=amount_wh)
    if amount_wh > bundle.quantity_wh:
        raise AmountExceedsRemaining("amount exceeds the bundle's quantity",
                                     amount_wh=amount_wh, remaining_wh=bundle.quantity_wh)
    return bundle


def _child(parent: Bundle, start: int, end: int, tx: Tx, **changes: Any) -> Bundle:
    bundle_id = compute_bundle_id(parent.device_id, start, end)
    return replace_fields(parent, bundle_id=bundle_id, serial_start=start, serial_end=end,
                          parent=parent.bundle_id, last_tx=tx.tx_id, **changes)


def move_low_serials(overlay: Overlay, bundle: Bundle, amount_wh: int, tx: Tx,
                     **moved_changes: Any) -> Bundle:
    """Carve `amount_wh` off the low end of `bundle` and return the moved piece.

    For a whole-bundle move the bundle itself is returned (it keeps its id); otherwise
    the parent is marked split, the remainder is written, and the new low piece is
    returned, not yet written (the caller writes it). `moved_changes` (new owner, status,
    claim) are applied to the moved piece as it is built: one copy per record.
    """
    if amount_wh == bundle.quantity_wh:
        return replace_fields(bundle, last_tx=tx.tx_id, **moved_changes)
    cut = bundle.serial_start + amount_wh
    rest = _child(bundle, cut, bundle.serial_end, tx)
    put_record(overlay, bundle_key(bundle.bundle_id), replace_fields(bundle, status=SPLIT))
    put_record(overlay, bundle_key(rest.bundle_id), rest)
    return _child(bundle, bundle.serial_start, cut, tx, **moved_changes)


def apply_transfer(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Transfer part or all of a bundle to another account.

    Raises
    ------
    UnknownBundle, NotOwner, BundleNotActive, BundleExpired, InvalidAmount,
    AmountExceedsRemaining, UnknownAccount, AccountSuspended
    """
    body = tx.body
    assert isinstance(body, Transfer)
    bundle = validate_movable(overlay, tx, ctx, body.bundle_id, body.amount_wh)
    # The receiver must be a known, active account (DESIGN §3).
    validate_active_holder(overlay, body.receiver)
    moved = move_low_serials(overlay, bundle, body.amount_wh, tx, owner=body.receiver)
    put_record(overlay, bundle_key(moved.bundle_id), moved)


def apply_retire(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Retire (cancel) part or all of a bundle for a beneficiary: the final claim.

    Raises
    ------
    BadTxBody
        If the beneficiary is empty or the consumption period is empty.
    UnknownCountry
        If the country of consumption is not in the genesis ``countries`` list.
    UnknownBundle, NotOwner, BundleNotActive, BundleExpired, InvalidAmount,
    AmountExceedsRemaining, UnknownAccount, AccountSuspended
    """
    body = tx.body
    assert isinstance(body, Retire)
    bundle = validate_movable(overlay, tx, ctx, body.bundle_id, body.amount_wh)
    if not body.beneficiary.strip():
        raise BadTxBody("a retirement needs a beneficiary")
    if not 0 <= body.consumption_start < body.consumption_end:
        raise BadTxBody("consumption period must be non-empty",
                        start=body.consumption_start, end=body.consumption_end)
    validate_code(ctx.code_lists, "countries", body.country)
    claim = Retirement(body.beneficiary, body.consumption_start, body.consumption_end,
                       body.purpose, body.country, tx.tx_id, ctx.height)
    moved = move_low_serials(overlay, bundle, body.amount_wh, tx, status=RETIRED,
                             retirement=claim)
    put_record(overlay, bundle_key(moved.bundle_id), moved)

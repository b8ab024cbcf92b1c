"""Withdrawal and export of certificates (DESIGN §2, §3; the registry issue).

- ``withdraw``: the issuing body of an active bundle withdraws all of it, with a reason;
  the status ``withdrawn`` is final. A retired bundle can never be withdrawn (it is not
  active); an expired one can (it is still stored as active).
- ``export``: the owner sends part or all of an active, unexpired bundle to another
  registry; the piece becomes ``exported`` (final), splitting like a transfer.

Both keep the serial-range invariant: a withdrawn or exported bundle is still a leaf.
"""

from __future__ import annotations

from dataclasses import replace

from greenchain.errors import BadTxBody, BundleNotActive, Unauthorized, UnknownBundle
from greenchain.ledger.bundles import move_low_serials, validate_movable
from greenchain.ledger.checks import validate_issuing_body
from greenchain.ledger.context import TxContext
from greenchain.ledger.view import Overlay, bundle_key, get_bundle, put_record
from greenchain.model.certificates import (
    ACTIVE,
    EXPORTED,
    WITHDRAWN,
    ExportRecord,
    Withdrawal,
)
from greenchain.model.lifecycle_txs import Export, Withdraw
from greenchain.model.transactions import Tx


def apply_withdraw(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Withdraw a whole active bundle (signed by its issuing body).

    Raises
    ------
    Unauthorized
        If the signer is not an issuing body, or not the bundle's.
    BadTxBody
        If the reason is empty.
    UnknownBundle, BundleNotActive
    """
    body = tx.body
    assert isinstance(body, Withdraw)
    validate_issuing_body(tx, ctx)
    if not body.reason.strip():
        raise BadTxBody("a withdrawal needs a reason")
    bundle = get_bundle(overlay, body.bundle_id)
    if bundle is None:
        raise UnknownBundle("no such bundle", bundle_id=body.bundle_id)
    # Only the issuing body responsible for the certificates may withdraw them.
    if bundle.issuing_body != tx.signer:
        raise Unauthorized("signer is not the bundle's issuing body", signer=tx.signer)
    # Split, retired, withdrawn and exported are final: never withdrawn (again).
    if bundle.status != ACTIVE:
        raise BundleNotActive(f"bundle is {bundle.status}", bundle_id=body.bundle_id,
                              status=bundle.status)
    withdrawal = Withdrawal(body.reason, tx.tx_id, ctx.height)
    put_record(overlay, bundle_key(bundle.bundle_id),
               replace(bundle, status=WITHDRAWN, withdrawal=withdrawal, last_tx=tx.tx_id))


def apply_export(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Export part or all of a bundle to another registry (signed by its owner).

    Raises
    ------
    BadTxBody
        If the destination registry is empty.
    UnknownBundle, NotOwner, BundleNotActive, BundleExpired, InvalidAmount,
    AmountExceedsRemaining, UnknownAccount, AccountSuspended
    """
    body = tx.body
    assert isinstance(body, Export)
    bundle = validate_movable(overlay, tx, ctx, body.bundle_id, body.amount_wh)
    if not body.destination_registry.strip():
        raise BadTxBody("an export needs a destination registry")
    record = ExportRecord(body.destination_registry, body.destination_account, tx.tx_id,
                          ctx.height)
    moved = move_low_serials(overlay, bundle, body.amount_wh, tx, status=EXPORTED,
                             export=record)
    put_record(overlay, bundle_key(moved.bundle_id), moved)

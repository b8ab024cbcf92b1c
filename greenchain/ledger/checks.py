"""Stateless transaction checks (STYLE.md §3): run once at the edge, before any state read.

`check_tx_static` is the edge check; the `validate_*` helpers below are the stateless
rules shared by several `apply_<type>` steps (they read the context, never the state).
"""

from __future__ import annotations

from greenchain.crypto.signing import check_signature
from greenchain.errors import BadTxBody, Unauthorized, WrongChain
from greenchain.ledger.context import TxContext
from greenchain.model.transactions import Tx

MAX_DEVICE_ID_LEN = 128


def check_tx_static(tx: Tx, chain_id: str) -> None:
    """Check a decoded transaction without reading state.

    Parameters
    ----------
    tx:
        A transaction decoded by `decode_tx` (shape and canonical form already checked).
    chain_id:
        This chain's id.

    Raises
    ------
    WrongChain
        If the transaction is for another chain.
    SmallOrderKey, NonCanonicalSignature, BadSignature
        If the signature fails the Ed25519 policy of DESIGN §4.
    """
    # DESIGN §3: the chain id is signed, so a transaction cannot be replayed on another chain.
    if tx.chain_id != chain_id:
        raise WrongChain(f"transaction is for chain {tx.chain_id!r}, not {chain_id!r}",
                         expected=chain_id, got=tx.chain_id)
    check_signature(tx.signer, tx.sign_bytes, tx.signature)


def validate_issuing_body(tx: Tx, ctx: TxContext) -> None:
    """Raise `Unauthorized` unless the signer is an issuing body from genesis."""
    if tx.signer not in ctx.issuing_bodies:
        raise Unauthorized(f"{tx.type} must be signed by an issuing body", signer=tx.signer)


def validate_device_id(device_id: str) -> None:
    """Raise `BadTxBody` unless `device_id` has 1-128 characters and no NUL."""
    if not 0 < len(device_id) <= MAX_DEVICE_ID_LEN or "\x00" in device_id:
        raise BadTxBody("device id must be 1-128 characters without NUL", device_id=device_id)

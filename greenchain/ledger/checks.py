"""Stateless transaction checks (STYLE.md §3): run once at the edge, before any state read."""

from __future__ import annotations

from greenchain.crypto.signing import check_signature
from greenchain.errors import WrongChain
from greenchain.model.transactions import Tx


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

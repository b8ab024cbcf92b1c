"""What the ledger needs from the outside world, passed in (STYLE.md §2)."""

from __future__ import annotations

from dataclasses import dataclass

from greenchain.model.codes import CodeLists


@dataclass(frozen=True, slots=True)
class TxContext:
    """The environment one transaction is applied in.

    The ledger's clock is the block time, never a node's clock (DESIGN §5).
    """

    chain_id: str
    """This chain's id."""
    height: int
    """Height of the block being built or applied."""
    time_ms: int
    """Block time, UTC milliseconds (at admission: the node's clock plus the allowed skew)."""
    issuing_bodies: frozenset[bytes]
    """Keys of the issuing bodies from genesis."""
    expiry_s: int | None = None
    """Certificate lifetime after the production period ends, or None (never)."""
    genesis_validators: tuple[bytes, ...] = ()
    """Validator keys of genesis: the set while no change is recorded in the state."""
    code_lists: CodeLists | None = None
    """The genesis code lists that registrations, imports and retirements are checked
    against; None only for a caller that has not loaded them (no code is then checked)."""

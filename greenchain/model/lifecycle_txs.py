"""Bodies of the certificate lifecycle transactions: withdraw, export, import (DESIGN §3).

They are part of the transaction set of `greenchain.model.transactions` (which lists them
in `BODY_TYPES`); they live here only to keep that module small. Wire form: an array of
the fields in declaration order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Withdraw a whole active bundle (signed by the bundle's issuing body)."""

    bundle_id: bytes
    """32-byte id of the bundle; its status becomes ``withdrawn``, for good."""
    reason: str
    """Why the issuing body withdraws it (not empty), e.g. a meter data correction."""


@dataclass(frozen=True, slots=True)
class Export:
    """Export `amount_wh` of a bundle to another registry (signed by its owner)."""

    bundle_id: bytes
    """32-byte id of the source bundle."""
    amount_wh: int
    """Amount in Wh; the low serials are exported (a partial export splits the bundle)."""
    destination_registry: str
    """Registry id of the receiving registry (not empty)."""
    destination_account: str
    """Account at the receiving registry (may be empty)."""


@dataclass(frozen=True, slots=True)
class Import:
    """Import certificates of another registry (signed by an issuing body).

    They are issued as a bundle of the synthetic device ``ext:<registry>:<device>``
    (created on the first import, owned by `owner_account`), in its own serial space. The
    external range ``[ext_start, ext_end)`` of that external device is imported only once.
    """

    source_registry: str
    """Registry id of the registry the certificates come from (no ``:``)."""
    source_device_id: str
    """The device id at that registry."""
    ext_start: int
    """First external certificate serial (Wh), inclusive."""
    ext_end: int
    """External serial end (Wh), exclusive; the amount is ``ext_end - ext_start``."""
    owner_account: bytes
    """Account receiving the imported bundle (and owning the synthetic device)."""
    period_start: int
    """Production period start, UTC seconds (inclusive)."""
    period_end: int
    """Production period end, UTC seconds (exclusive); same rules as an attestation."""
    energy_source: str
    """EECS energy source code (genesis ``energy_sources``)."""
    technology: str
    """EECS technology code (genesis ``technologies``)."""
    country: str
    """Country of issuance at the source registry (genesis ``countries``)."""
    issue_market_zone: str
    """Market zone of the external device (genesis ``market_zones``)."""
    support_received: str
    """Support code (genesis ``support``)."""
    issuance_purpose: str
    """Purpose of issuance (genesis ``issuance_purposes``)."""
    emissions_factor: int | None
    """Emissions factor, gCO2e/MWh (>= 0), or None if not declared."""

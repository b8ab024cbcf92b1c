"""Certificate state records: accounts, devices and bundles (DESIGN §2).

A bundle is a half-open range ``[serial_start, serial_end)`` of one device's Wh serials;
serials are the device's cumulative issued Wh, so every certified Wh has one serial.
Records are stored as canonical msgpack arrays in field order.
"""

from __future__ import annotations

from dataclasses import dataclass

from greenchain.codec import encode_trusted
from greenchain.crypto.hashing import sha256

ACTIVE = "active"
SPLIT = "split"
RETIRED = "retired"
SUSPENDED = "suspended"
STORED_BUNDLE_STATUSES = frozenset({ACTIVE, SPLIT, RETIRED, "withdrawn", "exported"})


@dataclass(frozen=True, slots=True)
class Account:
    """A registered account holder."""

    key: bytes
    """32-byte public key, the account id."""
    name: str
    """Display name."""
    status: str
    """``active`` or ``suspended``."""
    issuing_body: bytes
    """Key of the issuing body that registered it."""
    registered_height: int
    """Height of the registering block."""


@dataclass(frozen=True, slots=True)
class Device:
    """A registered production device (EECS / EN 16325 naming)."""

    device_id: str
    """Unique device id."""
    device_name: str
    """Human-readable name."""
    attestation_key: bytes
    """Meter gateway key that signs attestations."""
    owner_account: bytes
    """Account receiving issued bundles."""
    capacity_w: int
    """Installed capacity in W."""
    energy_source: str
    """EECS energy source code."""
    technology: str
    """EECS technology code."""
    country: str
    """ISO 3166-1 alpha-2."""
    latitude_udeg: int
    """Latitude, microdegrees."""
    longitude_udeg: int
    """Longitude, microdegrees."""
    production_start_s: int
    """Declared production start, UTC seconds."""
    issuing_body: bytes
    """Registering issuing body key."""
    status: str
    """``active`` or ``suspended``."""
    issued_wh: int
    """Cumulative Wh issued: the next serial number."""
    registered_height: int
    """Height of the registering block."""


@dataclass(frozen=True, slots=True)
class Retirement:
    """The claim recorded when a bundle is retired (cancelled)."""

    beneficiary: str
    """Who the energy is claimed for."""
    consumption_start: int
    """Consumption period start, UTC seconds."""
    consumption_end: int
    """Consumption period end, UTC seconds (exclusive)."""
    purpose: str
    """Purpose of the claim."""
    country: str
    """Country of consumption."""
    retire_tx: bytes
    """Id of the retiring transaction."""
    height: int
    """Height of the retiring block."""


@dataclass(frozen=True, slots=True)
class Bundle:
    """A contiguous range of certificates of one device and one production period."""

    bundle_id: bytes
    """SHA-256(encode([device_id, serial_start, serial_end]))."""
    device_id: str
    """Producing device."""
    serial_start: int
    """First serial (Wh), inclusive."""
    serial_end: int
    """End serial (Wh), exclusive."""
    period_start: int
    """Production period start, UTC seconds."""
    period_end: int
    """Production period end, UTC seconds (exclusive)."""
    owner: bytes
    """Current owner account."""
    status: str
    """One of STORED_BUNDLE_STATUSES."""
    issuance_tx: bytes
    """Id of the attestation that issued the root bundle."""
    issuance_height: int
    """Height of that attestation."""
    parent: bytes
    """Parent bundle id, or b"" for an issued bundle."""
    last_tx: bytes
    """Id of the last transaction that created or changed this bundle."""
    retirement: Retirement | None
    """Claim details once retired."""

    @property
    def quantity_wh(self) -> int:
        """Number of Wh (certificates) in the bundle."""
        return self.serial_end - self.serial_start


def compute_bundle_id(device_id: str, serial_start: int, serial_end: int) -> bytes:
    """Return the bundle id of a serial range (DESIGN §2)."""
    return sha256(encode_trusted([device_id, serial_start, serial_end]))

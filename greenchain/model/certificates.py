"""Certificate state records: accounts, devices and bundles (DESIGN §2).

A bundle is a half-open range ``[serial_start, serial_end)`` of one device's Wh serials;
serials are the device's cumulative issued Wh, so every certified Wh has one serial.
Records are stored as canonical msgpack arrays in field order; fields added by the
registry issue (EnergyTag granular certificate / EECS / EN 16325 data) are appended at
the end of each record, with defaults so older constructions keep working.

Certificates imported from another registry live under a synthetic device
``ext:<registry>:<device>`` with its own serial space (DESIGN §2).
"""

from __future__ import annotations

from dataclasses import dataclass

from greenchain.codec import encode_trusted
from greenchain.crypto.hashing import sha256
from greenchain.model.codes import ELECTRICITY

ACTIVE = "active"
SPLIT = "split"
RETIRED = "retired"
WITHDRAWN = "withdrawn"
EXPORTED = "exported"
EXPIRED = "expired"
"""Derived, never stored: an active bundle whose expiry date the block time reached."""
SUSPENDED = "suspended"
STORED_BUNDLE_STATUSES = frozenset({ACTIVE, SPLIT, RETIRED, WITHDRAWN, EXPORTED})
EXT_PREFIX = "ext:"
"""Device ids starting with this are synthetic devices of imported certificates."""
DAY_S = 86_400


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
    issue_market_zone: str = ""
    """Market (bidding) zone of the grid the device feeds (genesis ``market_zones``)."""
    connected_grid_identification: str = ""
    """Identification of the grid connection point (e.g. an EIC code); may be empty."""
    support_received: str = ""
    """Support code (genesis ``support`` list)."""
    is_storage: int = 0
    """1 if the device is a storage device, else 0."""
    issuance_purpose: str = ""
    """Purpose of issuance of its certificates (genesis ``issuance_purposes``)."""
    emissions_factor: int | None = None
    """Emissions factor of its output, gCO2e/MWh, or None if not declared."""
    registration_date_s: int = 0
    """Registration date: UTC midnight (seconds) of the registering block's time."""
    last_register_wh: int | None = None
    """Last cumulative meter register reading attested (Wh), or None if none yet."""


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
class Withdrawal:
    """Why and when the issuing body withdrew a bundle."""

    reason: str
    """The issuing body's reason."""
    withdraw_tx: bytes
    """Id of the withdrawing transaction."""
    height: int
    """Height of the withdrawing block."""


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """Where a bundle was exported to."""

    destination_registry: str
    """Registry id of the receiving registry."""
    destination_account: str
    """Account at the receiving registry (may be empty)."""
    export_tx: bytes
    """Id of the exporting transaction."""
    height: int
    """Height of the exporting block."""


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
    energy_carrier: str = ELECTRICITY
    """Energy carrier (EN 16325): always ``electricity`` here."""
    energy_source: str = ""
    """EECS energy source code of the producing device."""
    technology: str = ""
    """EECS technology code (device_technology_type)."""
    issuing_body: bytes = b""
    """Key of the issuing body responsible for the certificates."""
    country: str = ""
    """Country of issuance (ISO 3166-1 alpha-2)."""
    issue_market_zone: str = ""
    """Market (bidding) zone of the producing device."""
    issuance_purpose: str = ""
    """Purpose of issuance."""
    support_received: str = ""
    """Support code of the producing device."""
    emissions_factor: int | None = None
    """Emissions factor, gCO2e/MWh, or None if not declared."""
    issuance_date_s: int = 0
    """Issuance datestamp: UTC midnight (seconds) of the issuing block's time."""
    withdrawal: Withdrawal | None = None
    """Withdrawal details once withdrawn."""
    export: ExportRecord | None = None
    """Export details once exported."""

    @property
    def quantity_wh(self) -> int:
        """Number of Wh (certificates) in the bundle (bundle_quantity_wh)."""
        return self.serial_end - self.serial_start

    @property
    def issuance_id(self) -> str:
        """Issuance id: ``<device_id>:<production period start>`` (one per attestation)."""
        return f"{self.device_id}:{self.period_start}"


def compute_bundle_id(device_id: str, serial_start: int, serial_end: int) -> bytes:
    """Return the bundle id of a serial range (DESIGN §2)."""
    return sha256(encode_trusted([device_id, serial_start, serial_end]))


def compute_ext_device_id(registry: str, device_id: str) -> str:
    """Return the synthetic device id ``ext:<registry>:<device>`` of imported certificates."""
    return f"{EXT_PREFIX}{registry}:{device_id}"


def is_ext_device_id(device_id: str) -> bool:
    """Return True if `device_id` names a synthetic device of imported certificates."""
    return device_id.startswith(EXT_PREFIX)


def compute_utc_date_s(time_ms: int) -> int:
    """Return the UTC midnight (seconds) of the day holding `time_ms` (UTC ms)."""
    seconds = time_ms // 1000
    return seconds - seconds % DAY_S


def compute_expiry_time_s(bundle: Bundle, expiry_s: int | None) -> int | None:
    """Return the expiry datestamp of `bundle`, UTC seconds, or None if it never expires.

    Parameters
    ----------
    bundle:
        Any bundle; its production period end (UTC seconds) starts the count.
    expiry_s:
        The genesis certificate lifetime in seconds, or None (never).
    """
    return None if expiry_s is None else bundle.period_end + expiry_s


def is_expired_at(bundle: Bundle, time_ms: int, expiry_s: int | None) -> bool:
    """Return True if the block time `time_ms` reached the bundle's expiry (DESIGN §2).

    "Reached" means ``time_ms >= (period_end + expiry_s) * 1000``; with no expiry policy
    (`expiry_s` None) nothing expires. The stored status is not looked at.
    """
    expiry = compute_expiry_time_s(bundle, expiry_s)
    return expiry is not None and time_ms >= expiry * 1000


def bundle_status_at(bundle: Bundle, time_ms: int, expiry_s: int | None) -> str:
    """Return the status of `bundle` at UTC ms `time_ms`, with ``expired`` derived.

    An ``active`` bundle whose expiry date was reached is ``expired``; every other stored
    status (split, retired, withdrawn, exported) is final and returned as stored.

    Parameters
    ----------
    bundle:
        The bundle as stored.
    time_ms:
        The time to judge at, UTC ms (a block time, or the latest one for a view).
    expiry_s:
        The genesis certificate lifetime in seconds, or None (never).
    """
    if bundle.status == ACTIVE and is_expired_at(bundle, time_ms, expiry_s):
        return EXPIRED
    return bundle.status

"""What a verified provenance proof establishes, for people and for `--json` (DESIGN §8).

Every value here comes out of a proof that `verify_provenance` accepted. Energy is in Wh,
times in UTC seconds (block times in UTC ms); renderings show times in ISO 8601 UTC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def iso_utc(seconds: int) -> str:
    """Return UTC seconds as ISO 8601, e.g. ``2015-03-01T00:00:00Z``.

    Signed values can lie outside the years 1-9999; those are shown as ``<n> s``.
    """
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return f"{seconds} s"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc_ms(millis: int) -> str:
    """Return UTC milliseconds as ISO 8601 with milliseconds, e.g. ``...T00:00:01.000Z``."""
    text = iso_utc(millis // 1000)
    return text[:-1] + f".{millis % 1000:03d}Z" if text.endswith("Z") else f"{millis} ms"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The production device, as its issuing body registered it."""

    device_id: str
    """Unique device id."""
    name: str
    """Human-readable name."""
    capacity_w: int
    """Installed capacity, W."""
    country: str
    """ISO 3166-1 alpha-2."""
    latitude_udeg: int
    """Latitude, microdegrees (WGS-84)."""
    longitude_udeg: int
    """Longitude, microdegrees (WGS-84)."""
    energy_source: str
    """EECS energy source code."""
    technology: str
    """EECS technology code."""
    production_start_s: int
    """Declared production start, UTC seconds."""
    issuing_body: bytes
    """Key of the registering issuing body (listed in genesis)."""
    issuing_body_name: str
    """Its name in genesis."""


@dataclass(frozen=True, slots=True)
class OwnerChange:
    """One holder of the certificate, from the height it received it."""

    account: bytes
    """Owner account key."""
    height: int
    """Height of the block that gave it the certificate (issuance or transfer)."""


@dataclass(frozen=True, slots=True)
class RetirementClaim:
    """The claim made when the certificate was retired."""

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
    height: int
    """Height of the retiring block."""


@dataclass(frozen=True, slots=True)
class ExportClaim:
    """Where the certificate left for another registry: its export (DESIGN §10)."""

    destination_registry: str
    """Registry id of the receiving registry."""
    destination_account: str
    """Account at the receiving registry (may be empty)."""
    height: int
    """Height of the exporting block."""


@dataclass(frozen=True, slots=True)
class WithdrawalClaim:
    """The withdrawal of the certificate by its issuing body (DESIGN §10)."""

    reason: str
    """The issuing body's reason."""
    issuing_body: bytes
    """Key of the withdrawing issuing body (the bundle's, listed in genesis)."""
    issuing_body_name: str
    """Its name in genesis."""
    height: int
    """Height of the withdrawing block."""


@dataclass(frozen=True, slots=True)
class ImportOrigin:
    """Where imported certificates come from: the import that issued them (DESIGN §10)."""

    source_registry: str
    """Registry id of the registry they were imported from."""
    source_device_id: str
    """The device id at that registry."""
    ext_start: int
    """First external serial imported (Wh), inclusive."""
    ext_end: int
    """External serial end (Wh), exclusive."""
    height: int
    """Height of the importing block."""


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One verified step: a committed transaction and who committed it."""

    kind: str
    """Transaction type: register_device, attest, import, transfer, retire, export or
    withdraw."""
    tx_id: bytes
    """Transaction id (32 bytes)."""
    height: int
    """Height of its block."""
    timestamp_ms: int
    """Block time, UTC ms."""
    block_hash: bytes
    """Hash of its block header."""
    validators: tuple[bytes, ...]
    """Keys of the validators whose precommits in the proof commit the block."""
    validator_names: tuple[str, ...]
    """Their names in genesis, in the same order."""


@dataclass(frozen=True, slots=True)
class ProvenanceReport:
    """The verified provenance of certificate ``<device_id>:<serial>`` (DESIGN §8)."""

    chain_id: str
    """Chain id from genesis."""
    device: DeviceInfo
    """The plant (for imported certificates, their synthetic ``ext:`` device)."""
    period_start: int
    """Production period start, UTC seconds."""
    period_end: int
    """Production period end, UTC seconds (exclusive)."""
    serial: int
    """The certificate's serial."""
    range_start: int
    """First serial of the final bundle holding it (Wh), inclusive."""
    range_end: int
    """End serial of that bundle (Wh), exclusive."""
    owners: tuple[OwnerChange, ...]
    """Owners in turn, the issuance owner first."""
    retirement: RetirementClaim | None
    """The retirement claim, or None if the proof ends with the certificate active."""
    steps: tuple[StepRecord, ...]
    """Every verified step in chain order."""
    export: ExportClaim | None = None
    """The export that ended the certificate here, or None."""
    withdrawal: WithdrawalClaim | None = None
    """The withdrawal that ended the certificate, or None."""
    origin: ImportOrigin | None = None
    """For imported certificates, the import that issued them; None for attested ones."""

    @property
    def certificate_id(self) -> str:
        """The global certificate id ``<device_id>:<serial>``."""
        return f"{self.device.device_id}:{self.serial}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: bytes as hex, times as integers plus ISO 8601 strings."""
        return {
            "certificate": self.certificate_id,
            "chain_id": self.chain_id,
            "device": _device_dict(self.device),
            "production_period": _period_dict(self.period_start, self.period_end),
            "serial": self.serial,
            "bundle_range_wh": [self.range_start, self.range_end],
            "owners": [{"account": o.account.hex(), "height": o.height} for o in self.owners],
            "retirement": None if self.retirement is None else _claim_dict(self.retirement),
            "export": None if self.export is None else _export_dict(self.export),
            "withdrawal": None if self.withdrawal is None else _withdrawal_dict(self.withdrawal),
            "import": None if self.origin is None else _origin_dict(self.origin),
            "steps": [_step_dict(step) for step in self.steps],
        }

    def to_json(self) -> str:
        """Return `to_dict` as indented JSON text with sorted keys (for ``--json``)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def render_text(self) -> str:
        """Return a human-readable summary: plant, period, range, owners, claim, validators."""
        lines = [f"Certificate {self.certificate_id} on chain {self.chain_id}: proof verified"]
        lines += (_device_lines(self.device) if self.origin is None
                  else _import_lines(self.device, self.origin))
        lines.append(f"Production period: {iso_utc(self.period_start)} to "
                     f"{iso_utc(self.period_end)}")
        lines.append(f"Bundle: serials [{self.range_start}, {self.range_end}) = "
                     f"{self.range_end - self.range_start} Wh")
        lines.append("Owners in turn:")
        lines += [f"  {n}. {o.account.hex()} from height {o.height}"
                  for n, o in enumerate(self.owners, 1)]
        lines.append(_claim_line(self.retirement))
        if self.export is not None:
            lines.append(_export_line(self.export))
        if self.withdrawal is not None:
            lines.append(_withdrawal_line(self.withdrawal))
        lines.append("Steps:")
        lines += [_step_line(n, step) for n, step in enumerate(self.steps, 1)]
        return "\n".join(lines) + "\n"


def _device_dict(device: DeviceInfo) -> dict[str, Any]:
    return {
        "id": device.device_id,
        "name": device.name,
        "capacity_w": device.capacity_w,
        "country": device.country,
        "latitude_udeg": device.latitude_udeg,
        "longitude_udeg": device.longitude_udeg,
        "energy_source": device.energy_source,
        "technology": device.technology,
        "production_start": iso_utc(device.production_start_s),
        "issuing_body": device.issuing_body.hex(),
        "issuing_body_name": device.issuing_body_name,
    }


def _period_dict(start: int, end: int) -> dict[str, Any]:
    return {"start": start, "end": end, "start_iso": iso_utc(start), "end_iso": iso_utc(end)}


def _claim_dict(claim: RetirementClaim) -> dict[str, Any]:
    return {
        "beneficiary": claim.beneficiary,
        "consumption_period": _period_dict(claim.consumption_start, claim.consumption_end),
        "purpose": claim.purpose,
        "country": claim.country,
        "height": claim.height,
    }


def _export_dict(claim: ExportClaim) -> dict[str, Any]:
    return {
        "destination_registry": claim.destination_registry,
        "destination_account": claim.destination_account,
        "height": claim.height,
    }


def _withdrawal_dict(claim: WithdrawalClaim) -> dict[str, Any]:
    return {
        "reason": claim.reason,
        "issuing_body": claim.issuing_body.hex(),
        "issuing_body_name": claim.issuing_body_name,
        "height": claim.height,
    }


def _origin_dict(origin: ImportOrigin) -> dict[str, Any]:
    return {
        "source_registry": origin.source_registry,
        "source_device_id": origin.source_device_id,
        "external_range_wh": [origin.ext_start, origin.ext_end],
        "height": origin.height,
    }


def _step_dict(step: StepRecord) -> dict[str, Any]:
    return {
        "kind": step.kind,
        "tx_id": step.tx_id.hex(),
        "height": step.height,
        "time": iso_utc_ms(step.timestamp_ms),
        "block_hash": step.block_hash.hex(),
        "validators": [key.hex() for key in step.validators],
        "validator_names": list(step.validator_names),
    }


def _device_lines(device: DeviceInfo) -> list[str]:
    latitude, longitude = device.latitude_udeg / 1e6, device.longitude_udeg / 1e6
    return [
        f"Plant: {device.device_id} ({device.name}), {device.country}, "
        f"lat {latitude:.6f} lon {longitude:.6f}",
        f"  capacity {device.capacity_w} W, energy source {device.energy_source}, "
        f"technology {device.technology}",
        f"  registered by {device.issuing_body_name} ({device.issuing_body.hex()}), "
        f"production start {iso_utc(device.production_start_s)}",
    ]


def _import_lines(device: DeviceInfo, origin: ImportOrigin) -> list[str]:
    return [
        f"Imported certificates: {device.device_id}, from registry {origin.source_registry} "
        f"device {origin.source_device_id}, external serials "
        f"[{origin.ext_start}, {origin.ext_end}), at height {origin.height}",
        f"  energy source {device.energy_source}, technology {device.technology}, "
        f"country {device.country}",
        f"  imported by {device.issuing_body_name} ({device.issuing_body.hex()})",
    ]


def _export_line(claim: ExportClaim) -> str:
    account = claim.destination_account or "(no account given)"
    return (f"Export: to registry {claim.destination_registry}, account {account}, "
            f"at height {claim.height}")


def _withdrawal_line(claim: WithdrawalClaim) -> str:
    return (f"Withdrawal: by {claim.issuing_body_name} ({claim.issuing_body.hex()}), "
            f"reason {claim.reason!r}, at height {claim.height}")


def _claim_line(claim: RetirementClaim | None) -> str:
    if claim is None:
        return "Retirement: none in this proof (the certificate was not retired in it)"
    return (f"Retirement: for {claim.beneficiary!r}, consumption "
            f"{iso_utc(claim.consumption_start)} to {iso_utc(claim.consumption_end)}, "
            f"purpose {claim.purpose!r}, country {claim.country}, at height {claim.height}")


def _step_line(number: int, step: StepRecord) -> str:
    names = ", ".join(step.validator_names)
    return (f"  {number}. {step.kind} tx {step.tx_id.hex()[:16]} at height {step.height} "
            f"({iso_utc_ms(step.timestamp_ms)}), committed by {names}")

"""JSON renderings of records for the API and CLI (a view, never consensus data)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from greenchain.model.blocks import Block
from greenchain.model.certificates import Bundle


def iso_utc(seconds: int) -> str:
    """Return UTC seconds as ISO 8601 with ``Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bundle_json(bundle: Bundle) -> dict[str, Any]:
    """Return a bundle as JSON: ids hex, times as UTC seconds plus ISO strings, Wh ints."""
    out: dict[str, Any] = {
        "bundle_id": bundle.bundle_id.hex(),
        "device_id": bundle.device_id,
        "serial_start": bundle.serial_start,
        "serial_end": bundle.serial_end,
        "quantity_wh": bundle.quantity_wh,
        "period_start": bundle.period_start,
        "period_end": bundle.period_end,
        "period": f"{iso_utc(bundle.period_start)}/{iso_utc(bundle.period_end)}",
        "owner": bundle.owner.hex(),
        "status": bundle.status,
        "issuance_tx": bundle.issuance_tx.hex(),
        "issuance_height": bundle.issuance_height,
        "parent": bundle.parent.hex() or None,
        "last_tx": bundle.last_tx.hex(),
        "retirement": None,
    }
    claim = bundle.retirement
    if claim is not None:
        out["retirement"] = {
            "beneficiary": claim.beneficiary,
            "consumption_start": claim.consumption_start,
            "consumption_end": claim.consumption_end,
            "purpose": claim.purpose,
            "country": claim.country,
            "retire_tx": claim.retire_tx.hex(),
            "height": claim.height,
        }
    return out


def header_json(block: Block) -> dict[str, Any]:
    """Return a block header as JSON (hashes hex)."""
    h = block.header
    return {
        "block_hash": block.block_hash.hex(),
        "chain_id": h.chain_id,
        "height": h.height,
        "round": h.round,
        "timestamp_ms": h.timestamp_ms,
        "proposer": h.proposer.hex(),
        "prev_block_hash": h.prev_block_hash.hex(),
        "tx_root": h.tx_root.hex(),
        "last_commit_hash": h.last_commit_hash.hex(),
        "state_root": h.state_root.hex(),
        "app_hash": h.app_hash.hex(),
        "tx_count": len(block.txs),
    }

"""The demo's steps on a running local network (the main job of ``greenchain demo``).

Register accounts and devices, attest every metered interval, transfer part of the
certificates to a retailer, retire part of those for a consumer, then prove and verify
one retired certificate offline, and check that a tampered proof fails.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenchain.cli.client import NodeClient
from greenchain.cli.queries import fetch_all
from greenchain.codec import decode, encode
from greenchain.errors import GreenChainError
from greenchain.meter import MeterRow, attestation_txs
from greenchain.model.genesis import Genesis
from greenchain.model.lifecycle_txs import Export, Withdraw
from greenchain.model.transactions import (
    Attest,
    RegisterAccount,
    RegisterDevice,
    Retire,
    Transfer,
    Tx,
    make_tx,
)
from greenchain.node.devnet import dev_key
from greenchain.proof.format import encode_tagged
from greenchain.proof.verify import verify_provenance
from greenchain.reports.matching import (
    MatchingResult,
    compute_matching,
    generation_by_hour,
    hour_of,
)
from greenchain.reports.plot import plot_matching

COMMIT_TIMEOUT_S = 600.0
BATCH_SIZE = 1000
WIND = "F01050100"  # EECS energy source: wind, onshore
ONSHORE_TURBINE = "T020001"  # EECS technology: onshore wind turbine
PRODUCTION_START_S = 1_230_768_000  # 2009-01-01, declared by the issuing body for the demo
BENEFICIARY = "University of Cambridge Estates, building b2"
"""The demo's consumer. Its meter is in Great Britain and the plant in France: matching
across two markets is illustrative only (EnergyTag matches within one market)."""

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Plant:
    """The devices to register: id -> (latitude, longitude) in microdegrees."""

    name: str
    """Plant name (device names are derived from it)."""
    devices: dict[str, tuple[int, int]]
    """Device id -> (lat, lon) microdegrees."""
    capacity_w: int
    """Capacity of each device, W."""
    country: str
    """ISO country code."""


LA_HAUTE_BORNE = Plant("La Haute Borne", {
    "R80711": (48_456_900, 5_584_700), "R80721": (48_449_700, 5_586_900),
    "R80736": (48_446_100, 5_592_500), "R80790": (48_453_600, 5_587_500),
}, 2_050_000, "FR")


@dataclass
class DemoResult:
    """Figures the demo reports (the ``--json`` keys)."""

    attestations_accepted: int = 0
    attestations_rejected: dict[str, int] = field(default_factory=dict)
    issued_wh: int = 0
    transferred_wh: int = 0
    retired_wh: int = 0
    proof_verified: bool = False
    tampered_proof_rejected: bool = False
    tampered_step: str = ""
    tx_per_s: float = 0.0
    proof_certificate: str = ""
    proof_text: str = ""
    cfe_score: float | None = None
    withdrawn_wh: int = 0
    exported_wh: int = 0
    matching_plot: str = ""


class Demo:
    """The demo actors (INSECURE dev keys) and steps against one node."""

    def __init__(self, client: NodeClient, genesis: Genesis, log: Log) -> None:
        self.client = client
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.log = log
        self.issuer = dev_key("issuer")
        self.operator = dev_key("windfarm-operator")
        self.gateway = dev_key("windfarm-gateway")
        self.retailer = dev_key("retailer")
        self.consumer = dev_key("consumer")
        self.nonce = int(time.time() * 1000)

    def _tx(self, key: Any, body: Any) -> Tx:
        self.nonce += 1
        return make_tx(key, self.chain_id, body, self.nonce)

    def commit_all(self, txs: Sequence[Tx], what: str) -> list[dict[str, Any]]:
        """Submit in batches, wait for commits; return the verdicts (raises on refusal)."""
        height = int(self.client.status()["height"])
        verdicts: list[dict[str, Any]] = []
        for offset in range(0, len(txs), BATCH_SIZE):
            verdicts += self.client.submit_batch([tx.raw for tx in txs[offset:offset + BATCH_SIZE]])
        refused = [v for v in verdicts if v["status"] not in ("pending", "committed")]
        if refused:
            raise GreenChainError(f"{what} refused: {refused[0].get('rule')}: "
                                  f"{refused[0].get('message')}")
        finals = self.client.wait_for_all([tx.tx_id for tx in txs], height, COMMIT_TIMEOUT_S)
        bad = [a for a in finals.values() if a["status"] != "committed"]
        if bad:
            raise GreenChainError(f"{what} not committed: {bad[0]}")
        return verdicts

    def register(self, plant: Plant) -> None:
        """Register the three accounts and the plant's devices."""
        txs = [self._tx(self.issuer, RegisterAccount(k.public, name)) for k, name in (
            (self.operator, f"{plant.name} wind farm operator"),
            (self.retailer, "Green retailer (demo)"), (self.consumer, "Corporate consumer (demo)"))]
        for device_id, (lat, lon) in plant.devices.items():
            txs.append(self._tx(self.issuer, RegisterDevice(
                device_id, f"{plant.name} {device_id}", self.gateway.public,
                self.operator.public, plant.capacity_w, WIND, ONSHORE_TURBINE, plant.country,
                lat, lon, PRODUCTION_START_S)))
        self.commit_all(txs, "registration")
        self.log(f"registered 3 accounts and {len(plant.devices)} devices")

    def attest(self, rows: Sequence[MeterRow], result: DemoResult) -> None:
        """Submit one attestation per row in file order, in batches; wait for commits."""
        txs = list(attestation_txs(rows, self.gateway, self.chain_id, nonce_base=self.nonce))
        height = int(self.client.status()["height"])
        started = time.monotonic()
        accepted: list[Tx] = []
        rejected: Counter[str] = Counter()
        for offset in range(0, len(txs), BATCH_SIZE):
            batch = txs[offset:offset + BATCH_SIZE]
            for tx, verdict in zip(batch, self.client.submit_batch([t.raw for t in batch]),
                                   strict=True):
                if verdict["status"] in ("pending", "committed"):
                    accepted.append(tx)
                else:
                    rejected[str(verdict.get("rule"))] += 1
            self.log(f"submitted {offset + len(batch)}/{len(txs)} attestations")
        self.client.wait_for_all([tx.tx_id for tx in accepted], height, COMMIT_TIMEOUT_S)
        elapsed = time.monotonic() - started
        result.attestations_accepted = len(accepted)
        result.attestations_rejected = dict(rejected)
        result.tx_per_s = round(len(accepted) / elapsed, 1) if elapsed > 0 else 0.0
        issued = 0
        for device_id in {row.device_id for row in rows}:
            issued += int(self.client.get_json(f"/v1/devices/{device_id}")["issued_wh"])
        accepted_wh = sum(tx.body.energy_wh for tx in accepted if isinstance(tx.body, Attest))
        if issued != accepted_wh:
            raise GreenChainError(f"issued {issued} Wh but accepted {accepted_wh} Wh")
        result.issued_wh = issued
        self.log(f"{len(accepted)} attestations committed ({result.tx_per_s} tx/s); "
                 f"refused: {dict(rejected) or 'none'}")

    def bundles_of(self, owner: bytes) -> list[dict[str, Any]]:
        """Return every active bundle of `owner`, ordered by production period and device."""
        bundles = fetch_all(self.client, "/v1/bundles", {"owner": owner.hex(), "status": "active"})
        return sorted(bundles, key=lambda b: (b["period_start"], b["device_id"]))

    def procure_hourly(self, consumption: dict[int, int], result: DemoResult) -> dict[str, Any]:
        """24/7 procurement: each hour, buy and retire up to the consumer's metered use.

        The operator transfers to the retailer, hour by hour, certificates produced in that
        hour up to the consumer's consumption in it (the last one split); the retailer
        retires all of them for the consumer, claimed for their production hour.

        Returns
        -------
        dict
            A retired bundle cut from a split (the subject of the provenance proof).

        Raises
        ------
        GreenChainError
            If nothing was issued, so there is nothing to trade.
        """
        moves = plan_hourly(self.bundles_of(self.operator.public), consumption)
        if not moves:
            raise GreenChainError("no certificates to move: nothing was issued")
        self.commit_all([self._tx(self.operator, Transfer(bytes.fromhex(b["bundle_id"]), n,
                                                          self.retailer.public))
                         for b, n in moves], "transfers")
        result.transferred_wh = sum(n for _, n in moves)
        self.log(f"operator transferred {result.transferred_wh} Wh in {len(moves)} transfers")
        held = self.bundles_of(self.retailer.public)
        self.commit_all([self._retire_tx(b, b["quantity_wh"]) for b in held], "retirements")
        result.retired_wh = sum(int(b["quantity_wh"]) for b in held)
        self.log(f"retailer retired {result.retired_wh} Wh in {len(held)} retirements")
        return next((b for b in held if b["parent"]), held[0])

    def _retire_tx(self, bundle: dict[str, Any], amount: int) -> Tx:
        # Claimed for the hour the energy was produced in (EnergyTag hourly matching).
        hour = bundle["period_start"] // 3600 * 3600
        return self._tx(self.retailer, Retire(
            bytes.fromhex(bundle["bundle_id"]), amount, BENEFICIARY, hour, hour + 3600,
            "disclosure", "GB"))

    def match(self, consumption: dict[int, int], plot: Path | None,
              result: DemoResult) -> MatchingResult:
        """Match the consumer's retired certificates to its consumption, hour by hour."""
        retired = fetch_all(self.client, "/v1/retirements", {"beneficiary": BENEFICIARY})
        generation = generation_by_hour((int(b["period_start"]), int(b["quantity_wh"]))
                                        for b in retired)
        hours = [h for h in consumption if h in generation] or list(consumption)
        matching = compute_matching(generation, consumption, min(hours), max(hours) + 3600)
        result.cfe_score = matching.cfe_score
        if plot is not None:
            plot_matching(matching, plot, f"{BENEFICIARY}: hourly matching (illustrative)")
            result.matching_plot = str(plot)
        return matching

    def withdraw_and_export(self, result: DemoResult) -> None:
        """Withdraw one of the operator's bundles and export half of another.

        The issuing body withdraws (status ``withdrawn``); the operator exports part of a
        bundle to a foreign registry (a split, then status ``exported``).
        """
        left = self.bundles_of(self.operator.public)
        if len(left) < 2:
            self.log("too few certificates left to show withdrawal and export")
            return
        withdrawn, exported = left[0], left[-1]
        amount = max(1, int(exported["quantity_wh"]) // 2)
        self.commit_all([
            self._tx(self.issuer, Withdraw(bytes.fromhex(withdrawn["bundle_id"]),
                                           "meter data correction (demo)")),
            self._tx(self.operator, Export(bytes.fromhex(exported["bundle_id"]), amount,
                                           "EECS-DE (demo)", "DE-ACCOUNT-0001")),
        ], "withdrawal and export")
        result.withdrawn_wh = int(withdrawn["quantity_wh"])
        result.exported_wh = amount
        self.log(f"registry withdrew {result.withdrawn_wh} Wh; operator exported {amount} Wh")

    def prove(self, bundle: dict[str, Any], result: DemoResult) -> bytes:
        """Fetch and verify offline the provenance of the retired piece's first certificate."""
        cert = f"{bundle['device_id']}:{bundle['serial_start']}"
        proof = self.client.get_bytes(f"/v1/proofs/provenance/{cert}")
        report = verify_provenance(proof, self.genesis)
        result.proof_certificate = cert
        result.proof_verified = report.retirement is not None
        result.proof_text = report.render_text()
        self.log(f"provenance proof of {cert}: {len(proof)} bytes, verified offline")
        return proof


def plan_hourly(bundles: list[dict[str, Any]],
                consumption: dict[int, int]) -> list[tuple[dict[str, Any], int]]:
    """Plan transfers covering each hour's consumption with that hour's certificates.

    Parameters
    ----------
    bundles:
        Active bundles (JSON), ordered by production period.
    consumption:
        Hour start (UTC seconds) -> Wh consumed.

    Returns
    -------
    list
        ``(bundle, amount_wh)``: whole bundles, and a partial one where an hour's
        consumption ends inside a bundle (a split).
    """
    need = dict(consumption)
    plan: list[tuple[dict[str, Any], int]] = []
    for bundle in bundles:
        hour = hour_of(int(bundle["period_start"]))
        amount = min(need.get(hour, 0), int(bundle["quantity_wh"]))
        if amount > 0:
            plan.append((bundle, amount))
            need[hour] -= amount
    return plan


def tamper_signed_field(proof: bytes) -> bytes:
    """Return `proof` with the attested energy changed by one Wh, re-encoded canonically.

    The change sits inside a signed transaction (the attestation of step 2), so only
    the signature, Merkle and commit checks can catch it; the file stays well formed.
    """
    tag, body, _ = decode(proof)
    steps = body[4]
    envelope = decode(steps[1][0])
    envelope[4][3] += 1  # Attest.energy_wh
    steps[1][0] = encode(envelope)
    return encode_tagged(tag, body)


def check_tampered(proof: bytes, genesis: Genesis, result: DemoResult) -> None:
    """Verify a tampered copy of `proof`; record whether it failed and at which step."""
    try:
        verify_provenance(tamper_signed_field(proof), genesis)
    except GreenChainError as exc:
        result.tampered_proof_rejected = True
        result.tampered_step = str(getattr(exc, "step", exc.rule))
        return
    result.tampered_proof_rejected = False


"""A committed chain for the query, balance and totals tests (store and API).

Devices: WT1 (onshore wind, T020001) and PV1 (solar, T010000), both owned by operator.

- h1: accounts operator, retailer, trader; devices WT1 and PV1;
- h2: WT1 2015-03-01 00:00-01:00 = 1000 Wh -> [0, 1000); WT1 01:00-02:00 = 800 Wh ->
  [1000, 1800); PV1 00:00-01:00 = 500 Wh -> [0, 500);
- h3: operator transfers 600 of WT1 [0, 1000) to retailer (split: [0, 600) retailer,
  [600, 1000) operator) and all of PV1 [0, 500) to retailer (same bundle, new owner);
- h4: retailer retires 200 of WT1 [0, 600) for "ACME" ([0, 200) retired, [200, 600)
  retailer) and 100 of PV1 [0, 500) for "ACME Ltd" ([0, 100) retired, [100, 500)
  retailer);
- h5 (a block of 2015-04-02): WT1 2015-04-01 00:00-01:00 = 300 Wh -> [1800, 2100).
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.chain_builder import DEVICE_ID, PERIOD_START, PRODUCTION_START_S, ChainBuilder, key

from greenchain.model.certificates import compute_bundle_id
from greenchain.model.transactions import RegisterDevice

PV = "PV1"
SOLAR_TECH = "T010000"
APRIL_START = 1_427_846_400
"""2015-04-01T00:00:00Z."""
APRIL_BLOCK_MS = (APRIL_START + 86_400) * 1000


@dataclass(frozen=True, slots=True)
class QueryScenario:
    """The chain and its parties."""

    chain: ChainBuilder
    operator: bytes
    retailer: bytes
    trader: bytes


def wt(start: int, end: int) -> bytes:
    return compute_bundle_id(DEVICE_ID, start, end)


def pv(start: int, end: int) -> bytes:
    return compute_bundle_id(PV, start, end)


def query_scenario() -> QueryScenario:
    chain = ChainBuilder()
    operator, retailer = key("operator"), key("retailer")
    for name in ("operator", "retailer", "trader"):
        chain.register_account(key(name), name.capitalize())
    chain.register_device()
    chain.submit(chain.issuer, RegisterDevice(
        PV, "Roof <PV> & Co", key("gateway").public, operator.public, 600_000, "F01010100",
        SOLAR_TECH, "GB", 52_205_300, 121_800, PRODUCTION_START_S))
    chain.seal()
    chain.attest(DEVICE_ID, PERIOD_START, PERIOD_START + 3600, 1000)
    chain.attest(DEVICE_ID, PERIOD_START + 3600, PERIOD_START + 7200, 800)
    chain.attest(PV, PERIOD_START, PERIOD_START + 3600, 500)
    chain.seal()
    chain.transfer(operator, wt(0, 1000), 600, retailer)
    chain.transfer(operator, pv(0, 500), 500, retailer)
    chain.seal()
    chain.retire(retailer, wt(0, 600), 200, beneficiary="ACME")
    chain.retire(retailer, pv(0, 500), 100, beneficiary="ACME Ltd")
    chain.seal()
    chain.attest(DEVICE_ID, APRIL_START, APRIL_START + 3600, 300)
    chain.seal(time_ms=APRIL_BLOCK_MS)
    return QueryScenario(chain, operator.public, retailer.public, key("trader").public)

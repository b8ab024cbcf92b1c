"""A committed chain with a short expiry policy, for the derived-expiry query tests.

Genesis ``expiry_s`` = 3 days. Device WT1 (owner operator) issues, at h2 (2015-03-02 12:00):

- A 2015-02-28 22:00-23:00 = 500 Wh -> [0, 500)        expires 2015-03-03T23:00:00Z
- B 2015-03-01 00:00-01:00 = 1000 Wh -> [500, 1500)    expires 2015-03-04T01:00:00Z
- C 2015-03-01 01:00-02:00 = 800 Wh -> [1500, 2300)    expires 2015-03-04T02:00:00Z
- D 2015-03-02 10:00-11:00 = 300 Wh -> [2300, 2600)    expires 2015-03-05T11:00:00Z

h3: operator transfers 600 of B to retailer ([500, 1100) retailer, [1100, 1500) operator);
h4: retailer retires 100 of [500, 1100) ([500, 600) retired, [600, 1100) retailer).
Later blocks (empty) move the tip's time: `MID_MS` lies after A and B expired and before
C and D did (cutoff 2015-03-01T01:30Z: the day of B and C is split, A's day and month
wholly expired, D's day wholly active); `LATE_MS` after every expiry.
"""

from __future__ import annotations

from dataclasses import replace

from helpers.chain_builder import DAY_S, DEVICE_ID, ChainBuilder, bundle_id, key

EXPIRY_S = 3 * DAY_S
HOUR = 3600
MARCH_1 = 1_425_168_000
"""2015-03-01T00:00:00Z."""
A_START, B_START, C_START, D_START = (MARCH_1 - 2 * HOUR, MARCH_1, MARCH_1 + HOUR,
                                      MARCH_1 + DAY_S + 10 * HOUR)
ISSUE_MS = (MARCH_1 + DAY_S + 12 * HOUR) * 1000
"""2015-03-02T12:00:00Z: the issuing block."""
A_EXPIRES_S = A_START + HOUR + EXPIRY_S
"""2015-03-03T23:00:00Z."""
MID_MS = (MARCH_1 + 3 * DAY_S + HOUR + HOUR // 2) * 1000
"""2015-03-04T01:30:00Z: A and B expired, C and D active."""
LATE_MS = (D_START + HOUR + EXPIRY_S) * 1000
"""2015-03-05T11:00:00Z: D's expiry date, so everything expired."""

A = bundle_id(0, 500)
B = bundle_id(500, 1500)
B_MOVED = bundle_id(500, 1100)
B_KEPT = bundle_id(1100, 1500)
B_RETIRED = bundle_id(500, 600)
B_HELD = bundle_id(600, 1100)
C = bundle_id(1500, 2300)
D = bundle_id(2300, 2600)


def expiry_scenario() -> ChainBuilder:
    """Return the chain up to h4 (tip 2015-03-02T12:00:02Z: nothing expired yet)."""
    chain = ChainBuilder()
    chain.genesis = replace(chain.genesis, expiry_s=EXPIRY_S)
    chain.env = replace(chain.env, expiry_s=EXPIRY_S)
    chain.tip = replace(chain.tip, app_hash=chain.genesis.genesis_hash)
    chain.setup_plant()
    for start, wh in ((A_START, 500), (B_START, 1000), (C_START, 800), (D_START, 300)):
        chain.attest(DEVICE_ID, start, start + HOUR, wh)
    chain.seal(time_ms=ISSUE_MS)
    chain.transfer(key("operator"), B, 600, key("retailer"))
    chain.seal()
    chain.retire(key("retailer"), B_MOVED, 100, beneficiary="ACME")
    chain.seal()
    return chain


def expiry_scenario_at(time_ms: int) -> ChainBuilder:
    """Return the scenario with one more (empty) block at `time_ms`."""
    chain = expiry_scenario()
    chain.seal(time_ms=time_ms)
    return chain

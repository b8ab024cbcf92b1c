"""A test chain where certificates are exported, withdrawn and imported (DESIGN §10).

Built on `helpers.chain_builder.ChainBuilder` (4 validators, issuing body 'issuer', device
WT1 owned by 'operator'); heights:

- h1 setup: accounts operator, retailer, trader; device WT1;
- h2 issue: WT1 attests 00-01 h = 1000 Wh -> [0, 1000), 01-02 h = 800 Wh -> [1000, 1800),
  02-03 h = 500 Wh -> [1800, 2300), and the issuer withdraws [1800, 2300) in the same
  block; the issuer imports external certificates [0, 500) of AIB-DE device DE-WIND-7
  to retailer: ``ext:AIB-DE:DE-WIND-7`` [0, 500);
- h3 move: operator exports 400 of WT1 [0, 1000) to AIB-NL (split: [0, 400) exported,
  [400, 1000) stays); operator transfers 300 of [1000, 1800) to trader; retailer
  transfers 200 of ext [0, 500) to trader;
- h4 end: the issuer withdraws trader's WT1 [1000, 1300); trader retires 150 of ext
  [0, 200); retailer exports the whole ext [200, 500) to AIB-DE;
- h5 after: operator transfers 100 of WT1 [400, 1000) to trader.

`write_lifecycle_vectors` writes the export, withdraw and import proof vectors of
tests/vectors/proofs from this chain (scripts/gen_vectors.py calls it).
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.chain_builder import (
    DEVICE_ID,
    PERIOD_START,
    ChainBuilder,
    Scenario,
    bundle_id,
    key,
)

from greenchain.model.certificates import compute_ext_device_id
from greenchain.model.genesis import genesis_to_json
from greenchain.model.lifecycle_txs import Export, Import, Withdraw
from greenchain.store.kv import KV

EXT_DEVICE = compute_ext_device_id("AIB-DE", "DE-WIND-7")
"""The synthetic device of the imported certificates: ``ext:AIB-DE:DE-WIND-7``."""
WITHDRAW_REASON = "meter data correction"
EXPORT_REGISTRY, EXPORT_ACCOUNT = "AIB-NL", "NL-GREEN-3"

VECTOR_CASES = {
    "good_export": (DEVICE_ID, 100),
    "good_withdraw": (DEVICE_ID, 1100),
    "good_import": (EXT_DEVICE, 100),
}
"""Vector name -> certificate (device id, serial)."""


def import_body(ext_start: int, ext_end: int) -> Import:
    """External certificates of an offshore wind farm in Germany, to retailer."""
    return Import("AIB-DE", "DE-WIND-7", ext_start, ext_end, key("retailer").public,
                  PERIOD_START, PERIOD_START + 3600, "F01050100", "T020002", "DE", "DE-LU",
                  "none", "disclosure", 0)


def withdraw(chain: ChainBuilder, start: int, end: int) -> None:
    """Queue the issuer's withdrawal of WT1 [start, end)."""
    chain.submit(chain.issuer, Withdraw(bundle_id(start, end), WITHDRAW_REASON))


def lifecycle_scenario(kv: KV | None = None) -> Scenario:
    """Build the chain described in the module docstring."""
    chain = ChainBuilder(kv=kv)
    operator, retailer, trader = key("operator"), key("retailer"), key("trader")
    heights = {"setup": chain.setup_plant().header.height}
    for hour, energy in enumerate((1000, 800, 500)):
        start = PERIOD_START + hour * 3600
        chain.attest(DEVICE_ID, start, start + 3600, energy)
    withdraw(chain, 1800, 2300)
    chain.submit(chain.issuer, import_body(0, 500))
    heights["issue"] = chain.seal().header.height
    chain.submit(operator, Export(bundle_id(0, 1000), 400, EXPORT_REGISTRY, EXPORT_ACCOUNT))
    chain.transfer(operator, bundle_id(1000, 1800), 300, trader)
    chain.transfer(retailer, bundle_id(0, 500, EXT_DEVICE), 200, trader)
    heights["move"] = chain.seal().header.height
    withdraw(chain, 1000, 1300)
    chain.retire(trader, bundle_id(0, 200, EXT_DEVICE), 150)
    chain.submit(retailer, Export(bundle_id(200, 500, EXT_DEVICE), 300, "AIB-DE", "DE-ACME-1"))
    heights["end"] = chain.seal().header.height
    chain.transfer(operator, bundle_id(400, 1000), 100, trader)
    heights["after"] = chain.seal().header.height
    return Scenario(chain, heights)


def write_lifecycle_vectors(directory: Path) -> None:
    """Write ``<case>.gcproof`` and ``<case>.json`` of each of `VECTOR_CASES`.

    The JSON holds the genesis, the certificate id and the expected report, as for
    ``good_split_transfer_retire`` (tests/vectors/proofs/README.md).
    """
    from greenchain.proof.build import build_provenance
    from greenchain.proof.verify import verify_provenance

    chain = lifecycle_scenario().chain
    directory.mkdir(parents=True, exist_ok=True)
    for name, (device_id, serial) in VECTOR_CASES.items():
        proof = build_provenance(chain.store, device_id, serial)
        report = verify_provenance(proof, chain.genesis)
        meta = {"genesis": genesis_to_json(chain.genesis),
                "certificate": f"{device_id}:{serial}",
                "expected_report": report.to_dict()}
        (directory / f"{name}.gcproof").write_bytes(proof)
        (directory / f"{name}.json").write_text(
            json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")

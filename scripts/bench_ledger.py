"""Ledger throughput in one process on one core: `apply_block` on blocks of a LevelDB store.

For each measured block the pre-state is committed in a `ChainStore` over `LevelKV` (the
node's store); the block is built (untimed), then applied by `apply_block` with signature
checks (`check_tx_static` per transaction) and without (``check_signatures=False``, as in
catch-up), the authenticated map is recomputed on its own (`compute_state_root`), and the
block is committed (`ChainStore.commit_block`, timed apart).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_common import Sizes, per_second, progress, timed
from bench_txgen import ChainWriter, LoadGen

from greenchain.crypto.signing import check_signature
from greenchain.ledger.app_hash import compute_state_root, is_certificate_key
from greenchain.ledger.blocks import BuiltBlock, apply_block
from greenchain.model.transactions import Tx
from greenchain.node.devnet import dev_genesis
from greenchain.store.chain import ChainStore
from greenchain.store.leveldb import LevelKV


def measure_block(writer: ChainWriter, built: BuiltBlock) -> dict[str, float]:
    """Time one built block: apply with and without signatures, state root, commit.

    Returns
    -------
    dict
        Seconds per phase (``verify_s``: the block's signatures alone with the node's
        verifier, ``sig_s``, ``nosig_s``, ``root_s``, ``commit_s``) and counts.
    """
    store, tip, block = writer.store, writer.tip, built.block
    with_sigs = writer.env
    without_sigs = replace(writer.env, check_signatures=False)
    apply_block(store, block, tip, without_sigs)  # warm the store's caches
    verify_s = timed(lambda: [check_signature(tx.signer, tx.sign_bytes, tx.signature)
                              for tx in block.txs])
    sig_s = timed(lambda: apply_block(store, block, tip, with_sigs))
    nosig_s = timed(lambda: apply_block(store, block, tip, without_sigs))
    writes = built.result.writes
    root_s = timed(lambda: compute_state_root(store, tip.state_root, writes))
    commit_s = timed(lambda: writer.commit(built))
    return {"txs": len(block.txs), "verify_s": verify_s, "sig_s": sig_s, "nosig_s": nosig_s,
            "root_s": root_s, "commit_s": commit_s, "writes": len(writes),
            "cert_keys": sum(1 for key in writes if is_certificate_key(key)),
            "node_writes": len(built.result.node_writes)}


def summarise(samples: list[dict[str, float]]) -> dict[str, float]:
    """Return the figures of one workload from its per-block samples.

    Rates are the best block's (the machine may be shared: the best filters out others'
    load); costs per block are means. ``ratio_to_verify`` pairs each block's apply time
    with the time the node's verifier alone takes on the same signatures just before, so
    load changes on the machine affect both sides alike.
    """
    count = len(samples)

    def mean(field: str) -> float:
        return sum(s[field] for s in samples) / count

    return {
        "blocks": count,
        "block_txs": int(mean("txs")),
        "verify_only_txs_per_s": max(per_second(int(s["txs"]), s["verify_s"])
                                     for s in samples),
        "ratio_to_verify": round(mean("verify_s") / mean("sig_s"), 3),
        "txs_per_s_with_signatures": max(per_second(int(s["txs"]), s["sig_s"]) for s in samples),
        "txs_per_s_without_signatures": max(per_second(int(s["txs"]), s["nosig_s"])
                                            for s in samples),
        "state_root_ms_per_block": round(mean("root_s") * 1000, 2),
        "state_root_us_per_key": round(mean("root_s") / mean("cert_keys") * 1e6, 2),
        "certificate_keys_per_block": int(mean("cert_keys")),
        "state_writes_per_block": int(mean("writes")),
        "map_node_writes_per_block": int(mean("node_writes")),
        "commit_ms_per_block": round(mean("commit_s") * 1000, 2),
    }


def run_workload(writer: ChainWriter, gen: LoadGen, make: Callable[[int], list[Tx]],
                 sizes: Sizes) -> dict[str, float]:
    """Build, measure and commit `sizes.ledger_blocks` blocks of `make(block_txs)`."""
    samples = []
    for _ in range(sizes.ledger_blocks):
        built = writer.build(make(sizes.block_txs))
        samples.append(measure_block(writer, built))
        gen.settle()
    return summarise(samples)


def run_ledger(sizes: Sizes) -> dict[str, Any]:
    """Measure attest-only and 60/30/10 mix blocks on a fresh LevelDB store."""
    gen = LoadGen(sizes.devices)
    with tempfile.TemporaryDirectory(prefix="gc-bench-ledger-") as tmp:
        store = ChainStore(LevelKV(Path(tmp) / "data"))
        try:
            writer = ChainWriter(store, dev_genesis(4))
            writer.seal(gen.setup_txs())
            progress(f"ledger: {sizes.ledger_blocks} attest-only blocks of {sizes.block_txs}")
            attest = run_workload(writer, gen, gen.attests, sizes)
            progress(f"ledger: {sizes.ledger_blocks} mix blocks of {sizes.block_txs}")
            mix = run_workload(writer, gen, gen.mix, sizes)
        finally:
            store.close()
    return {"attest": attest, "mix": mix, "store": "leveldb"}

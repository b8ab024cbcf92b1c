"""Catch-up, proofs and memory on a pre-built chain.

The chain (attestations, then the 60/30/10 mix, plus the proof story of certificate
``BENCH-PROOF:0`` with 5 transfers) is built straight into node 0's data directory with
`build_block` and `ChainStore.commit_block`, committed by the dev validator keys. Proofs
are built and verified on that store. Then node 0 serves it and node 1, a fresh validator
of the same genesis with an empty data directory, catches up from it; its height is polled
on ``/v1/status``. With 2 of 4 validators up nothing new commits, so the tip stays put.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_common import Sizes, median_ms, peak_rss_mb, per_second, progress, timed
from bench_txgen import PROOF_DEVICE, PROOF_TRANSFERS, ChainWriter, LoadGen

from greenchain.cli.client import NodeClient
from greenchain.cli.localnet import LocalNetwork
from greenchain.errors import PeerError
from greenchain.model.genesis import Genesis
from greenchain.model.transactions import Tx
from greenchain.node.devnet import dev_genesis
from greenchain.proof.build import build_provenance
from greenchain.proof.verify import verify_provenance
from greenchain.store.chain import ChainStore
from greenchain.store.leveldb import LevelKV

POLL_S = 0.05
STALL_S = 60.0
"""Give up when the fresh node answers this long without a new height, seconds."""
CATCHUP_TIMEOUT_S = 600.0


def proof_blocks(blocks: int) -> dict[int, list[int]]:
    """Return, per data block index, the proof transfer steps it carries (spread out)."""
    out: dict[int, list[int]] = {}
    for step in range(1, PROOF_TRANSFERS + 1):
        index = max(1, round(step * (blocks - 1) / PROOF_TRANSFERS))
        out.setdefault(index, []).append(step)
    return out


def build_chain(store: ChainStore, genesis: Genesis, sizes: Sizes) -> dict[int, int]:
    """Commit setup plus `chain_txs` transactions in blocks of `block_txs`.

    Returns
    -------
    dict
        Transactions per height.
    """
    gen = LoadGen(sizes.devices, genesis.chain_id)
    writer = ChainWriter(store, genesis)
    counts = {1: len(writer.seal(gen.setup_txs()).txs)}
    gen.settle()
    blocks = max(2, sizes.chain_txs // sizes.block_txs)
    extra = proof_blocks(blocks)
    for index in range(blocks):
        txs: list[Tx] = (gen.attests(sizes.block_txs) if index == 0
                         else gen.mix(sizes.block_txs))
        steps = [0] if index == 0 else extra.get(index, [])
        txs += [tx for step in steps for tx in gen.proof_txs(step)]
        block = writer.seal(txs)
        counts[block.header.height] = len(block.txs)
        gen.settle()
        if index % 5 == 4:
            progress(f"catch-up: built {index + 1}/{blocks} blocks")
    return counts


def measure_proofs(store: ChainStore, genesis: Genesis, repeats: int) -> dict[str, Any]:
    """Time `build_provenance` and `verify_provenance` of ``BENCH-PROOF:0`` (median)."""
    proof = build_provenance(store, PROOF_DEVICE, 0)
    builds = [timed(lambda: build_provenance(store, PROOF_DEVICE, 0)) for _ in range(repeats)]
    verifies = [timed(lambda: verify_provenance(proof, genesis)) for _ in range(repeats)]
    report = verify_provenance(proof, genesis)
    return {"proof_build_ms": median_ms(builds), "proof_verify_ms": median_ms(verifies),
            "proof_bytes": len(proof), "proof_steps": len(report.steps),
            "proof_owners": len(report.owners)}


def wait_caught_up(client: NodeClient, tip: int, proc_alive: Callable[[], bool]
                   ) -> tuple[float, int, float]:
    """Poll the fresh node until it reaches `tip`.

    Returns
    -------
    tuple
        (monotonic time of the last poll at its starting height, that height, time done).

    Raises
    ------
    RuntimeError
        If the node exits, answers `STALL_S` long without a new height, or takes longer
        than `CATCHUP_TIMEOUT_S` in all.
    """
    start_height, start_s = -1, time.monotonic()
    last_height, last_move = -1, time.monotonic()
    deadline = time.monotonic() + CATCHUP_TIMEOUT_S
    while time.monotonic() - last_move < STALL_S and time.monotonic() < deadline:
        if not proc_alive():
            raise RuntimeError("the fresh node exited during catch-up")
        try:
            height = int(client.status()["height"])
        except PeerError:
            # The node applies a fetched page without answering: busy, not stalled.
            if start_height >= 0:
                last_move = time.monotonic()
            time.sleep(POLL_S)
            continue
        now = time.monotonic()
        start_height = height if start_height < 0 else start_height
        if height == start_height:
            start_s = now
        if height >= tip:
            return start_s, start_height, now
        if height != last_height:
            last_height, last_move = height, now
        time.sleep(POLL_S)
    raise RuntimeError(f"catch-up stopped at height {last_height} of {tip} (stalled for "
                       f"{STALL_S} s or over {CATCHUP_TIMEOUT_S} s in all)")


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def measure_catchup(net: LocalNetwork, counts: dict[int, int]) -> dict[str, Any]:
    """Start the serving node and a fresh one; time the fresh node's sync to the tip."""
    tip = max(counts)
    net.start(0)
    net.wait_ready([0])
    served = net.status(0)["height"]
    if served != tip:
        raise RuntimeError(f"serving node is at height {served}, expected {tip}")
    net.start(1)
    proc = net.procs[1]
    try:
        start_s, start_height, done_s = wait_caught_up(
            NodeClient(net.urls[1], request_timeout_s=30.0), tip, lambda: proc.poll() is None)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}; node1 log: {_log_tail(net.homes[1].home / 'node.log')}"
                           ) from exc
    seconds = done_s - start_s
    txs = sum(n for h, n in counts.items() if h > start_height)
    return {"catchup_blocks": tip - start_height, "catchup_txs": txs,
            "catchup_seconds": round(seconds, 2),
            "catchup_blocks_per_s": per_second(tip - start_height, seconds),
            "catchup_tx_per_s": per_second(txs, seconds),
            "validator_peak_rss_mb": peak_rss_mb(proc.pid),
            "serving_node_peak_rss_mb": peak_rss_mb(net.procs[0].pid)}


def _dir_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def run_catchup(sizes: Sizes) -> dict[str, Any]:
    """Build the chain, measure proofs on it, then measure a fresh node's catch-up."""
    genesis = dev_genesis(4)
    with tempfile.TemporaryDirectory(prefix="gc-bench-catchup-") as tmp:
        net = LocalNetwork(Path(tmp), genesis)
        data_dir = net.homes[0].home / "data"
        try:
            progress(f"catch-up: building a chain of {sizes.chain_txs} transactions")
            store = ChainStore(LevelKV(data_dir))
            try:
                started = time.perf_counter()
                counts = build_chain(store, genesis, sizes)
                out: dict[str, Any] = {
                    "chain_build_seconds": round(time.perf_counter() - started, 1),
                    "chain_blocks": len(counts), "chain_txs": sum(counts.values())}
                progress("proofs: build and verify")
                out |= measure_proofs(store, genesis, sizes.proof_repeats)
            finally:
                store.close()
            out["chain_data_mb"] = _dir_mb(data_dir)
            progress("catch-up: fresh node syncing from the serving node")
            try:
                out |= measure_catchup(net, counts)
            except RuntimeError as exc:  # keep the chain and proof figures
                out["errors"] = {"catchup": str(exc)}
            return out
        finally:
            net.stop_all()

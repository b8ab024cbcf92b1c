"""Helpers for fault tests with real validator processes (tests/integration/test_faults.py).

Blocks are only proposed while transactions are pending, so a test that wants to see
blocks keeps feeding fresh attestations (`TxFeed`, distinct production periods).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable

from helpers.devtxs import attest_txs
from helpers.netclient import committed, get, height, submit, wait_for

from greenchain.cli.localnet import LocalNetwork
from greenchain.model.transactions import Tx

PERIOD_S = 600
"""Length of one test attestation (attest_txs uses 10-minute periods)."""


class TxFeed:
    """Fresh attestations of one device, each period after the last one handed out."""

    def __init__(self, device: str, start: int) -> None:
        self.device = device
        self.cursor = start

    def next(self, count: int = 1) -> list[Tx]:
        """Return `count` attestations of periods never handed out before."""
        txs = attest_txs(count, self.device, start=self.cursor)
        self.cursor += PERIOD_S * count
        return txs


def hold_for(predicate: Callable[[], bool], seconds: float, what: str,
             interval: float = 0.25) -> int:
    """Poll `predicate` for `seconds` and fail the first time it is False.

    Returns the number of checks made (each one a real observation, not a sleep).
    """
    deadline = time.monotonic() + seconds
    checks = 0
    while True:
        checks += 1
        assert predicate(), f"{what} stopped holding after {checks} checks"
        if time.monotonic() >= deadline:
            return checks
        time.sleep(interval)


def heights(net: LocalNetwork, indexes: Iterable[int]) -> list[int]:
    """Return the heights of the nodes `indexes` (-1 for a node that does not answer)."""
    return [height(net.urls[i]) for i in indexes]


def statuses(net: LocalNetwork, indexes: Iterable[int]) -> set[tuple[int, str]]:
    """Return the distinct (height, app_hash) pairs of the nodes `indexes`."""
    found = set()
    for i in indexes:
        status = get(f"{net.urls[i]}/v1/status")
        found.add((int(status["height"]), str(status["app_hash"])))
    return found


def agreed(net: LocalNetwork, indexes: Iterable[int]) -> bool:
    """Return True if the nodes `indexes` are all at one height and app_hash."""
    try:
        return len(statuses(net, indexes)) == 1
    except OSError:
        return False


def wait_agreed(net: LocalNetwork, indexes: list[int], timeout_s: float = 20.0) -> int:
    """Wait until the nodes agree on height and app_hash; return that height."""
    wait_for(lambda: agreed(net, indexes), timeout_s, f"nodes {indexes} to agree")
    return next(iter(statuses(net, indexes)))[0]


def block_hashes(url: str, first: int, last: int) -> list[str]:
    """Return the block hashes a node holds for heights ``first..last`` (inclusive)."""
    return [str(get(f"{url}/v1/blocks/{h}")["block_hash"]) for h in range(first, last + 1)]


def assert_one_chain(net: LocalNetwork, indexes: list[int], first: int = 1) -> None:
    """Fail if two nodes hold different blocks at any height both have committed."""
    common = min(heights(net, indexes))
    assert common >= first, f"nodes {indexes} at heights {heights(net, indexes)}"
    chains = {i: block_hashes(net.urls[i], first, common) for i in indexes}
    reference = chains[indexes[0]]
    for i, chain in chains.items():
        diverged = [first + k for k, (a, b) in enumerate(zip(reference, chain, strict=True))
                    if a != b]
        assert not diverged, f"node{i} differs from node{indexes[0]} at heights {diverged}"


def evidence(net: LocalNetwork, index: int) -> list[str]:
    """Return the evidence records node `index` stores (hex)."""
    return list(get(f"{net.urls[index]}/v1/evidence")["evidence"])


def feed_until(net: LocalNetwork, feed: TxFeed, target: int, predicate: Callable[[], bool],
               timeout_s: float, what: str) -> list[Tx]:
    """Submit one fresh attestation to node `target` per poll until `predicate` holds.

    Returns the submitted transactions (so the caller can check they commit).
    """
    sent: list[Tx] = []

    def step() -> bool:
        if predicate():
            return True
        tx = feed.next()[0]
        submit(net.urls[target], [tx])
        sent.append(tx)
        return False

    wait_for(step, timeout_s, what, interval=0.2)
    return sent


def commit_one(net: LocalNetwork, feed: TxFeed, via: int, on: list[int],
               timeout_s: float) -> Tx:
    """Submit a fresh attestation to node `via` and wait until it is committed on `on`."""
    tx = feed.next()[0]
    verdict = submit(net.urls[via], [tx])[0]
    assert verdict["status"] == "pending", verdict
    wait_for(lambda: all(committed(net.urls[i], tx) for i in on), timeout_s,
             f"tx {tx.tx_id.hex()[:12]} committed on nodes {on}")
    return tx


def tx_status(url: str, tx: Tx) -> str:
    """Return the status of `tx` on the node at `url` (``unknown``, ``pending``...)."""
    return str(get(f"{url}/v1/tx/{tx.tx_id.hex()}")["status"])


def wait_held(url: str, tx: Tx, timeout_s: float) -> None:
    """Wait until the node at `url` holds `tx` (pending in its pool, or committed)."""
    wait_for(lambda: tx_status(url, tx) in ("pending", "committed"), timeout_s,
             f"tx {tx.tx_id.hex()[:12]} to reach {url}")


def restart(net: LocalNetwork, indexes: list[int], sig: int = signal.SIGKILL) -> None:
    """Stop the nodes `indexes` together with `sig` (kill -9 or SIGTERM), then start them.

    A SIGTERM'd node must exit cleanly (code 0); a SIGKILL'd one dies with -9.
    """
    procs = [net.procs[i] for i in indexes]
    for proc in procs:
        assert proc.poll() is None, f"node pid {proc.pid} was already dead"
        os.kill(proc.pid, sig)
    for i, proc in zip(indexes, procs, strict=True):
        code = proc.wait(timeout=15)
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0), (i, code)
    for i in indexes:
        net.start(i)

"""One real single-validator dev node in a subprocess, for CLI tests against a live API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from greenchain.cli.client import NodeClient
from greenchain.errors import PeerError
from greenchain.model.genesis import genesis_to_json
from greenchain.model.transactions import Tx
from greenchain.node.devnet import dev_genesis, free_ports, write_network

START_DEADLINE_S = 30.0
COMMIT_TIMEOUT_S = 30.0


def wait_until_serving(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    client = NodeClient(url, request_timeout_s=2.0)
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        try:
            client.status()
            return
        except PeerError:
            pass
        try:  # waits a little, and notices a node that died at start
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"node exited with {proc.returncode}:\n{log.read_text()}")
    raise AssertionError(f"node did not answer within {START_DEADLINE_S} s:\n{log.read_text()}")


@contextmanager
def running_node(root: Path) -> Iterator[tuple[str, Path]]:
    """Start a 1-validator dev node under `root`; yield (url, genesis path); stop it."""
    genesis_path = root / "genesis.json"
    genesis_path.write_text(json.dumps(genesis_to_json(dev_genesis(1))), encoding="utf-8")
    (home,) = write_network(root / "nodes", genesis_path, free_ports(1))
    log = root / "node.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "greenchain.cli.main", "node", "run",
                                 "--home", str(home.home), "--log-level", "WARNING"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(proc, home.url, log)
        yield home.url, genesis_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def commit_all(url: str, txs: Sequence[Tx]) -> None:
    """Submit `txs` as one batch and wait until every one is committed."""
    client = NodeClient(url)
    height = int(client.status()["height"])
    verdicts = client.submit_batch([tx.raw for tx in txs])
    assert all(v["status"] in ("pending", "committed") for v in verdicts), verdicts
    final = client.wait_for_all([tx.tx_id for tx in txs], height, COMMIT_TIMEOUT_S)
    assert all(answer["status"] == "committed" for answer in final.values()), final

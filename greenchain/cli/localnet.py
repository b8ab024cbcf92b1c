"""A local network of validator processes on 127.0.0.1 (demo, tests, benchmarks).

Each node is a separate ``greenchain node run`` process with its own free port, fresh
data directory and fresh sign-state file, under one temporary folder. `stop` sends
SIGTERM (clean shutdown) and falls back to SIGKILL after a timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from greenchain.errors import PeerError
from greenchain.model.genesis import Genesis, genesis_to_json
from greenchain.node.devnet import NodeHome, free_ports, write_network

READY_TIMEOUT_S = 30.0


def http_json(url: str, timeout: float = 5.0) -> Any:
    """GET `url` and return its JSON body.

    Raises
    ------
    PeerError
        If the node cannot be reached or answers with an error.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PeerError(f"cannot reach {url}: {exc}", url=url) from exc


class LocalNetwork:
    """Validator processes of one genesis, started under `root`.

    Parameters
    ----------
    root:
        An empty folder for genesis, homes, data and logs.
    genesis:
        The genesis (its validators must be the dev keys `validator-0..n-1`).
    """

    def __init__(self, root: Path, genesis: Genesis) -> None:
        self.root = root
        self.genesis = genesis
        self.genesis_path = root / "genesis.json"
        self.genesis_path.write_text(json.dumps(genesis_to_json(genesis), indent=2))
        ports = free_ports(len(genesis.validators))
        self.homes: list[NodeHome] = write_network(root / "nodes", self.genesis_path, ports)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def urls(self) -> list[str]:
        """Base URLs of the nodes, in node order."""
        return [home.url for home in self.homes]

    def start(self, index: int, extra_args: tuple[str, ...] = ()) -> None:
        """Start node `index` as a subprocess, logging to ``<home>/node.log``."""
        home = self.homes[index]
        log = open(home.home / "node.log", "ab")  # noqa: SIM115 - owned by the process
        cmd = [sys.executable, "-m", "greenchain.cli.main", "node", "run", "--home",
               str(home.home), "--log-level", "WARNING", *extra_args]
        self.procs[index] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
        log.close()

    def start_all(self) -> None:
        """Start every node and wait until all answer."""
        for index in range(len(self.homes)):
            self.start(index)
        self.wait_ready()

    def wait_ready(self, indexes: list[int] | None = None,
                   timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until the nodes answer ``/v1/status``.

        Raises
        ------
        PeerError
            If a node exits or does not answer before the deadline.
        """
        deadline = time.monotonic() + timeout_s
        for index in indexes if indexes is not None else list(self.procs):
            while True:
                proc = self.procs[index]
                if proc.poll() is not None:
                    raise PeerError(f"node{index} exited with {proc.returncode}; see "
                                    f"{self.homes[index].home / 'node.log'}")
                try:
                    http_json(f"{self.homes[index].url}/v1/status", timeout=1.0)
                    break
                except PeerError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def status(self, index: int) -> dict[str, Any]:
        """Return node `index`'s ``/v1/status``."""
        result: dict[str, Any] = http_json(f"{self.homes[index].url}/v1/status")
        return result

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to node `index` and reap it if it was a kill."""
        proc = self.procs.get(index)
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            proc.wait(timeout=15)

    def stop(self, index: int, timeout_s: float = 10.0) -> int | None:
        """Stop node `index` with SIGTERM (SIGKILL after `timeout_s`); return its exit code."""
        proc = self.procs.get(index)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def stop_all(self) -> list[int | None]:
        """Stop every node; return their exit codes."""
        return [self.stop(index) for index in list(self.procs)]

    def __enter__(self) -> LocalNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

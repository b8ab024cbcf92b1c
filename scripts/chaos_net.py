"""Chaos harness, part 1: the validator processes and their configs.

Every node's config lists, for each peer, a port of the harness's proxy layer (one port
per ordered pair) instead of the peer's own port, so the harness sees and shapes all
peer traffic. Nodes run as ``greenchain node run`` subprocesses; on Linux they get
PR_SET_PDEATHSIG, so they die with the harness even if it is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from greenchain.crypto.keys import save_key
from greenchain.model.genesis import Genesis, genesis_to_json
from greenchain.node.config import render_config
from greenchain.node.devnet import dev_genesis, dev_key, free_ports
from greenchain.node.signstate import init_sign_state

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: only the prctl call, nothing that locks.
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Node:
    """One validator: its home, ports and current process."""

    index: int
    home: Path
    port: int
    pubkey: bytes
    proc: subprocess.Popen[bytes] | None = None
    paused: bool = False
    equivocating: bool = False
    starts: int = 0
    expected_down: bool = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_path(self) -> Path:
        return self.home / "node.log"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    """The validators of one dev genesis, reachable to each other only through proxies."""

    root: Path
    n: int = 4
    log_level: str = "INFO"
    genesis: Genesis = field(init=False)
    nodes: list[Node] = field(init=False)
    proxy_ports: dict[tuple[int, int], int] = field(init=False)

    def __post_init__(self) -> None:
        self.genesis = dev_genesis(self.n)
        genesis_path = self.root / "genesis.json"
        genesis_path.write_text(json.dumps(genesis_to_json(self.genesis), indent=2))
        pairs = [(i, j) for i in range(self.n) for j in range(self.n) if i != j]
        ports = free_ports(self.n + len(pairs))
        self.proxy_ports = dict(zip(pairs, ports[self.n:], strict=True))
        self.nodes = [self._write_home(i, ports[i], genesis_path) for i in range(self.n)]

    def _write_home(self, i: int, port: int, genesis_path: Path) -> Node:
        home = self.root / f"node{i}"
        home.mkdir(parents=True, exist_ok=True)
        key = dev_key(f"validator-{i}")
        save_key(key, home / "validator.key")
        peers = [f"http://127.0.0.1:{self.proxy_ports[(i, j)]}"
                 for j in range(self.n) if j != i]
        text = render_config(f"node{i}", os.path.relpath(genesis_path, home), "validator.key",
                             "data", "sign_state.msgpack", f"127.0.0.1:{port}", peers)
        (home / "config.toml").write_text(text, encoding="utf-8")
        init_sign_state(home / "sign_state.msgpack")
        return Node(i, home, port, key.public)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def index_of(self, pubkey: bytes) -> int | None:
        return next((n.index for n in self.nodes if n.pubkey == pubkey), None)

    # --- process control ----------------------------------------------------------
    def start(self, i: int, equivocate: bool = False) -> None:
        """Start node `i` (its chain data and sign-state are whatever is on disk)."""
        node = self.nodes[i]
        assert not node.running(), f"node{i} is already running"
        cmd = [sys.executable, "-m", "greenchain.cli.main", "node", "run", "--home",
               str(node.home), "--log-level", self.log_level]
        if equivocate:
            cmd.append("--test-equivocate")
        with open(node.log_path, "ab") as log:
            stamp = time.strftime("%H:%M:%S")
            log.write(f"=== chaos {stamp}: start (equivocate={equivocate})\n".encode())
            log.flush()
            node.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)
        node.paused, node.equivocating, node.expected_down = False, equivocate, False
        node.starts += 1

    def kill(self, i: int) -> None:
        """kill -9 node `i` and reap it (a stopped process dies too)."""
        node = self.nodes[i]
        node.expected_down = True
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()
        node.paused = False

    async def terminate(self, i: int, timeout_s: float = 10.0) -> int | None:
        """SIGTERM node `i` (SIGCONT first if paused); SIGKILL after `timeout_s`."""
        node = self.nodes[i]
        node.expected_down = True
        proc = node.proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        self.resume(i)
        proc.terminate()
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        return proc.returncode

    def pause(self, i: int) -> None:
        node = self.nodes[i]
        if node.running() and not node.paused:
            os.kill(node.proc.pid, signal.SIGSTOP)  # type: ignore[union-attr]
            node.paused = True

    def resume(self, i: int) -> None:
        node = self.nodes[i]
        if node.running() and node.paused:
            os.kill(node.proc.pid, signal.SIGCONT)  # type: ignore[union-attr]
        node.paused = False

    def wipe(self, i: int) -> None:
        """Delete node `i`'s chain data (the sign-state file, outside it, stays)."""
        assert not self.nodes[i].running()
        shutil.rmtree(self.nodes[i].data_dir, ignore_errors=True)

    def is_up(self, i: int) -> bool:
        """Process alive and not stopped."""
        node = self.nodes[i]
        return node.running() and not node.paused

    def unexpected_exits(self) -> list[tuple[int, int]]:
        """(node, exit code) of nodes that died without the harness asking; each once."""
        died = []
        for node in self.nodes:
            if not node.expected_down and node.proc is not None and node.proc.poll() is not None:
                node.expected_down = True
                died.append((node.index, node.proc.returncode))
        return died

    def kill_all(self) -> None:
        """Last-resort cleanup: SIGKILL every node process this harness started."""
        for node in self.nodes:
            node.expected_down = True
            if node.proc is not None and node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait()

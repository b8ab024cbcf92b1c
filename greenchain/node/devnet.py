"""The development network: deterministic, INSECURE keys and configs for local use.

Every key here is derived from a public seed (`key_from_seed`), so anyone can sign with
it: these keys exist for the demo, the tests and a hand-run local network only.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from greenchain.crypto.keys import KeyPair, key_from_seed, save_key
from greenchain.model.codes import EECS_CODE_LISTS
from greenchain.model.genesis import Genesis, IssuingBody, Party
from greenchain.node.config import render_config
from greenchain.node.signstate import init_sign_state

DEV_CHAIN_ID = "greenchain-dev-1"
DEV_GENESIS_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DEV_BASE_PORT = 26600
SEED_PREFIX = "greenchain-dev-insecure/"
DEV_ISSUER_NAME = "GreenChain Dev Registry"
DEV_ISSUER_COUNTRY = "FR"
DEV_REGISTRY_ID = "GC-DEV"


def dev_key(role: str) -> KeyPair:
    """Return the INSECURE dev key of `role` (``validator-0``, ``issuer``, ``windfarm``...)."""
    return key_from_seed(SEED_PREFIX + role)


def dev_genesis(n_validators: int = 4, chain_id: str = DEV_CHAIN_ID,
                genesis_time_ms: int = DEV_GENESIS_TIME_MS) -> Genesis:
    """Return the dev genesis: `n_validators` validators and one issuing body.

    No expiry (`expiry_s` null: the sample data is from 2015) and the EECS code lists
    GreenChain ships (`greenchain.model.codes.EECS_CODE_LISTS`).
    """
    validators = sorted((Party(f"node{i}", dev_key(f"validator-{i}").public)
                         for i in range(n_validators)), key=lambda p: p.pubkey)
    issuer = IssuingBody(DEV_ISSUER_NAME, dev_key("issuer").public, DEV_ISSUER_COUNTRY,
                         DEV_REGISTRY_ID)
    return Genesis(chain_id, genesis_time_ms, tuple(validators), (issuer,), None,
                   EECS_CODE_LISTS)


@dataclass(frozen=True, slots=True)
class NodeHome:
    """Where one node of a generated network lives."""

    name: str
    """Node name."""
    home: Path
    """Folder holding config.toml and the key."""
    port: int
    """Listen port."""

    @property
    def url(self) -> str:
        """Base URL of the node's API and peer routes."""
        return f"http://127.0.0.1:{self.port}"


def free_ports(count: int) -> list[int]:
    """Return `count` distinct free TCP ports on 127.0.0.1 (bound then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_network(root: Path, genesis_path: Path, ports: Sequence[int],
                  data_root: Path | None = None) -> list[NodeHome]:
    """Write node homes ``root/node<i>`` with config, dev key and a fresh sign-state.

    Parameters
    ----------
    root:
        Folder for the node homes.
    genesis_path:
        The genesis file the configs point at.
    ports:
        One listen port per validator, in validator-seed order.
    data_root:
        Where chain data goes (default: inside each home, ``data``).
    """
    homes = []
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    for i, port in enumerate(ports):
        home = root / f"node{i}"
        home.mkdir(parents=True, exist_ok=True)
        key_path = home / "validator.key"
        if not key_path.exists():
            save_key(dev_key(f"validator-{i}"), key_path)
        data_dir = str(data_root / f"node{i}") if data_root else "data"
        peers = [u for j, u in enumerate(urls) if j != i]
        genesis_rel = _relative(genesis_path, home)
        text = render_config(f"node{i}", genesis_rel, "validator.key", data_dir,
                             "sign_state.msgpack", f"127.0.0.1:{port}", peers)
        (home / "config.toml").write_text(text, encoding="utf-8")
        init_sign_state(home / "sign_state.msgpack")
        homes.append(NodeHome(f"node{i}", home, port))
    return homes


def _relative(target: Path, start: Path) -> str:
    return os.path.relpath(target.resolve(), start.resolve())

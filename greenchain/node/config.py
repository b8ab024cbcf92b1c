"""Node configuration: ``nodes/<name>/config.toml`` (read with tomllib).

Relative paths are relative to the config file's folder. Example::

    name = "node0"
    genesis = "../../genesis.json"
    key_file = "validator.key"          # omit for a non-validator node
    data_dir = "data"
    sign_state_file = "sign_state.json" # outside data_dir (DESIGN §6)
    listen = "127.0.0.1:26600"
    peers = ["http://127.0.0.1:26601"]
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenchain.errors import ConfigError


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """A node's settings, with absolute paths."""

    name: str
    """Node name (logs, status)."""
    genesis: Path
    """Path of genesis.json."""
    key_file: Path | None
    """Validator key file, or None for a non-validator."""
    data_dir: Path
    """Chain data directory (LevelDB)."""
    sign_state_file: Path
    """Double-sign protection state, kept outside `data_dir`."""
    host: str
    """Listen address."""
    port: int
    """Listen port (peer and client API share it)."""
    peers: tuple[str, ...]
    """Peer base URLs, e.g. ``http://127.0.0.1:26601``."""


def _path(base: Path, value: Any, field: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"config field {field!r} must be a path")
    path = Path(value)
    return path if path.is_absolute() else (base / path).resolve()


def _listen(value: Any) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError("config field 'listen' must be HOST:PORT")
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"invalid listen port in {value!r}")
    return host, int(port)


def load_config(path: str | os.PathLike[str]) -> NodeConfig:
    """Read a node config file, or ``config.toml`` inside a node home folder.

    Raises
    ------
    ConfigError
        If the file is missing, not TOML, or a field is missing or invalid.
    """
    target = Path(path)
    if target.is_dir():
        target = target / "config.toml"
    try:
        doc = tomllib.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read node config {target}: {exc}") from exc
    base = target.parent.resolve()
    host, port = _listen(doc.get("listen"))
    peers = doc.get("peers", [])
    if not isinstance(peers, list) or not all(isinstance(p, str) for p in peers):
        raise ConfigError("config field 'peers' must be a list of URLs")
    key_file = doc.get("key_file")
    return NodeConfig(
        name=str(doc.get("name", target.parent.name)),
        genesis=_path(base, doc.get("genesis"), "genesis"),
        key_file=None if key_file is None else _path(base, key_file, "key_file"),
        data_dir=_path(base, doc.get("data_dir"), "data_dir"),
        sign_state_file=_path(base, doc.get("sign_state_file"), "sign_state_file"),
        host=host,
        port=port,
        peers=tuple(peers),
    )


def render_config(name: str, genesis: str, key_file: str | None, data_dir: str,
                  sign_state_file: str, listen: str, peers: list[str]) -> str:
    """Return the TOML text of a node config (paths as given, usually relative)."""
    lines = [f'name = "{name}"', f'genesis = "{genesis}"']
    if key_file is not None:
        lines.append(f'key_file = "{key_file}"')
    lines += [
        f'data_dir = "{data_dir}"',
        f'sign_state_file = "{sign_state_file}"',
        f'listen = "{listen}"',
        "peers = [" + ", ".join(f'"{p}"' for p in peers) + "]",
    ]
    return "\n".join(lines) + "\n"

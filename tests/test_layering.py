"""The dependency direction of DESIGN §9, enforced by parsing every import."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "greenchain"

# Rank of each layer: a module may import only layers of lower or equal rank
# (equal = the same layer), except where SIBLINGS forbids it.
RANK = {
    "errors": 0, "params": 0,
    "codec": 1,
    "crypto": 2,
    "model": 3,
    "ledger": 4, "p2p": 4,
    "store": 5, "consensus": 5, "mempool": 5,
    "proof": 6,
    "meter": 7, "reports": 7,
    "node": 8,
    "api": 9,
    "cli": 10,
}
# p2p imports only codec, crypto and model (DESIGN §9); store and consensus are siblings.
FORBIDDEN = {
    "p2p": {"ledger", "store", "consensus", "mempool", "proof", "meter", "node", "api", "cli"},
    "store": {"consensus", "mempool", "p2p"},
    "consensus": {"store", "mempool", "p2p", "ledger"},
    "mempool": {"store", "consensus", "p2p"},
    "ledger": {"p2p"},
    # Reports compute over records a client fetched: model (and meter data) only.
    "reports": {"ledger", "store", "consensus", "mempool", "p2p", "proof"},
}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "greenchain" or len(parts) < 2:
        return None
    return parts[1]


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def module_layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def test_every_module_has_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer = module_layer(path)
        assert layer == "__init__" or layer in RANK, f"{path} is in no layer of DESIGN §9"


def test_imports_flow_one_way() -> None:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        layer = module_layer(path)
        if layer == "__init__":
            continue
        for imported in imports_of(path):
            target = layer_of(imported)
            if target is None or target == layer:
                continue
            if RANK[target] > RANK[layer] or target in FORBIDDEN.get(layer, set()):
                violations.append(f"{path.relative_to(PACKAGE)} imports {imported}")
    assert violations == []


def test_consensus_machine_does_no_io() -> None:
    banned = {"aiohttp", "plyvel", "socket", "time", "random", "os", "asyncio"}
    for path in (PACKAGE / "consensus").rglob("*.py"):
        roots = {name.split(".")[0] for name in imports_of(path)}
        assert not roots & banned, f"{path.name} imports {roots & banned}"


def test_ledger_is_pure() -> None:
    banned = {"aiohttp", "plyvel", "socket", "time", "random", "os", "asyncio", "datetime"}
    for path in (PACKAGE / "ledger").rglob("*.py"):
        roots = {name.split(".")[0] for name in imports_of(path)}
        assert not roots & banned, f"{path.name} imports {roots & banned}"


def test_package_import_is_cheap() -> None:
    import subprocess
    import sys

    code = "import sys, greenchain; print('plyvel' in sys.modules, 'aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]

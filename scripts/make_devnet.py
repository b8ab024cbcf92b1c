"""Write the committed development network: genesis.json and nodes/node0..node3.

The keys are derived from public seeds and are INSECURE: for local use only.
Run from the repository root: python scripts/make_devnet.py
"""

from __future__ import annotations

import json
from pathlib import Path

from greenchain.crypto.keys import save_key
from greenchain.model.genesis import genesis_to_json
from greenchain.node.devnet import DEV_BASE_PORT, dev_genesis, dev_key, write_network

ROOT = Path(__file__).resolve().parent.parent
NODES_README = """# Development network (INSECURE keys)

`node0` .. `node3` are the four validators of `genesis.json`; `dev-issuer.key` is the key
of its one issuing body ("GreenChain Dev Registry"). All these key files are derived
from public seeds (`greenchain.node.devnet.dev_key`): anyone can sign with them. Use
them for a local network only, never for a real registry.

Run each in its own terminal, from the repository root:

    greenchain node run --home nodes/node0

Chain data goes to `nodes/<name>/data/` and the double-sign protection state to
`nodes/<name>/sign_state.msgpack` (both ignored by git). To start over, delete both and
run `greenchain node init-sign-state --home nodes/<name>`.
"""


def main() -> None:
    genesis_path = ROOT / "genesis.json"
    genesis_path.write_text(json.dumps(genesis_to_json(dev_genesis(4)), indent=2) + "\n",
                            encoding="utf-8")
    ports = [DEV_BASE_PORT + i for i in range(4)]
    write_network(ROOT / "nodes", genesis_path, ports)
    issuer_key = ROOT / "nodes" / "dev-issuer.key"
    if not issuer_key.exists():
        save_key(dev_key("issuer"), issuer_key)
    (ROOT / "nodes" / "README.md").write_text(NODES_README, encoding="utf-8")
    print(f"wrote {genesis_path} and nodes/node0..node3")


if __name__ == "__main__":
    main()

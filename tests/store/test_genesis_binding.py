"""A data directory belongs to one genesis: a node never serves another chain's data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.chain_builder import ChainBuilder

from greenchain.errors import ForeignChainData
from greenchain.model.genesis import genesis_to_json
from greenchain.node.devnet import dev_genesis, free_ports, write_network
from greenchain.store.chain import ChainStore
from greenchain.store.leveldb import LevelKV
from greenchain.store.schema import GENESIS_MARK


def test_first_bind_records_the_genesis_and_a_rebind_is_accepted() -> None:
    chain = ChainBuilder()
    own = chain.genesis.genesis_hash
    chain.store.bind_genesis(own, chain.chain_id)
    assert chain.store.kv.get(GENESIS_MARK) == own
    chain.store.bind_genesis(own, chain.chain_id)


def test_another_genesis_is_refused_and_changes_nothing() -> None:
    chain = ChainBuilder()
    own = chain.genesis.genesis_hash
    chain.store.bind_genesis(own, chain.chain_id)
    with pytest.raises(ForeignChainData, match=r"holds another chain \(genesis"):
        chain.store.bind_genesis(b"\x01" * 32, chain.chain_id)
    assert chain.store.kv.get(GENESIS_MARK) == own


def test_data_without_the_mark_is_judged_by_its_first_block() -> None:
    chain = ChainBuilder()
    chain.setup_plant()
    assert chain.store.kv.get(GENESIS_MARK) is None  # written before the mark existed
    with pytest.raises(ForeignChainData, match=rf"holds another chain \(chain '{chain.chain_id}'"):
        chain.store.bind_genesis(b"\x02" * 32, "another-chain")
    assert chain.store.kv.get(GENESIS_MARK) is None
    chain.store.bind_genesis(chain.genesis.genesis_hash, chain.chain_id)
    assert chain.store.kv.get(GENESIS_MARK) == chain.genesis.genesis_hash


@pytest.mark.timeout(60)
def test_node_run_on_another_chains_data_exits_with_one_clear_line(tmp_path: Path) -> None:
    genesis_path = tmp_path / "genesis.json"
    genesis_path.write_text(json.dumps(genesis_to_json(dev_genesis(1))), encoding="utf-8")
    (home,) = write_network(tmp_path / "nodes", genesis_path, free_ports(1))
    run = [sys.executable, "-m", "greenchain.cli.main", "node", "run", "--home",
           str(home.home), "--log-level", "WARNING"]
    # Record this chain in the data directory without serving: bind as `node run` does.
    store = ChainStore(LevelKV(home.home / "data"))
    try:
        store.bind_genesis(dev_genesis(1).genesis_hash, dev_genesis(1).chain_id)
    finally:
        store.close()
    other = dev_genesis(1, chain_id="another-chain")
    genesis_path.write_text(json.dumps(genesis_to_json(other)), encoding="utf-8")
    done = subprocess.run(run, capture_output=True, text=True, timeout=45)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "holds another chain (genesis" in done.stderr, done.stderr

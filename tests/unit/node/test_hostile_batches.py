"""Forged transaction batches from peers cost little and never stall the node.

Found by an attack run: 20k transactions with broken signatures in one POST /p2p/msg held
the event loop for ~6 s, and the same forgeries re-sent in another order did it again.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.devtxs import attest_txs, setup_txs

from greenchain.model.genesis import genesis_to_json
from greenchain.node.config import load_config
from greenchain.node.devnet import dev_genesis, free_ports, write_network
from greenchain.node.runtime import NodeRuntime
from greenchain.node.service import NodeService
from greenchain.p2p.messages import TxBatch
from greenchain.params import ADMIT_CHUNK
from greenchain.store.chain import ChainStore
from greenchain.store.kv import MemoryKV


def forged(raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 1])  # the signature is the last field


def test_a_forged_envelope_is_verified_once_and_an_honest_copy_still_admitted() -> None:
    service = NodeService(dev_genesis(4), ChainStore(MemoryKV()))
    honest = setup_txs(("T1",))[0]
    checks = 0
    real_admit = service.mempool.admit

    def counting_admit(*args: object, **kwargs: object) -> bool:
        nonlocal checks
        checks += 1
        return real_admit(*args, **kwargs)  # type: ignore[arg-type]

    service.mempool.admit = counting_admit  # type: ignore[method-assign]
    first = service.submit(forged(honest.raw))
    again = service.submit(forged(honest.raw))
    assert first.status == again.status == "rejected"
    assert first.error is not None and first.error.rule == "bad_signature"
    assert again.error is first.error and checks == 1
    accepted = service.submit(honest.raw)  # same tx id, good signature: not blocked
    assert accepted.status == "pending" and checks == 2


def test_a_large_peer_batch_is_queued_in_chunks(tmp_path: Path) -> None:
    genesis = dev_genesis(1)
    genesis_path = tmp_path / "genesis.json"
    genesis_path.write_text(json.dumps(genesis_to_json(genesis)), encoding="utf-8")
    (home,) = write_network(tmp_path / "nodes", genesis_path, free_ports(1))
    runtime = NodeRuntime(load_config(home.home), genesis, None, ChainStore(MemoryKV()))
    raws = tuple(tx.raw for tx in attest_txs(2 * ADMIT_CHUNK + 7))
    runtime.on_peer_message(TxBatch(raws))
    chunks = list(runtime.inbox_bulk)
    assert [len(c.raws) for c in chunks] == [ADMIT_CHUNK, ADMIT_CHUNK, 7]
    assert tuple(raw for c in chunks for raw in c.raws) == raws

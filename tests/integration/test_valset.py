"""A real network changes its validator set (DESIGN §3 update_validators, §6, §8).

Four genesis validators plus a fifth node (validator-4) start together. Nodes learn no
peers at run time (peers come from config.toml only), so all five homes are written with
a five-node peer mesh under a genesis of the first four; the fifth follows as an
observer until the change adds it. Then:

1. update_validators adds validator-4; after activation node3 is killed, so the 5-set's
   quorum (4) is only reached with validator-4's precommit: blocks still commit;
2. update_validators (submitted by validator-4) removes validator-4; after activation
   node4 is stopped too, and three of the remaining four (a quorum of 4, not of 5) commit;
3. a provenance proof fetched before the changes and one fetched after both verify
   offline with genesis alone, the new one replaying both changes.
"""

from __future__ import annotations

import itertools
import urllib.request
from collections.abc import Iterator

import pytest
from helpers.devtxs import attest_txs, setup_txs
from helpers.netclient import committed, get, height, submit, wait_for

from greenchain.cli.localnet import LocalNetwork
from greenchain.crypto.keys import KeyPair
from greenchain.model.genesis import load_genesis
from greenchain.model.transactions import Tx, make_tx, make_update_validators
from greenchain.node.devnet import DEV_CHAIN_ID, dev_genesis, dev_key, free_ports, write_network
from greenchain.proof.format import decode_proof
from greenchain.proof.verify import verify_provenance

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

GENESIS_KEYS = [dev_key(f"validator-{i}") for i in range(4)]
NEW_KEY = dev_key("validator-4")
ACTIVATION_MARGIN = 4
"""Activation = current height + 4: inclusion at the next block or the one after is valid."""
_starts = itertools.count(1_425_168_000, 600)
_nonces = itertools.count(1)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    network = LocalNetwork(tmp_path_factory.mktemp("valset"), dev_genesis(4))
    ports = [home.port for home in network.homes]
    # The first four ports were released when probed: skip them if the OS offers them again.
    ports.append(next(port for port in free_ports(len(ports) + 1) if port not in ports))
    network.homes = write_network(network.root / "nodes", network.genesis_path, ports)
    try:
        network.start_all()
        setup = setup_txs(("T1",))
        submit(network.urls[0], setup)
        wait_for(lambda: all(committed(u, setup[-1]) for u in network.urls), 30, "setup")
        yield network
    finally:
        network.stop_all()


def commit_one(url: str, wait_urls: list[str] | None = None) -> Tx:
    """Submit one attestation of T1 (a fresh 10-minute period) and wait until committed."""
    tx = attest_txs(1, "T1", start=next(_starts))[0]
    assert submit(url, [tx])[0]["status"] == "pending"
    for target in wait_urls or [url]:
        wait_for(lambda target=target: committed(target, tx), 30, "attestation commit")
    return tx


def advance_past(url: str, target: int) -> None:
    """Commit single-attestation blocks until the chain's height is at least `target`."""
    while height(url) < target:
        commit_one(url)


def change_validators(url: str, signer_key: int, approvers: list[KeyPair], add: list[bytes],
                      remove: list[bytes]) -> int:
    """Submit an update_validators through `url`, wait for it; return the activation."""
    activation = height(url) + ACTIVATION_MARGIN
    body = make_update_validators(approvers, DEV_CHAIN_ID, add, remove, activation)
    signer = (GENESIS_KEYS + [NEW_KEY])[signer_key]
    tx = make_tx(signer, DEV_CHAIN_ID, body, next(_nonces))
    verdict = submit(url, [tx])[0]
    assert verdict["status"] == "pending", verdict
    wait_for(lambda: committed(url, tx), 30, "update_validators commit")
    return activation


def fetch_proof(url: str, device: str, serial: int) -> bytes:
    with urllib.request.urlopen(f"{url}/v1/proofs/provenance/{device}:{serial}",
                                timeout=10) as response:
        data: bytes = response.read()
    return data


def serial_of(url: str, tx: Tx) -> int:
    """Return the first serial issued by attestation `tx` (the device's issued Wh before)."""
    body = tx.body
    issued = get(f"{url}/v1/devices/T1")["issued_wh"]
    assert isinstance(issued, int)
    return issued - body.energy_wh  # type: ignore[union-attr]


def test_add_then_remove_a_validator(net: LocalNetwork) -> None:
    urls, genesis = net.urls, load_genesis(net.genesis_path)
    commit_one(urls[0])
    old_proof = fetch_proof(urls[0], "T1", 0)
    assert decode_proof(old_proof).valset_changes == ()

    # 1. Add validator-4: approved by all four, submitted by validator-0.
    grown_at = change_validators(urls[0], 0, GENESIS_KEYS, [NEW_KEY.public], [])
    advance_past(urls[0], grown_at)
    wait_for(lambda: height(urls[4]) >= grown_at, 30, "node4 follows")
    status = get(f"{urls[4]}/v1/status")
    assert NEW_KEY.public.hex() in status["validators"] and len(status["validators"]) == 5
    net.kill(3)
    needs_new = commit_one(urls[0], [urls[0], urls[4]])
    new_serial = serial_of(urls[0], needs_new)

    # 2. Remove validator-4: approved by the 5-set, submitted by validator-4 itself.
    shrunk_at = change_validators(urls[4], 4, GENESIS_KEYS + [NEW_KEY], [],
                                  [NEW_KEY.public])
    advance_past(urls[0], shrunk_at)
    assert net.stop(4) == 0
    after = commit_one(urls[1], [urls[0], urls[1], urls[2]])
    assert len(get(f"{urls[0]}/v1/status")["validators"]) == 4

    # 3. Proofs verify offline from genesis, before and after the changes.
    old_report = verify_provenance(old_proof, genesis)
    assert old_report.range_start == 0
    new_proof = fetch_proof(urls[0], "T1", new_serial)
    assert len(decode_proof(new_proof).valset_changes) == 2
    report = verify_provenance(new_proof, genesis)
    assert NEW_KEY.public in report.steps[-1].validators
    assert GENESIS_KEYS[3].public not in report.steps[-1].validators
    assert len(decode_proof(fetch_proof(urls[0], "T1", 0)).valset_changes) == 2
    verify_provenance(fetch_proof(urls[0], "T1", 0), genesis)
    assert committed(urls[2], after)

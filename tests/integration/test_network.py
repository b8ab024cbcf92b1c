"""Four real validator processes on 127.0.0.1: commit, agree, refuse bad input, recover."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from helpers.devtxs import attest_txs, setup_txs
from helpers.netclient import committed, get, height, request, submit, wait_for

from greenchain.cli.localnet import LocalNetwork
from greenchain.consensus.safety import sign_state_from_bytes
from greenchain.model.transactions import decode_tx
from greenchain.node.devnet import dev_genesis
from greenchain.node.signstate import lost_blocks_warning

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    network = LocalNetwork(tmp_path_factory.mktemp("net"), dev_genesis(4))
    try:
        network.start_all()
        setup = setup_txs(("T1", "T2"))
        results = submit(network.urls[0], setup)
        assert all(r["status"] == "pending" for r in results), results
        wait_for(lambda: all(committed(u, setup[-1]) for u in network.urls), 30, "setup")
        yield network
    finally:
        network.stop_all()


def agreed(net: LocalNetwork, indexes: list[int]) -> bool:
    statuses = [get(f"{net.urls[i]}/v1/status") for i in indexes]
    return len({(s["height"], s["app_hash"]) for s in statuses}) == 1


def test_four_validators_commit_and_agree(net: LocalNetwork) -> None:
    txs = attest_txs(40, "T1")
    results = submit(net.urls[1], txs)
    assert [r["status"] for r in results] == ["pending"] * 40, results[:2]
    wait_for(lambda: all(committed(net.urls[3], tx) for tx in txs[-1:]), 20, "commit")
    assert all(committed(net.urls[2], tx) for tx in txs)
    wait_for(lambda: agreed(net, [0, 1, 2, 3]), 10, "all nodes at one height and app_hash")
    device = get(f"{net.urls[0]}/v1/devices/T1")
    assert device["issued_wh"] >= sum(1000 + i for i in range(40))


def test_bad_input_is_refused_and_changes_nothing(net: LocalNetwork) -> None:
    url = net.urls[0]
    before = get(f"{url}/v1/status")
    good = attest_txs(1, "T2", start=1_425_204_000)[0]
    fields = msgpack.unpackb(good.raw)
    bad_sig = list(fields)
    bad_sig[5] = bytes([fields[5][0] ^ 1]) + fields[5][1:]
    wrong_chain = list(fields)
    wrong_chain[1] = "other-chain"
    cases = {
        b"\xc1": "malformed",
        b"\xcc\x01": "non_canonical",
        msgpack.packb(bad_sig): "bad_signature",
        msgpack.packb(wrong_chain): "wrong_chain",
        b"\x96" + b"\x00" * 5: "malformed",
    }
    for body, rule in cases.items():
        status, answer = request(f"{url}/v1/tx", body)
        assert status == 400 and answer["rule"] == rule, (body, status, answer)
    status, answer = request(f"{url}/v1/tx", b"\x00" * (9 * 1024 * 1024))
    assert status == 413 and answer["rule"] == "too_large"
    status, answer = request(f"{url}/p2p/msg", b"\x92\xa3bad\x00")
    assert status == 400
    assert get(f"{url}/v1/status")["app_hash"] == before["app_hash"] or \
        get(f"{url}/v1/status")["height"] > before["height"]
    # The well-formed transaction still goes through afterwards: the node kept running.
    verdict = submit(url, [good])[0]
    assert verdict["status"] == "pending", verdict
    wait_for(lambda: committed(url, good), 20, "commit after bad input")
    # A resend of a committed transaction answers its status (safe retry), not an error.
    again = submit(url, [decode_tx(good.raw)])[0]
    assert again["status"] == "committed"
    overlap = attest_txs(1, "T2", start=1_425_204_000)[0]
    status, answer = request(f"{url}/v1/tx", overlap.raw)
    assert status == 400 and answer["rule"] == "period_overlap"


def test_kill9_node_restarts_and_catches_up(net: LocalNetwork) -> None:
    net.kill(3)
    txs = attest_txs(20, "T1", start=1_425_304_800)
    submit(net.urls[0], txs)
    wait_for(lambda: committed(net.urls[0], txs[-1]), 30, "3 of 4 validators commit")
    net.start(3)
    net.wait_ready([3])
    target = height(net.urls[0])
    wait_for(lambda: height(net.urls[3]) >= target, 30, "restarted node catches up")
    wait_for(lambda: agreed(net, [0, 1, 2, 3]), 20, "agreement after restart")


def test_wiped_node_catches_up_from_peers(net: LocalNetwork) -> None:
    assert net.stop(2) == 0, "SIGTERM stops a node cleanly"
    data_dir = Path(net.homes[2].home) / "data"
    shutil.rmtree(data_dir)
    txs = attest_txs(10, "T2", start=1_425_402_000)
    submit(net.urls[1], txs)
    wait_for(lambda: committed(net.urls[1], txs[-1]), 30, "commit while node2 is down")
    net.start(2)
    net.wait_ready([2])
    # The operator is told the data lost blocks this validator had signed for.
    signed = sign_state_from_bytes((Path(net.homes[2].home) / "sign_state.msgpack").read_bytes())
    expected = lost_blocks_warning(0, signed)
    assert get(f"{net.urls[2]}/v1/status")["lost_blocks_at_start"] == expected
    target = height(net.urls[1])
    wait_for(lambda: height(net.urls[2]) >= target, 30, "wiped node catches up")
    assert all(committed(net.urls[2], tx) for tx in txs)
    # Still a validator: later blocks commit with it in the set.
    more = attest_txs(5, "T2", start=1_425_502_800)
    submit(net.urls[2], more)
    wait_for(lambda: committed(net.urls[0], more[-1]), 30, "commit after rejoin")
    wait_for(lambda: agreed(net, [0, 1, 2, 3]), 20, "agreement after rejoin")

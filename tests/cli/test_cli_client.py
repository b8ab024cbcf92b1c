"""NodeClient against a scripted local HTTP server: 429 resends, errors, waiting."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from greenchain.cli.client import NodeClient
from greenchain.codec import decode
from greenchain.errors import BadInput, CommitTimeout, NodeRefused, PeerError
from greenchain.node.devnet import free_ports


@dataclass
class Script:
    """Answers to give, in order, and the requests seen."""

    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    seen: list[tuple[str, str, bytes, str]] = field(default_factory=list)


def json_answer(status: int, doc: Any, headers: dict[str, str] | None = None,
                ) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"} | (headers or {}), \
        json.dumps(doc).encode()


class Handler(BaseHTTPRequestHandler):
    script: Script

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.script.seen.append((self.command, self.path, body,
                                 self.headers.get("Content-Type", "")))
        status, headers, payload = self.script.answers.pop(0)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    handler = type("ScriptedHandler", (Handler,), {"script": script})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def make_client(url: str, fake: FakeTime, **kwargs: Any) -> NodeClient:
    return NodeClient(url, sleep=fake.sleep, clock=fake.clock, **kwargs)


def test_batch_resends_only_pool_full_items_after_retry_after(
        server: tuple[str, Script]) -> None:
    url, script = server
    full = {"tx_id": "cc", "status": "rejected", "rule": "pool_full", "message": "full"}
    script.answers = [
        json_answer(429, {"results": [{"tx_id": "aa", "status": "pending"},
                                      {"tx_id": "bb", "status": "rejected",
                                       "rule": "period_overlap", "message": "overlap"},
                                      full]}, {"Retry-After": "2"}),
        json_answer(202, {"results": [{"tx_id": "cc", "status": "pending"}]}),
    ]
    fake = FakeTime()
    results = make_client(url, fake).submit_batch([b"\x01", b"\x02", b"\x03"])
    assert [r["status"] for r in results] == ["pending", "rejected", "pending"]
    assert results[1]["rule"] == "period_overlap"
    assert fake.slept == [2.0]
    # The batch body is the canonical msgpack array of envelope bytes.
    assert [decode(seen[2]) for seen in script.seen] == [[b"\x01", b"\x02", b"\x03"], [b"\x03"]]
    assert {seen[3] for seen in script.seen} == {"application/msgpack"}


def test_pool_that_stays_full_is_refused_as_pool_full(server: tuple[str, Script]) -> None:
    url, script = server
    full = json_answer(429, {"rule": "pool_full", "message": "full"}, {"Retry-After": "5"})
    script.answers = [full, full, full]
    fake = FakeTime()
    with pytest.raises(NodeRefused) as info:
        make_client(url, fake, pool_wait_s=10.0).submit(b"\x01")
    assert info.value.rule == "pool_full"
    assert fake.slept == [5.0, 5.0]


def test_node_rule_becomes_the_error_rule(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [json_answer(400, {"rule": "period_overlap", "message": "overlaps"})]
    with pytest.raises(NodeRefused) as info:
        make_client(url, FakeTime()).submit(b"\x01")
    assert info.value.rule == "period_overlap"
    assert info.value.message == "overlaps"
    assert info.value.to_dict()["rule"] == "period_overlap"


def test_non_json_error_is_a_peer_error_naming_the_url(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(500, {"Content-Type": "text/plain"}, b"boom")]
    with pytest.raises(PeerError) as info:
        make_client(url, FakeTime()).get_json("/v1/status")
    assert f"{url}/v1/status" in info.value.message
    assert "500" in info.value.message


def test_unreachable_node_is_a_peer_error_naming_the_url() -> None:
    (port,) = free_ports(1)
    with pytest.raises(PeerError) as info:
        NodeClient(f"http://127.0.0.1:{port}").status()
    assert f"127.0.0.1:{port}/v1/status" in info.value.message
    assert "\n" not in info.value.message


def test_bad_url_is_bad_input() -> None:
    with pytest.raises(BadInput):
        NodeClient("127.0.0.1:26600")


def test_wait_for_tx_polls_until_final_and_times_out(server: tuple[str, Script]) -> None:
    url, script = server
    pending = json_answer(200, {"tx_id": "ab", "status": "pending"})
    script.answers = [pending, json_answer(200, {"tx_id": "ab", "status": "committed",
                                                 "height": 7, "position": 0})]
    fake = FakeTime()
    client = make_client(url, fake)
    assert client.wait_for_tx(b"\xab", 5.0)["height"] == 7
    assert script.seen[-1][1] == "/v1/tx/ab"
    script.answers = [pending] * 100
    with pytest.raises(CommitTimeout):
        client.wait_for_tx(b"\xab", 1.0)


def test_wait_for_all_reads_blocks_and_polls_only_the_rest(server: tuple[str, Script]) -> None:
    url, script = server
    ids = [bytes([i]) * 32 for i in range(3)]
    script.answers = [
        json_answer(200, {"chain_id": "c", "height": 6}),
        json_answer(200, {"height": 6, "txs": [ids[0].hex(), ids[2].hex()]}),
        json_answer(200, {"tx_id": ids[1].hex(), "status": "evicted",
                          "rule": "period_overlap", "message": "m"}),
    ]
    finals = make_client(url, FakeTime()).wait_for_all(ids, 5, 10.0)
    assert finals[ids[0]] == {"tx_id": ids[0].hex(), "status": "committed", "height": 6,
                              "position": 0}
    assert finals[ids[2]]["position"] == 1
    assert finals[ids[1]]["rule"] == "period_overlap"
    assert [seen[1] for seen in script.seen] == ["/v1/status", "/v1/blocks/6",
                                                 f"/v1/tx/{ids[1].hex()}"]

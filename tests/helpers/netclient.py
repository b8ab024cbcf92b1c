"""Small HTTP helpers for integration tests (urllib, deadlines, no blind sleeps)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from greenchain.codec import encode
from greenchain.model.transactions import Tx


def request(url: str, data: bytes | None = None, content_type: str = "application/msgpack",
            timeout: float = 10.0) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def submit(url: str, txs: list[Tx]) -> list[dict[str, Any]]:
    status, body = request(f"{url}/v1/tx", encode([tx.raw for tx in txs]))
    assert status in (202, 429), (status, body)
    return list(body["results"])


def get(url: str) -> Any:
    return request(url)[1]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def committed(url: str, tx: Tx) -> bool:
    try:
        return get(f"{url}/v1/tx/{tx.tx_id.hex()}")["status"] == "committed"
    except OSError:
        return False


def height(url: str) -> int:
    try:
        return int(get(f"{url}/v1/status")["height"])
    except OSError:
        return -1

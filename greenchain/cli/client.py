"""A small synchronous client of a node's HTTP API (``greenchain/api.py``, DESIGN §3, §7).

Standard library only (urllib). Transactions go out as ``application/msgpack``: one
envelope, or a batch as the canonical msgpack array of envelope bytes. A full pool
(HTTP 429) is waited out with the node's Retry-After and only the items refused as
``pool_full`` are sent again. Every network failure is a `PeerError` naming the URL; a 4xx
JSON answer is a `NodeRefused` carrying the node's rule.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from email.message import Message
from typing import Any

from greenchain.codec import encode
from greenchain.errors import BadInput, CommitTimeout, NodeRefused, PeerError

MSGPACK = "application/msgpack"
POOL_FULL = "pool_full"
PENDING = "pending"
COMMITTED = "committed"
POLL_S = 0.1
"""Pause between two status polls while a transaction is pending, seconds."""
MAX_RETRY_AFTER_S = 30.0
"""Longest single wait honoured from a Retry-After header, seconds."""

Headers = Message
"""Response headers as urllib gives them."""
Answer = dict[str, Any]
"""One JSON verdict or status of the node: ``{"tx_id", "status", ...}``."""


class NodeClient:
    """Talk to one node's client API.

    Parameters
    ----------
    url:
        Base URL, e.g. ``http://127.0.0.1:26600``.
    request_timeout_s:
        Socket timeout of one HTTP request, seconds.
    pool_wait_s:
        How long to keep resending items refused with ``pool_full``, seconds.
    sleep, clock:
        Injected so tests need not wait (``time.sleep``, ``time.monotonic``).

    Raises
    ------
    BadInput
        If `url` is not an ``http://`` or ``https://`` URL.
    """

    def __init__(self, url: str, *, request_timeout_s: float = 30.0, pool_wait_s: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadInput(f"node URL must look like http://HOST:PORT, got {url!r}", url=url)
        self.url = url.rstrip("/")
        self.request_timeout_s = request_timeout_s
        self.pool_wait_s = pool_wait_s
        self.sleep = sleep
        self.clock = clock

    # --- HTTP ------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, Headers, bytes]:
        """Send one request; return (HTTP status, headers, body) for any HTTP answer.

        Raises
        ------
        PeerError
            If the node cannot be reached or the connection fails (names the URL).
        """
        target = self.url + path
        headers = {"Content-Type": content_type} if content_type else {}
        req = urllib.request.Request(target, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout_s) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            with exc:  # an HTTPError holds the open response: close it
                return exc.code, exc.headers, exc.read()
        except urllib.error.URLError as exc:
            raise PeerError(f"cannot reach node {target}: {exc.reason}", url=target) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise PeerError(f"request to node {target} failed: {exc}", url=target) from exc

    def get_json(self, path: str) -> Any:
        """GET `path` and return the decoded JSON of a 2xx answer.

        Raises
        ------
        NodeRefused
            On a 4xx JSON error (the node's rule).
        PeerError
            If unreachable, or on any other answer.
        """
        status, _, body = self.request("GET", path)
        self._raise_for_status(status, body, path)
        return self._json(body, path)

    def get_bytes(self, path: str) -> bytes:
        """GET `path` and return the body of a 2xx answer (e.g. a proof file).

        Raises
        ------
        NodeRefused, PeerError
            As `get_json`.
        """
        status, _, body = self.request("GET", path)
        self._raise_for_status(status, body, path)
        return body

    def _json(self, body: bytes, path: str) -> Any:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PeerError(f"node {self.url}{path} answered with invalid JSON",
                            url=self.url + path) from exc

    def _raise_for_status(self, status: int, body: bytes, path: str) -> None:
        if 200 <= status < 300:
            return
        target = self.url + path
        doc = _json_or_none(body)
        if 400 <= status < 500 and isinstance(doc, dict) and isinstance(doc.get("rule"), str):
            message = str(doc.get("message") or doc["rule"])
            raise NodeRefused(message, node_rule=doc["rule"], url=target, http_status=status)
        raise PeerError(f"node {target} answered HTTP {status}", url=target, http_status=status)

    # --- reads -----------------------------------------------------------------------
    def get_object(self, path: str, *required: str) -> dict[str, Any]:
        """GET `path` and return its JSON object, which must hold the `required` keys.

        Raises
        ------
        NodeRefused
            On a 4xx JSON error (the node's rule).
        PeerError
            If unreachable, or the answer is not such an object.
        """
        doc = self.get_json(path)
        if not isinstance(doc, dict) or any(key not in doc for key in required):
            raise PeerError(f"node {self.url}{path} sent an answer without "
                            f"{', '.join(required) or 'a JSON object'}", url=self.url + path)
        return doc

    def status(self) -> dict[str, Any]:
        """Return ``GET /v1/status`` (chain_id, height, ...)."""
        doc = self.get_object("/v1/status", "chain_id", "height")
        if not isinstance(doc["chain_id"], str) or not isinstance(doc["height"], int):
            raise PeerError(f"node {self.url} sent a malformed status", url=self.url)
        return doc

    def tx_status(self, tx_id: bytes) -> Answer:
        """Return ``GET /v1/tx/{id}``: unknown, pending, committed, rejected or evicted."""
        return self._answer(self.get_json(f"/v1/tx/{tx_id.hex()}"))

    # --- submission ------------------------------------------------------------------
    def submit(self, raw: bytes) -> Answer:
        """Submit one envelope; return the node's verdict (``pending`` or ``committed``).

        Raises
        ------
        NodeRefused
            If the node refuses it (the rule it names; ``pool_full`` only after
            `pool_wait_s` of retries).
        PeerError
            If unreachable.
        """
        deadline = self.clock() + self.pool_wait_s
        while True:
            status, headers, body = self.request("POST", "/v1/tx", raw, MSGPACK)
            if status != 429:
                self._raise_for_status(status, body, "/v1/tx")
                return self._answer(self._json(body, "/v1/tx"))
            self._wait_retry_after(headers, deadline)

    def submit_batch(self, raws: Sequence[bytes]) -> list[Answer]:
        """Submit envelopes as batches; return one verdict per item, in order.

        Items refused with ``pool_full`` (HTTP 429) are sent again after Retry-After;
        every other verdict (pending, committed, rejected with a rule) is final.

        Raises
        ------
        NodeRefused
            If the node refuses the whole batch, or the pool stays full past
            `pool_wait_s`.
        PeerError
            If unreachable or the answer has the wrong shape.
        """
        results: list[Answer] = [{} for _ in raws]
        todo = list(range(len(raws)))
        deadline = self.clock() + self.pool_wait_s
        while todo:
            status, headers, body = self.request(
                "POST", "/v1/tx", encode([raws[i] for i in todo]), MSGPACK)
            if status != 429:
                self._raise_for_status(status, body, "/v1/tx")
            answers = self._batch_answers(body, len(todo))
            for index, answer in zip(todo, answers, strict=True):
                results[index] = answer
            todo = [i for i, answer in zip(todo, answers, strict=True)
                    if answer.get("rule") == POOL_FULL]
            if todo:
                self._wait_retry_after(headers, deadline)
        return results

    def _answer(self, doc: Any) -> Answer:
        if not isinstance(doc, dict) or not isinstance(doc.get("status"), str):
            raise PeerError(f"node {self.url} sent a malformed verdict", url=self.url)
        return doc

    def _batch_answers(self, body: bytes, count: int) -> list[Answer]:
        doc = self._json(body, "/v1/tx")
        results = doc.get("results") if isinstance(doc, dict) else None
        if not isinstance(results, list) or len(results) != count:
            raise PeerError(f"node {self.url} sent {count} items but not as many verdicts",
                            url=self.url)
        return [self._answer(item) for item in results]

    def _wait_retry_after(self, headers: Headers, deadline: float) -> None:
        if self.clock() >= deadline:
            raise NodeRefused(f"the pool of {self.url} stayed full for {self.pool_wait_s} s",
                              node_rule=POOL_FULL, url=self.url)
        self.sleep(_retry_after_s(headers.get("Retry-After")))

    # --- waiting for commits ---------------------------------------------------------
    def wait_for_tx(self, tx_id: bytes, timeout_s: float) -> Answer:
        """Poll ``GET /v1/tx/{id}`` until the transaction is no longer pending.

        Returns
        -------
        Answer
            The final status: ``committed`` (height, position), ``rejected`` or
            ``evicted`` (rule, message), or ``unknown`` (the node lost it).

        Raises
        ------
        CommitTimeout
            If it is still pending after `timeout_s` seconds.
        PeerError
            If unreachable.
        """
        deadline = self.clock() + timeout_s
        while True:
            answer = self.tx_status(tx_id)
            if answer["status"] != PENDING:
                return answer
            self._pause_before(deadline, f"tx {tx_id.hex()} is still pending after "
                                         f"{timeout_s:g} s")

    def wait_for_all(self, tx_ids: Iterable[bytes], after_height: int,
                     timeout_s: float) -> dict[bytes, Answer]:
        """Wait until every transaction is final; cheap for thousands of them.

        Committed ones are found by reading the blocks above `after_height` (each lists
        its tx ids); only the oldest one not found is polled, so a refused or evicted
        transaction is learnt from its own status.

        Parameters
        ----------
        tx_ids:
            Ids accepted by the node after it was at height `after_height`.
        after_height:
            A height read before the transactions were submitted.
        timeout_s:
            Longest wait, seconds.

        Returns
        -------
        dict[bytes, Answer]
            The final status of each id (as `wait_for_tx`).

        Raises
        ------
        CommitTimeout
            If some are still pending after `timeout_s`.
        PeerError
            If unreachable.
        """
        unresolved = dict.fromkeys(tx_ids)
        final: dict[bytes, Answer] = {}
        scanned = after_height
        deadline = self.clock() + timeout_s
        while unresolved:
            scanned = self._scan_blocks(scanned, unresolved, final)
            oldest = next(iter(unresolved), None)
            if oldest is None:
                break
            answer = self.tx_status(oldest)
            if answer["status"] == PENDING:
                self._pause_before(deadline, f"{len(unresolved)} transactions are still "
                                             f"pending after {timeout_s:g} s")
            else:
                final[oldest] = answer
                del unresolved[oldest]
        return final

    def _scan_blocks(self, scanned: int, unresolved: dict[bytes, None],
                     final: dict[bytes, Answer]) -> int:
        """Mark the ids found in blocks ``scanned+1 ..`` tip as committed; return the tip."""
        tip: int = self.status()["height"]
        for height in range(scanned + 1, tip + 1):
            block = self.get_object(f"/v1/blocks/{height}", "txs")
            for position, tx_hex in enumerate(block["txs"]):
                tx_id = bytes.fromhex(tx_hex)
                if tx_id in unresolved:
                    del unresolved[tx_id]
                    final[tx_id] = {"tx_id": tx_hex, "status": COMMITTED, "height": height,
                                    "position": position}
        return max(tip, scanned)

    def _pause_before(self, deadline: float, message: str) -> None:
        if self.clock() >= deadline:
            raise CommitTimeout(f"{message}; it may still commit (e.g. once enough validators "
                                f"are up): check later with GET {self.url}/v1/tx/<tx_id>",
                                url=self.url)
        self.sleep(POLL_S)


def _retry_after_s(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds; 1 s if absent or a date)."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None

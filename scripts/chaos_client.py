"""Chaos harness, part 4: the client load (attestations, transfers, retirements).

Attestations are signed up front (one 10-minute period after another per device);
transfers (operator -> retailer) and retirements (by either account) can only be signed
once the client knows a bundle, which it learns from ``GET /v1/bundles?owner=``. Each
(bundle id, last tx) is spent at most once, so a stale listing never makes the client
send a double spend on purpose. Every tick sends one small batch to a random node that
is up; a batch that fails to arrive is resent once elsewhere (a resend is safe).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import aiohttp

from greenchain.codec import encode
from greenchain.crypto.keys import KeyPair
from greenchain.model.transactions import (
    Attest,
    RegisterAccount,
    RegisterDevice,
    Retire,
    Transfer,
    Tx,
    make_tx,
)
from greenchain.node.devnet import DEV_CHAIN_ID, dev_key

ISSUER = dev_key("issuer")
OPERATOR = dev_key("chaos-operator")
RETAILER = dev_key("chaos-retailer")
GATEWAY = dev_key("chaos-gateway")
DEVICES = ("D0", "D1", "D2", "D3")
PERIOD_S = 600
FIRST_PERIOD_S = 1_425_168_000  # 2015-03-01T00:00:00Z
TICK_S = 0.1
REFRESH_S = 1.0
HTTP_TIMEOUT_S = 2.0


class TxClient:
    """Steady transaction load against the cluster's client API."""

    def __init__(self, urls: list[str], is_up: Callable[[int], bool], seed: int,
                 rate: float, attest_count: int) -> None:
        self.urls = urls
        self.is_up = is_up
        self.rng = random.Random(seed * 1_000_003 + 17)
        self.rate = rate
        self.nonce = 1
        self.attests: deque[Tx] = deque(self._presign_attests(attest_count))
        self.submitted: dict[str, str] = {}
        self.verdicts: Counter[str] = Counter()
        self.admitted: set[str] = set()
        self.known: dict[bytes, list[dict[str, Any]]] = {OPERATOR.public: [],
                                                         RETAILER.public: []}
        self.spent: set[tuple[str, str]] = set()
        self.session: aiohttp.ClientSession | None = None

    def _sign(self, key: KeyPair, body: Any) -> Tx:
        self.nonce += 1
        return make_tx(key, DEV_CHAIN_ID, body, self.nonce)

    def _presign_attests(self, count: int) -> list[Tx]:
        txs = []
        for k in range(count):
            device = DEVICES[k % len(DEVICES)]
            start = FIRST_PERIOD_S + PERIOD_S * (k // len(DEVICES))
            txs.append(self._sign(GATEWAY, Attest(device, start, start + PERIOD_S,
                                                  1000 + k % 977)))
        return txs

    def setup_txs(self) -> list[Tx]:
        """Accounts and devices the load needs (signed by the dev issuing body)."""
        txs = [self._sign(ISSUER, RegisterAccount(OPERATOR.public, "chaos operator")),
               self._sign(ISSUER, RegisterAccount(RETAILER.public, "chaos retailer"))]
        for device in DEVICES:
            txs.append(self._sign(ISSUER, RegisterDevice(
                device, f"turbine {device}", GATEWAY.public, OPERATOR.public, 2_050_000,
                "F01050100", "T020001", "FR", 48_449_700, 5_589_600, 0)))
        return txs

    # --- HTTP ---------------------------------------------------------------------
    async def open(self) -> None:
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def post_batch(self, url: str, txs: list[Tx]) -> list[dict[str, Any]] | None:
        """POST a batch; return the verdicts, or None if the node could not be reached."""
        assert self.session is not None
        try:
            async with self.session.post(f"{url}/v1/tx", data=encode([t.raw for t in txs]),
                                         headers={"Content-Type": "application/msgpack"}) as r:
                body = await r.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            return None
        results = body.get("results") if isinstance(body, dict) else None
        return results if isinstance(results, list) else None

    async def get_json(self, url: str) -> Any:
        assert self.session is not None
        try:
            async with self.session.get(url) as response:
                if response.status != 200:
                    return None
                return await response.json()
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            return None

    def _up_urls(self) -> list[str]:
        return [u for i, u in enumerate(self.urls) if self.is_up(i)]

    # --- load -----------------------------------------------------------------------
    async def submit(self, txs: list[Tx], kinds: list[str]) -> None:
        """Send `txs` to a random live node, once more elsewhere if it cannot be reached."""
        for tx, kind in zip(txs, kinds, strict=True):
            self.submitted[tx.tx_id.hex()] = kind
        candidates = self._up_urls() or list(self.urls)
        self.rng.shuffle(candidates)
        for url in candidates[:2]:
            results = await self.post_batch(url, txs)
            if results is not None:
                for item in results:
                    self.verdicts[str(item.get("rule") or item.get("status"))] += 1
                    if item.get("status") in ("pending", "committed"):
                        self.admitted.add(str(item.get("tx_id")))
                return
        self.verdicts["unreachable"] += len(txs)

    async def run(self, stop: asyncio.Event) -> None:
        """Submit at `rate` tx/s until `stop` is set; refresh known bundles meanwhile."""
        refresher = asyncio.get_running_loop().create_task(self._refresh_loop(stop))
        credit, last = 0.0, time.monotonic()
        try:
            while not stop.is_set():
                # Credit by elapsed time, so slow answers do not lower the rate.
                now = time.monotonic()
                credit, last = credit + self.rate * (now - last), now
                count, credit = int(credit), credit - int(credit)
                batch = [self._next_tx() for _ in range(count)]
                txs = [tx for tx, _ in batch if tx is not None]
                if txs:
                    await self.submit(txs, [kind for tx, kind in batch if tx is not None])
                await asyncio.sleep(TICK_S)
        finally:
            refresher.cancel()

    def _next_tx(self) -> tuple[Tx | None, str]:
        roll = self.rng.random()
        if roll < 0.25:
            tx = self._spend(OPERATOR, transfer=True)
            if tx is not None:
                return tx, "transfer"
        elif roll < 0.5:
            tx = self._spend(RETAILER if roll < 0.4 else OPERATOR, transfer=False)
            if tx is not None:
                return tx, "retire"
        return (self.attests.popleft() if self.attests else None), "attest"

    def _spend(self, owner: KeyPair, transfer: bool) -> Tx | None:
        pool = self.known[owner.public]
        while pool:
            bundle = pool.pop(self.rng.randrange(len(pool)))
            mark = (bundle["bundle_id"], bundle["last_tx"])
            if mark in self.spent:
                continue
            self.spent.add(mark)
            quantity = int(bundle["quantity_wh"])
            bundle_id = bytes.fromhex(bundle["bundle_id"])
            if transfer:
                amount = quantity if self.rng.random() < 0.3 else max(1, quantity // 2)
                return self._sign(owner, Transfer(bundle_id, amount, RETAILER.public))
            amount = quantity if self.rng.random() < 0.5 else max(1, quantity // 3)
            return self._sign(owner, Retire(bundle_id, amount, "Chaos Consumer SA",
                                            FIRST_PERIOD_S, FIRST_PERIOD_S + 3600,
                                            "disclosure", "FR"))
        return None

    async def _refresh_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            urls = self._up_urls()
            if urls:
                url = self.rng.choice(urls)
                for owner in self.known:
                    found = await self.get_json(f"{url}/v1/bundles?owner={owner.hex()}"
                                                "&status=active"
                                                "&limit=1000")
                    if isinstance(found, dict) and isinstance(found.get("bundles"), list):
                        self.known[owner] = [b for b in found["bundles"]
                                             if (b["bundle_id"], b["last_tx"]) not in self.spent]
            await asyncio.sleep(REFRESH_S)

"""Chaos harness, part 2: the proxy layer between validators, and the vote sniffer.

One small aiohttp server per ordered pair (i, j) forwards node i's peer requests to
node j. By default it is transparent (node i sees node j's real answer, or an error
when j is down). Per-link faults, each an entry in `LinkPolicy.active`:

- ``block`` (partitions): requests are black-holed, as a cut cable does: held until
  the link heals or 10 s pass, never delivered; the sender's client times out.
- ``drop``: a ``POST /p2p/msg`` is acknowledged and silently lost with probability p.
- ``duplicate``: a message is also delivered a second time, a little later.
- ``delay``: a message is acknowledged at once and delivered after a random delay (so
  messages overtake each other); GETs are answered late.

Every ``/p2p/msg`` body from node i is inspected before any fault applies: votes and
proposals are recorded per (signer, height, round, kind), so conflicting signatures are
found whatever the network did with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from greenchain.consensus.quorum import verify_proposal_signature, verify_vote_signature
from greenchain.errors import GreenChainError
from greenchain.model.blocks import Proposal, Vote
from greenchain.p2p.messages import decode_message
from greenchain.params import MAX_BODY_BYTES

BLACKHOLE_S = 10.0
FORWARD_TIMEOUT_S = 10.0
MAX_INFLIGHT = 500
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_VOTE_PREFIX = b"\x92\xa4vote"
_PROPOSAL_PREFIX = b"\x92\xa8proposal"


@dataclass
class LinkPolicy:
    """The faults active on one ordered link: fault id -> (kind, parameter)."""

    active: dict[int, tuple[str, float]] = field(default_factory=dict)
    healed: asyncio.Event = field(default_factory=asyncio.Event)

    def level(self, kind: str) -> float:
        """The strongest parameter among active faults of `kind` (0.0 if none)."""
        return max((p for k, p in self.active.values() if k == kind), default=0.0)

    @property
    def blocked(self) -> bool:
        return any(k == "block" for k, _ in self.active.values())


@dataclass
class Sniffer:
    """Every signed vote and proposal seen on the wire, keyed by what may not conflict."""

    chain_id: str
    votes: dict[tuple[bytes, int, int, int], dict[bytes, Vote]] = field(
        default_factory=lambda: defaultdict(dict))
    proposals: dict[tuple[bytes, int, int], dict[tuple[bytes, int], Proposal]] = field(
        default_factory=lambda: defaultdict(dict))
    messages: int = 0
    seen_bodies: set[bytes] = field(default_factory=set)
    undecodable: int = 0
    first_seen: dict[tuple[bytes, int, int, str, bytes], float] = field(default_factory=dict)

    def feed(self, body: bytes) -> None:
        """Record the vote or proposal in `body` (transaction batches are skipped)."""
        if not body.startswith((_VOTE_PREFIX, _PROPOSAL_PREFIX)):
            return
        digest = hashlib.blake2b(body, digest_size=16).digest()
        if digest in self.seen_bodies:  # a re-sent copy: decoding it again tells nothing
            return
        self.seen_bodies.add(digest)
        try:
            message = decode_message(body)
        except GreenChainError:
            self.undecodable += 1
            return
        self.messages += 1
        if isinstance(message, Vote):
            key = (message.validator, message.height, message.round, message.vote_type)
            self.votes[key].setdefault(message.block_hash, message)
            kind, signer, value = str(message.vote_type), message.validator, message.block_hash
        elif isinstance(message, Proposal):
            pkey = (message.proposer, message.height, message.round)
            self.proposals[pkey].setdefault((message.block.block_hash, message.pol_round),
                                            message)
            kind, signer, value = "P", message.proposer, message.block.block_hash
        else:
            return
        seen = (signer, message.height, message.round, kind, value)
        self.first_seen.setdefault(seen, time.monotonic())

    def timeline(self, height: int) -> list[tuple[float, bytes, int, str, bytes]]:
        """(first seen, signer, round, kind, value) of every message of `height`, in order.

        Kind is ``P`` (proposal), ``1`` (prevote) or ``2`` (precommit).
        """
        return sorted((t, signer, r, kind, value)
                      for (signer, h, r, kind, value), t in self.first_seen.items()
                      if h == height)

    def conflicts(self) -> list[tuple[bytes, str, int, int]]:
        """Return (signer, kind, height, round) of every validly signed conflict."""
        found: list[tuple[bytes, str, int, int]] = []
        for (who, height, round_, vote_type), by_value in self.votes.items():
            signed = [v for v in by_value.values() if verify_vote_signature(self.chain_id, v)]
            if len(signed) > 1:
                found.append((who, "prevote" if vote_type == 1 else "precommit",
                              height, round_))
        for (who, height, round_), by_prop in self.proposals.items():
            good = [p for p in by_prop.values()
                    if verify_proposal_signature(self.chain_id, p)]
            if len(good) > 1:
                found.append((who, "proposal", height, round_))
        return found


class ProxyLayer:
    """The harness-owned forwarders, one per ordered pair of nodes."""

    def __init__(self, proxy_ports: dict[tuple[int, int], int], node_urls: list[str],
                 sniffer: Sniffer, rng: random.Random) -> None:
        self.proxy_ports = proxy_ports
        self.node_urls = node_urls
        self.sniffer = sniffer
        self.rng = rng
        self.policies = {pair: LinkPolicy() for pair in proxy_ports}
        self.runners: list[web.AppRunner] = []
        self.session: aiohttp.ClientSession | None = None
        self.inflight: set[asyncio.Task[None]] = set()
        self.stats: dict[str, int] = defaultdict(int)
        self.rtts: list[tuple[float, float, int]] = []

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)
        self.session = aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(limit=0))
        for pair, port in self.proxy_ports.items():
            app = web.Application(client_max_size=MAX_BODY_BYTES + 1024)
            app.router.add_route("*", "/{tail:.*}", self._handler(*pair))
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.runners.append(runner)

    async def stop(self) -> None:
        for policy in self.policies.values():
            policy.healed.set()
        for task in list(self.inflight):
            task.cancel()
        for runner in self.runners:
            await runner.cleanup()
        if self.session is not None:
            await self.session.close()

    # --- fault control ----------------------------------------------------------------
    def set_fault(self, pair: tuple[int, int], fault_id: int, kind: str, level: float) -> None:
        policy = self.policies[pair]
        policy.active[fault_id] = (kind, level)
        if policy.blocked:
            policy.healed.clear()

    def clear_fault(self, pair: tuple[int, int], fault_id: int) -> None:
        policy = self.policies[pair]
        policy.active.pop(fault_id, None)
        if not policy.blocked:
            policy.healed.set()

    def heal_all(self) -> None:
        for policy in self.policies.values():
            policy.active.clear()
            policy.healed.set()

    def blocked_pairs(self) -> set[tuple[int, int]]:
        return {pair for pair, policy in self.policies.items() if policy.blocked}

    # --- forwarding -------------------------------------------------------------------
    def _handler(self, src: int, dst: int) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            policy = self.policies[(src, dst)]
            is_msg = request.method == "POST" and request.path == "/p2p/msg"
            if is_msg:
                self.sniffer.feed(body)
            if policy.blocked:
                self.stats["blackholed"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(policy.healed.wait(), BLACKHOLE_S)
                return web.Response(status=504)
            if is_msg:
                return await self._message(policy, dst, body)
            delay = policy.level("delay")
            if delay:
                await asyncio.sleep(self.rng.uniform(0, delay))
            return await self._forward_get(dst, request.path_qs)
        return handle

    async def _message(self, policy: LinkPolicy, dst: int, body: bytes) -> web.Response:
        if self.rng.random() < policy.level("drop"):
            self.stats["dropped"] += 1
            return web.Response(status=202)
        copies = 2 if self.rng.random() < policy.level("duplicate") else 1
        self.stats["duplicated"] += copies - 1
        delay = policy.level("delay")
        if delay:
            for _ in range(copies):
                self._later(policy, dst, body, self.rng.uniform(0, delay))
            self.stats["delayed"] += 1
            return web.Response(status=202)
        if copies > 1:
            self._later(policy, dst, body, self.rng.uniform(0, 0.2))
        started = time.monotonic()
        status = await self._post(dst, body)
        self.rtts.append((started, time.monotonic() - started, dst))
        return web.Response(status=status)

    def _later(self, policy: LinkPolicy, dst: int, body: bytes, delay_s: float) -> None:
        if len(self.inflight) >= MAX_INFLIGHT:
            self.stats["overflow"] += 1
            return

        async def deliver() -> None:
            await asyncio.sleep(delay_s)
            if not policy.blocked:  # a partition that began meanwhile eats it
                await self._post(dst, body)

        task = asyncio.get_running_loop().create_task(deliver())
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def _post(self, dst: int, body: bytes) -> int:
        assert self.session is not None
        try:
            async with self.session.post(f"{self.node_urls[dst]}/p2p/msg",
                                         data=body) as response:
                await response.read()
                return response.status
        except (TimeoutError, aiohttp.ClientError, OSError):
            self.stats["forward_failed"] += 1
            return 502

    async def _forward_get(self, dst: int, path_qs: str) -> web.Response:
        assert self.session is not None
        try:
            async with self.session.get(f"{self.node_urls[dst]}{path_qs}") as response:
                data = await response.read()
                ctype = response.headers.get("Content-Type", "application/octet-stream")
                return web.Response(status=response.status, body=data,
                                    headers={"Content-Type": ctype})
        except (TimeoutError, aiohttp.ClientError, OSError):
            self.stats["forward_failed"] += 1
            return web.Response(status=502)

"""Peer routes: ``POST /p2p/msg``, ``GET /p2p/blocks``, ``GET /p2p/status`` (DESIGN §7).

The server enforces the body limit and strict decoding, then hands the message to the
node's callbacks. A malformed message is answered 400 with the rule; the peer misbehaved.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any, Protocol

from aiohttp import web

from greenchain.errors import DecodeError
from greenchain.p2p.messages import PeerMessage, decode_message

MSGPACK = "application/msgpack"
SEEN_LIMIT = 50_000
SEEN_WINDOW_S = 2.0


class PeerHandler(Protocol):
    """What the node provides to the peer routes."""

    def on_peer_message(self, message: PeerMessage) -> None:
        """Take one decoded message (signatures are the node's to check)."""
        ...

    def blocks_response(self, from_height: int, limit: int) -> bytes:
        """Return encoded finalized blocks with commits from `from_height` on."""
        ...

    def peer_status(self) -> dict[str, Any]:
        """Return chain id, height, last block hash and app hash (hex)."""
        ...


def _error(status: int, rule: str, message: str) -> web.Response:
    return web.json_response({"rule": rule, "message": message}, status=status)


class SeenMessages:
    """Hashes of recent peer messages, each remembered for `window_s` seconds.

    A copy arriving within the window (relays, re-gossip bursts) is ignored; a later
    re-send gets through, since a message ignored earlier (e.g. a vote for a height this
    node had not reached) may be needed now.
    """

    def __init__(self, limit: int = SEEN_LIMIT, window_s: float = SEEN_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self.hashes: OrderedDict[bytes, float] = OrderedDict()

    def add(self, digest: bytes, now: float | None = None) -> bool:
        """Record `digest`; return False if it was seen within the window."""
        now = time.monotonic() if now is None else now
        while self.hashes and (len(self.hashes) > self.limit
                               or next(iter(self.hashes.values())) < now - self.window_s):
            self.hashes.popitem(last=False)
        if digest in self.hashes:
            return False
        self.hashes[digest] = now
        return True


def add_peer_routes(app: web.Application, handler: PeerHandler) -> None:
    """Register the peer routes on `app` (its ``client_max_size`` is the body limit)."""
    seen = SeenMessages()

    async def post_msg(request: web.Request) -> web.Response:
        try:
            data = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "too_large", "message exceeds the body limit")
        # Gossip verdict IGNORE (STYLE.md §7): the same bytes again (re-gossip, relays)
        # are answered at once, before the costly decode of a proposal's block.
        if not seen.add(hashlib.sha256(data).digest()):
            return web.Response(status=202)
        try:
            message = decode_message(data)
        except DecodeError as exc:
            return _error(400, exc.rule, exc.message)
        handler.on_peer_message(message)
        return web.Response(status=202)

    async def get_blocks(request: web.Request) -> web.Response:
        try:
            from_height = int(request.query.get("from", "1"))
            limit = min(int(request.query.get("limit", "100")), 1000)
        except ValueError:
            return _error(400, "bad_query", "from and limit must be integers")
        if from_height < 1 or limit < 1:
            return _error(400, "bad_query", "from and limit must be positive")
        body = handler.blocks_response(from_height, limit)
        return web.Response(body=body, content_type=MSGPACK)

    async def get_status(request: web.Request) -> web.Response:
        return web.json_response(handler.peer_status())

    app.router.add_post("/p2p/msg", post_msg)
    app.router.add_get("/p2p/blocks", get_blocks)
    app.router.add_get("/p2p/status", get_status)

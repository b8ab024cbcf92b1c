"""The client HTTP API (DESIGN §7): JSON, with transactions and proofs also as msgpack.

Routes:
- ``POST /v1/tx``: one envelope or a batch. Body ``application/msgpack``: an envelope
  (the 6-field array) or an array of envelope ``bin`` items; or JSON ``{"tx": hex}`` /
  ``{"txs": [hex, ...]}``. One: 202 ``{"tx_id", "status"}`` or 4xx ``{"rule", "message"}``.
  Batch: 202 ``{"results": [...]}``, one verdict per item in order; 429 with Retry-After
  when the pool filled up (items with rule ``pool_full`` must be resent).
- ``GET /v1/tx/{id}``: ``unknown``, ``pending``, ``committed`` (height, position),
  ``rejected`` or ``evicted`` (rule, message).
- ``GET /v1/bundles/{id}``, ``GET /v1/bundles?owner=HEX&after=HEX&limit=N``,
  ``GET /v1/certificates/{device}:{serial}``, ``GET /v1/accounts/{key}``,
  ``GET /v1/devices/{id}``, ``GET /v1/blocks/{height}``.
- ``GET /v1/proofs/provenance/{device}:{serial}``: the proof file (``application/msgpack``).
- ``GET /v1/status``, ``GET /v1/evidence``.
Errors are JSON ``{"rule": ..., "message": ...}``; no traceback ever reaches a client.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from greenchain.codec import decode, encode
from greenchain.errors import DecodeError, GreenChainError, Malformed, NotFound, PoolFull
from greenchain.ledger.view import get_account, get_device
from greenchain.model.views import bundle_json, header_json
from greenchain.node.service import NodeService, Verdict
from greenchain.params import MAX_BODY_BYTES
from greenchain.proof.build import build_provenance

MSGPACK = "application/msgpack"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS_OF_RULE = {"pool_full": 429, "not_found": 404, "too_large": 413}


def error_response(exc: GreenChainError) -> web.Response:
    """Map a typed error to a JSON response with a 4xx status."""
    status = STATUS_OF_RULE.get(exc.rule, 400)
    headers = {"Retry-After": "1"} if isinstance(exc, PoolFull) else None
    return web.json_response(exc.to_dict(), status=status, headers=headers)


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """Return the JSON form of one submission verdict."""
    out: dict[str, Any] = {"tx_id": verdict.tx_id.hex() if verdict.tx_id else None,
                           "status": verdict.status}
    if verdict.error is not None:
        out.update(verdict.error.to_dict())
    if verdict.height is not None:
        out.update(height=verdict.height, position=verdict.position)
    return out


def parse_submission(body: bytes, content_type: str) -> tuple[list[bytes], bool]:
    """Return (envelopes, is_batch) from a POST /v1/tx body.

    Raises
    ------
    DecodeError
        If the body is neither form.
    """
    if content_type == MSGPACK:
        value = decode(body)
        if isinstance(value, list) and value and isinstance(value[0], str):
            return [body], False
        if isinstance(value, list) and all(isinstance(v, bytes) for v in value):
            return list(value), True
        raise Malformed("msgpack body must be an envelope or an array of envelopes")
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and isinstance(doc.get("tx"), str):
            return [bytes.fromhex(doc["tx"])], False
        if isinstance(doc, dict) and isinstance(doc.get("txs"), list):
            return [bytes.fromhex(h) for h in doc["txs"]], True
    except (ValueError, TypeError) as exc:
        raise Malformed(f"invalid JSON body: {exc}") from exc
    raise Malformed('JSON body must be {"tx": hex} or {"txs": [hex, ...]}')


def _hex_param(request: web.Request, name: str) -> bytes:
    try:
        return bytes.fromhex(request.match_info[name])
    except ValueError as exc:
        raise Malformed(f"{name} must be hex") from exc


def _certificate_param(request: web.Request) -> tuple[str, int]:
    device_id, _, serial = request.match_info["cert"].rpartition(":")
    if not device_id or not serial.isdigit():
        raise Malformed("certificate id must be DEVICE:SERIAL")
    return device_id, int(serial)


class ClientApi:
    """Route handlers over one node's service object."""

    def __init__(self, service: NodeService, status: Callable[[], dict[str, Any]],
                 on_admitted: Callable[[list[bytes]], None]) -> None:
        self.service = service
        self.status_fn = status
        self.on_admitted = on_admitted

    async def submit(self, request: web.Request) -> web.Response:
        """POST /v1/tx."""
        body = await request.read()
        raws, is_batch = parse_submission(body, request.content_type)
        verdicts = [self.service.submit(raw) for raw in raws]
        self.on_admitted([raw for raw, v in zip(raws, verdicts, strict=True) if v.new])
        if not is_batch:
            verdict = verdicts[0]
            if verdict.error is not None:
                return error_response(verdict.error)
            return web.json_response(verdict_json(verdict), status=202)
        full = any(isinstance(v.error, PoolFull) for v in verdicts)
        return web.json_response({"results": [verdict_json(v) for v in verdicts]},
                                 status=429 if full else 202,
                                 headers={"Retry-After": "1"} if full else None)

    async def tx_status(self, request: web.Request) -> web.Response:
        """GET /v1/tx/{id}."""
        return web.json_response(self.service.tx_status(_hex_param(request, "tx_id")))

    async def bundle(self, request: web.Request) -> web.Response:
        """GET /v1/bundles/{id}."""
        bundle = self.service.store.get_bundle(_hex_param(request, "bundle_id"))
        if bundle is None:
            raise NotFound("no such bundle")
        return web.json_response(bundle_json(bundle))

    async def bundles(self, request: web.Request) -> web.Response:
        """GET /v1/bundles?owner=HEX&after=HEX&limit=N (active bundles of an account)."""
        try:
            owner = bytes.fromhex(request.query["owner"])
            after = bytes.fromhex(request.query.get("after", ""))
            limit = max(1, min(int(request.query.get("limit", "100")), 1000))
        except (KeyError, ValueError) as exc:
            raise Malformed("owner (hex) is required; after hex, limit integer") from exc
        found = self.service.store.bundles_of_owner(owner, after, limit)
        nxt = found[-1].bundle_id.hex() if len(found) == limit else None
        return web.json_response({"bundles": [bundle_json(b) for b in found], "next": nxt})

    async def certificate(self, request: web.Request) -> web.Response:
        """GET /v1/certificates/{device}:{serial}."""
        device_id, serial = _certificate_param(request)
        bundle = self.service.store.find_leaf_bundle(device_id, serial)
        if bundle is None:
            raise NotFound("no such certificate", certificate=f"{device_id}:{serial}")
        return web.json_response(bundle_json(bundle))

    async def provenance(self, request: web.Request) -> web.Response:
        """GET /v1/proofs/provenance/{device}:{serial}."""
        device_id, serial = _certificate_param(request)
        proof = build_provenance(self.service.store, device_id, serial)
        return web.Response(body=proof, content_type=MSGPACK)

    async def account(self, request: web.Request) -> web.Response:
        """GET /v1/accounts/{key}."""
        account = get_account(self.service.store, _hex_param(request, "key"))
        if account is None:
            raise NotFound("no such account")
        return web.json_response({"key": account.key.hex(), "name": account.name,
                                  "status": account.status,
                                  "registered_height": account.registered_height})

    async def device(self, request: web.Request) -> web.Response:
        """GET /v1/devices/{id}."""
        device = get_device(self.service.store, request.match_info["device_id"])
        if device is None:
            raise NotFound("no such device")
        return web.json_response({
            "device_id": device.device_id, "device_name": device.device_name,
            "owner_account": device.owner_account.hex(), "capacity_w": device.capacity_w,
            "energy_source": device.energy_source, "technology": device.technology,
            "country": device.country, "status": device.status,
            "issued_wh": device.issued_wh,
        })

    async def block(self, request: web.Request) -> web.Response:
        """GET /v1/blocks/{height} (header and tx ids)."""
        try:
            height = int(request.match_info["height"])
        except ValueError as exc:
            raise Malformed("height must be an integer") from exc
        block = self.service.store.get_block(height)
        if block is None:
            raise NotFound("no such block", height=height)
        return web.json_response(header_json(block) | {
            "txs": [tx.tx_id.hex() for tx in block.txs]})

    async def status(self, request: web.Request) -> web.Response:
        """GET /v1/status."""
        return web.json_response(self.status_fn())

    async def evidence(self, request: web.Request) -> web.Response:
        """GET /v1/evidence (conflicting signed messages, hex-encoded)."""
        records = self.service.store.evidence()
        return web.json_response({"evidence": [encode(r).hex() for r in records]})


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn typed errors into JSON answers and anything else into a plain 500."""
    try:
        return await handler(request)
    except GreenChainError as exc:
        return error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"rule": "too_large", "message":
                                  f"request body exceeds {MAX_BODY_BYTES} bytes"}, status=413)
    except web.HTTPException:
        raise
    except DecodeError as exc:  # pragma: no cover - DecodeError is a GreenChainError
        return error_response(exc)


def add_client_routes(app: web.Application, api: ClientApi) -> None:
    """Register the client routes on `app`."""
    app.router.add_post("/v1/tx", api.submit)
    app.router.add_get("/v1/tx/{tx_id}", api.tx_status)
    app.router.add_get("/v1/bundles", api.bundles)
    app.router.add_get("/v1/bundles/{bundle_id}", api.bundle)
    app.router.add_get("/v1/certificates/{cert}", api.certificate)
    app.router.add_get("/v1/proofs/provenance/{cert}", api.provenance)
    app.router.add_get("/v1/accounts/{key}", api.account)
    app.router.add_get("/v1/devices/{device_id}", api.device)
    app.router.add_get("/v1/blocks/{height}", api.block)
    app.router.add_get("/v1/status", api.status)
    app.router.add_get("/v1/evidence", api.evidence)

"""The client HTTP API (DESIGN §7): JSON, with transactions and proofs also as msgpack.

Routes:
- ``POST /v1/tx``: one envelope or a batch. Body ``application/msgpack``: an envelope
  (the 6-field array) or an array of envelope ``bin`` items; or JSON ``{"tx": hex}`` /
  ``{"txs": [hex, ...]}``. One: 202 ``{"tx_id", "status"}`` or 4xx ``{"rule", "message"}``.
  Batch: 202 ``{"results": [...]}``, one verdict per item in order; 429 with Retry-After
  when the pool filled up (items with rule ``pool_full`` must be resent).
- ``GET /v1/tx/{id}``: ``unknown``, ``pending``, ``committed`` (height, position),
  ``rejected`` or ``evicted`` (rule, message).
- ``GET /v1/bundles/{id}``, ``GET /v1/certificates/{device}:{serial}``,
  ``GET /v1/accounts/{key}``, ``GET /v1/devices/{id}``, ``GET /v1/blocks/{height}``.
- ``GET /v1/bundles?owner=HEX&device=ID&status=S&from=T&to=T&after=CURSOR&limit=N``: a
  page of bundles (``{"bundles": [...], "next": CURSOR or null, "as_of_ms": MS}``).
  ``owner`` lists the bundles it holds (active or expired); ``from``/``to`` bound the
  production period start (UTC seconds or ISO 8601 with a zone; from inclusive, to
  exclusive); ``status`` is a stored status or ``expired``.
- ``GET /v1/retirements?beneficiary=NAME&from=T&to=T&after=CURSOR&limit=N``: a page of
  the bundles retired for a beneficiary (exact name), by production period.
- ``GET /v1/accounts/{key}/balance``: active and expired Wh by device, technology and
  UTC month.
- ``GET /v1/devices/{id}/totals``: issued, transferred (moved away from the device's
  owner), retired, active and expired Wh, and Wh by status (stored and derived).
Expiry is derived, never stored (DESIGN §2): every bundle rendered carries ``status`` as
of the tip's block time (``as_of_ms``; ``expired`` once genesis ``expiry_s`` passed since
its production period ended), ``stored_status`` and ``expiry_date``; status filters,
balances and totals judge at the same time.
- ``GET /v1/proofs/provenance/{device}:{serial}``: the proof file (``application/msgpack``).
- ``GET /v1/proofs/status/{device}:{serial}``: the status proof at the tip (same type).
- ``GET /v1/status``, ``GET /v1/evidence``.
Errors are JSON ``{"rule": ..., "message": ...}``; no traceback ever reaches a client. An
invalid query parameter answers 400 ``{"rule": "malformed", "parameter": NAME, ...}``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from greenchain.codec import decode, encode
from greenchain.errors import DecodeError, GreenChainError, Malformed, NotFound, PoolFull
from greenchain.ledger.view import get_account, get_device
from greenchain.model.certificates import Bundle
from greenchain.model.views import bundle_json, device_json, header_json, iso_utc, mwh_text
from greenchain.node.service import NodeService, Verdict
from greenchain.params import ADMIT_CHUNK, MAX_BODY_BYTES
from greenchain.proof.build import build_provenance
from greenchain.proof.status import build_status_proof
from greenchain.store.balances import Balance, DeviceTotals, account_balance, device_totals
from greenchain.store.queries import AsOf, BundlePage, query_bundles, query_retirements
from greenchain.store.query_params import (
    param_after,
    param_limit,
    param_period,
    param_required,
    parse_bundle_query,
)

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
    except (ValueError, TypeError, RecursionError) as exc:
        raise Malformed(f"invalid JSON body: {exc}") from exc
    raise Malformed('JSON body must be {"tx": hex} or {"txs": [hex, ...]}')


def _hex_param(request: web.Request, name: str) -> bytes:
    try:
        return bytes.fromhex(request.match_info[name])
    except ValueError as exc:
        raise Malformed(f"{name} must be hex") from exc


_DECIMAL = re.compile(r"[0-9]{1,19}")


def _certificate_param(request: web.Request) -> tuple[str, int]:
    device_id, _, serial = request.match_info["cert"].rpartition(":")
    if not device_id or not _DECIMAL.fullmatch(serial) or int(serial) >= 2**63:
        raise Malformed("certificate id must be DEVICE:SERIAL with a decimal serial below 2^63")
    return device_id, int(serial)


def as_of_bundle_json(bundle: Bundle, as_of: AsOf) -> dict[str, Any]:
    """Return a bundle as JSON with its status at `as_of` (``expired`` derived, DESIGN §2)."""
    return bundle_json(bundle, time_ms=as_of.time_ms, expiry_s=as_of.expiry_s)


def as_of_json(as_of: AsOf) -> dict[str, Any]:
    """Return the moment statuses were judged at: UTC ms and ISO 8601."""
    return {"as_of_ms": as_of.time_ms, "as_of": iso_utc(as_of.time_ms // 1000)}


def page_json(page: BundlePage) -> dict[str, Any]:
    """Return a page of bundles as ``{"bundles": [...], "next": hex or None, "as_of_ms"}``."""
    nxt = None if page.next_cursor is None else page.next_cursor.hex()
    return {"bundles": [as_of_bundle_json(b, page.as_of) for b in page.bundles],
            "next": nxt, **as_of_json(page.as_of)}


def _wh_json(by_key: dict[str, int]) -> dict[str, dict[str, Any]]:
    return {key: {"wh": wh, "mwh": mwh_text(wh)} for key, wh in sorted(by_key.items())}


def balance_json(balance: Balance) -> dict[str, Any]:
    """Return an account balance as JSON: Wh (int) and MWh (exact decimal text).

    ``total_wh`` and ``by_*`` count active Wh; ``expired_wh`` and ``expired.by_*`` the
    Wh held past their expiry date at ``as_of_ms``.
    """
    return {"account": balance.account.hex(), "total_wh": balance.total_wh,
            "total_mwh": mwh_text(balance.total_wh),
            "by_device": _wh_json(balance.by_device),
            "by_technology": _wh_json(balance.by_technology),
            "by_month": _wh_json(balance.by_month),
            "expired_wh": balance.expired_wh, "expired_mwh": mwh_text(balance.expired_wh),
            "expired": {"by_device": _wh_json(balance.expired_by_device),
                        "by_technology": _wh_json(balance.expired_by_technology),
                        "by_month": _wh_json(balance.expired_by_month)},
            **as_of_json(balance.as_of)}


def totals_json(totals: DeviceTotals) -> dict[str, Any]:
    """Return a device's totals as JSON (Wh); ``by_status`` has ``expired`` derived."""
    return {"device_id": totals.device_id, "owner_account": totals.owner_account.hex(),
            "issued_wh": totals.issued_wh, "transferred_wh": totals.moved_wh,
            "retired_wh": totals.retired_wh, "active_wh": totals.active_wh,
            "expired_wh": totals.expired_wh,
            "by_status": dict(sorted(totals.by_status.items())),
            "stored_by_status": dict(sorted(totals.stored_by_status.items())),
            **as_of_json(totals.as_of)}


class ClientApi:
    """Route handlers over one node's service object."""

    def __init__(self, service: NodeService, status: Callable[[], dict[str, Any]],
                 on_admitted: Callable[[list[bytes]], None]) -> None:
        self.service = service
        self.status_fn = status
        self.on_admitted = on_admitted

    def as_of(self) -> AsOf:
        """Return the tip's block time and the genesis expiry policy (DESIGN §2)."""
        return AsOf(self.service.tip.time_ms, self.service.genesis.expiry_s)

    async def submit(self, request: web.Request) -> web.Response:
        """POST /v1/tx."""
        body = await request.read()
        raws, is_batch = parse_submission(body, request.content_type)
        verdicts: list[Verdict] = []
        for start in range(0, len(raws), ADMIT_CHUNK):
            if start:
                await asyncio.sleep(0)  # let consensus and other requests run between chunks
            verdicts.extend(self.service.submit(raw) for raw in raws[start:start + ADMIT_CHUNK])
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
        return web.json_response(as_of_bundle_json(bundle, self.as_of()))

    async def bundles(self, request: web.Request) -> web.Response:
        """GET /v1/bundles?owner=&device=&status=&from=&to=&after=&limit= (a page)."""
        query, after, limit = parse_bundle_query(request.query)
        page = query_bundles(self.service.store, query, after, limit, as_of=self.as_of())
        return web.json_response(page_json(page))

    async def retirements(self, request: web.Request) -> web.Response:
        """GET /v1/retirements?beneficiary=NAME&from=&to=&after=&limit= (a page)."""
        params = request.query
        beneficiary = param_required(params, "beneficiary")
        period_from, period_to = param_period(params)
        page = query_retirements(self.service.store, beneficiary, period_from, period_to,
                                 param_after(params), param_limit(params), as_of=self.as_of())
        return web.json_response(page_json(page))

    async def balance(self, request: web.Request) -> web.Response:
        """GET /v1/accounts/{key}/balance."""
        key = _hex_param(request, "key")
        if get_account(self.service.store, key) is None:
            raise NotFound("no such account")
        balance = account_balance(self.service.store, key, as_of=self.as_of())
        return web.json_response(balance_json(balance))

    async def device_totals(self, request: web.Request) -> web.Response:
        """GET /v1/devices/{id}/totals."""
        totals = device_totals(self.service.store, request.match_info["device_id"],
                               as_of=self.as_of())
        if totals is None:
            raise NotFound("no such device")
        return web.json_response(totals_json(totals))

    async def certificate(self, request: web.Request) -> web.Response:
        """GET /v1/certificates/{device}:{serial}."""
        device_id, serial = _certificate_param(request)
        bundle = self.service.store.find_leaf_bundle(device_id, serial)
        if bundle is None:
            raise NotFound("no such certificate", certificate=f"{device_id}:{serial}")
        return web.json_response(as_of_bundle_json(bundle, self.as_of()))

    async def provenance(self, request: web.Request) -> web.Response:
        """GET /v1/proofs/provenance/{device}:{serial}."""
        device_id, serial = _certificate_param(request)
        proof = build_provenance(self.service.store, device_id, serial)
        return web.Response(body=proof, content_type=MSGPACK)

    async def status_proof(self, request: web.Request) -> web.Response:
        """GET /v1/proofs/status/{device}:{serial} (at the node's tip)."""
        device_id, serial = _certificate_param(request)
        proof = build_status_proof(self.service.store, device_id, serial)
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
        return web.json_response(device_json(device))

    async def block(self, request: web.Request) -> web.Response:
        """GET /v1/blocks/{height} (header and tx ids)."""
        text = request.match_info["height"]
        if not _DECIMAL.fullmatch(text) or int(text) >= 2**63:
            raise Malformed("height must be a decimal integer below 2^63")
        height = int(text)
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
    app.router.add_get("/v1/retirements", api.retirements)
    app.router.add_get("/v1/certificates/{cert}", api.certificate)
    app.router.add_get("/v1/proofs/provenance/{cert}", api.provenance)
    app.router.add_get("/v1/proofs/status/{cert}", api.status_proof)
    app.router.add_get("/v1/accounts/{key}", api.account)
    app.router.add_get("/v1/accounts/{key}/balance", api.balance)
    app.router.add_get("/v1/devices/{device_id}", api.device)
    app.router.add_get("/v1/devices/{device_id}/totals", api.device_totals)
    app.router.add_get("/v1/blocks/{height}", api.block)
    app.router.add_get("/v1/status", api.status)
    app.router.add_get("/v1/evidence", api.evidence)

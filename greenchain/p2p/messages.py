"""Wire messages of ``POST /p2p/msg`` and ``GET /p2p/blocks`` (DESIGN §7).

A message is canonical msgpack ``[kind, payload]``:
- ``["txs", [envelope bytes, ...]]``: a batch of transactions (gossip never sends one each);
- ``["proposal", proposal fields]``;
- ``["vote", vote fields]``.
A blocks response is ``[[block bytes, commit fields], ...]``.
Each item is signed by its author, so a relaying peer needs no trust.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from greenchain.codec import decode, encode
from greenchain.errors import Malformed
from greenchain.model.blocks import (
    Commit,
    Proposal,
    Vote,
    proposal_from_fields,
    proposal_to_fields,
)
from greenchain.model.fields import from_fields, to_fields
from greenchain.params import MAX_BODY_BYTES, MAX_TX_BYTES

TXS = "txs"
PROPOSAL = "proposal"
VOTE = "vote"


@dataclass(frozen=True, slots=True)
class TxBatch:
    """A batch of raw transaction envelopes (each decoded and checked by the receiver)."""

    raws: tuple[bytes, ...]
    """Canonical envelope bytes."""


PeerMessage = TxBatch | Proposal | Vote


def encode_message(message: PeerMessage) -> bytes:
    """Return the canonical wire bytes of a peer message."""
    if isinstance(message, TxBatch):
        return encode([TXS, list(message.raws)])
    if isinstance(message, Proposal):
        return encode([PROPOSAL, proposal_to_fields(message)])
    return encode([VOTE, to_fields(message)])


def decode_message(data: bytes) -> PeerMessage:
    """Decode a peer message strictly.

    Raises
    ------
    DecodeError
        On malformed, non-canonical or oversized input, or an unknown kind.
    """
    value = decode(data, max_bytes=MAX_BODY_BYTES)
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str):
        raise Malformed("peer message must be [kind, payload]")
    kind, payload = value
    if kind == TXS:
        if not isinstance(payload, list) or not all(
            isinstance(raw, bytes) and len(raw) <= MAX_TX_BYTES for raw in payload
        ):
            raise Malformed("txs payload must be an array of envelopes")
        return TxBatch(tuple(payload))
    if kind == PROPOSAL:
        return proposal_from_fields(payload)
    if kind == VOTE:
        return from_fields(Vote, payload)
    raise Malformed(f"unknown peer message kind {kind!r}")


def encode_blocks(items: list[tuple[bytes, Commit]]) -> bytes:
    """Return a blocks response: ``[[block bytes, commit fields], ...]``."""
    return encode([[raw, to_fields(commit)] for raw, commit in items])


def decode_blocks(data: bytes) -> list[tuple[bytes, Commit]]:
    """Decode a blocks response (the blocks themselves are decoded by the caller).

    Raises
    ------
    DecodeError
        On a malformed response.
    """
    value: Any = decode(data, max_bytes=MAX_BODY_BYTES)
    if not isinstance(value, list):
        raise Malformed("blocks response must be an array")
    out: list[tuple[bytes, Commit]] = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], bytes):
            raise Malformed("each blocks item must be [block bytes, commit]")
        out.append((item[0], from_fields(Commit, item[1])))
    return out

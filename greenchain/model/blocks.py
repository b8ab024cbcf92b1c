"""Blocks, votes, proposals and commits (DESIGN §5, §6).

A block id is SHA-256 of its encoded header. Votes and proposals are signed over their
own domain tags with the chain id inside, so no signature crosses message kinds or chains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from greenchain.codec import decode, encode_trusted
from greenchain.crypto.hashing import sha256
from greenchain.crypto.keys import KeyPair
from greenchain.errors import Malformed
from greenchain.model.fields import from_fields, to_fields
from greenchain.model.transactions import Tx, decode_tx
from greenchain.params import MAX_BODY_BYTES, PROPOSAL_DOMAIN, VOTE_DOMAIN

PREVOTE = 1
PRECOMMIT = 2
NIL = b""
"""The block hash of a nil vote."""
ZERO_HASH = b"\x00" * 32


@dataclass(frozen=True, slots=True)
class Header:
    """A block header (DESIGN §5). `state_root` and `app_hash` are after this block."""

    chain_id: str
    """Chain id from genesis."""
    height: int
    """Height of this block (the first block is 1)."""
    round: int
    """Consensus round in which it was proposed."""
    timestamp_ms: int
    """Block time, UTC milliseconds; the ledger's only clock."""
    proposer: bytes
    """Proposer's public key."""
    prev_block_hash: bytes
    """Hash of the header at height - 1 (zeros for height 1)."""
    tx_root: bytes
    """RFC 6962 root over the canonical envelopes of the block's transactions."""
    last_commit_hash: bytes
    """Hash of `Block.last_commit` (zeros for height 1)."""
    state_root: bytes
    """Root of the authenticated map of certificate state after this block."""
    app_hash: bytes
    """SHA-256(prev_app_hash || state_root || SHA-256(encode(sorted writes)))."""

    def block_hash(self) -> bytes:
        """Return the block id: SHA-256 of the encoded header."""
        return sha256(encode_trusted(to_fields(self)))


@dataclass(frozen=True, slots=True)
class CommitSig:
    """One validator's precommit signature inside a commit."""

    validator: bytes
    """Validator public key."""
    signature: bytes
    """Signature over the precommit's vote sign bytes."""


@dataclass(frozen=True, slots=True)
class Commit:
    """A quorum of precommits for one block: what makes it final."""

    height: int
    """Height of the committed block."""
    round: int
    """Round of the precommits."""
    block_hash: bytes
    """The committed block's hash."""
    signatures: tuple[CommitSig, ...]
    """Precommit signatures, ordered by validator key."""

    def commit_hash(self) -> bytes:
        """Return SHA-256 of the encoded commit."""
        return sha256(encode_trusted(to_fields(self)))


@dataclass(frozen=True, slots=True)
class Block:
    """A header, its transactions and the commit of the previous block."""

    header: Header
    """The header."""
    txs: tuple[Tx, ...]
    """Transactions in application order."""
    last_commit: Commit | None
    """Commit of height - 1 (None at height 1)."""
    block_hash: bytes = field(default=b"", compare=False, repr=False)
    """Cached header hash (filled by the constructors below)."""


def make_block(header: Header, txs: tuple[Tx, ...], last_commit: Commit | None) -> Block:
    """Build a block and cache its hash."""
    return Block(header, txs, last_commit, header.block_hash())


def block_to_fields(block: Block) -> list[Any]:
    """Return the wire array ``[header, [tx envelope bytes...], last_commit|nil]``."""
    commit = to_fields(block.last_commit) if block.last_commit else None
    return [to_fields(block.header), [tx.raw for tx in block.txs], commit]


def encode_block(block: Block) -> bytes:
    """Return the canonical encoding of a block."""
    return encode_trusted(block_to_fields(block))


def block_from_fields(values: Any) -> Block:
    """Build a block from its decoded array (transactions decoded strictly).

    Raises
    ------
    Malformed, NonCanonical, UnknownTxType
        On any shape error.
    """
    if not isinstance(values, list) or len(values) != 3:
        raise Malformed("block must be an array of 3 fields")
    header = from_fields(Header, values[0])
    if not isinstance(values[1], list):
        raise Malformed("block txs must be an array")
    txs = []
    for raw in values[1]:
        if not isinstance(raw, bytes):
            raise Malformed("a block tx must be bytes")
        txs.append(decode_tx(raw))
    commit = None if values[2] is None else from_fields(Commit, values[2])
    return make_block(header, tuple(txs), commit)


def decode_block(data: bytes) -> Block:
    """Decode a block strictly."""
    return block_from_fields(decode(data, max_bytes=MAX_BODY_BYTES))


@dataclass(frozen=True, slots=True)
class Vote:
    """A prevote or precommit (arXiv:1807.04938). `block_hash` is b"" for nil."""

    vote_type: int
    """PREVOTE (1) or PRECOMMIT (2)."""
    height: int
    """Height voted on."""
    round: int
    """Round voted in."""
    block_hash: bytes
    """Block voted for, or b"" (nil)."""
    validator: bytes
    """Voter's public key."""
    signature: bytes
    """Signature over `vote_sign_bytes`."""


def vote_sign_bytes(chain_id: str, vote_type: int, height: int, round_: int,
                    block_hash: bytes) -> bytes:
    """Return the bytes a vote signature covers (domain ``greenchain/vote/v1``)."""
    return VOTE_DOMAIN + encode_trusted([chain_id, vote_type, height, round_, block_hash])


def make_vote(key: KeyPair, chain_id: str, vote_type: int, height: int, round_: int,
              block_hash: bytes) -> Vote:
    """Build and sign a vote."""
    sig = key.sign(vote_sign_bytes(chain_id, vote_type, height, round_, block_hash))
    return Vote(vote_type, height, round_, block_hash, key.public, sig)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposer's signed proposal of a block at (height, round)."""

    height: int
    """Height proposed for."""
    round: int
    """Round proposed in."""
    pol_round: int
    """Round of the polka that justifies re-proposing a locked/valid block, or -1."""
    block: Block
    """The proposed block."""
    proposer: bytes
    """Proposer's public key."""
    signature: bytes
    """Signature over `proposal_sign_bytes`."""


def proposal_sign_bytes(chain_id: str, height: int, round_: int, pol_round: int,
                        block_hash: bytes) -> bytes:
    """Return the bytes a proposal signature covers (domain ``greenchain/proposal/v1``)."""
    return PROPOSAL_DOMAIN + encode_trusted([chain_id, height, round_, pol_round, block_hash])


def make_proposal(key: KeyPair, chain_id: str, block: Block, round_: int,
                  pol_round: int) -> Proposal:
    """Build and sign a proposal of `block`."""
    height = block.header.height
    sig = key.sign(proposal_sign_bytes(chain_id, height, round_, pol_round, block.block_hash))
    return Proposal(height, round_, pol_round, block, key.public, sig)


def proposal_to_fields(p: Proposal) -> list[Any]:
    """Return the wire array of a proposal."""
    return [p.height, p.round, p.pol_round, block_to_fields(p.block), p.proposer, p.signature]


def proposal_from_fields(values: Any) -> Proposal:
    """Build a proposal from its decoded wire array.

    Raises
    ------
    Malformed
        On a wrong shape.
    """
    if not isinstance(values, list) or len(values) != 6:
        raise Malformed("proposal must be an array of 6 fields")
    h, r, pol, block_fields, proposer, sig = values
    for name, v in (("height", h), ("round", r), ("pol_round", pol)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise Malformed(f"proposal {name} must be an integer")
    if not isinstance(proposer, bytes) or not isinstance(sig, bytes):
        raise Malformed("proposal proposer and signature must be bytes")
    return Proposal(h, r, pol, block_from_fields(block_fields), proposer, sig)

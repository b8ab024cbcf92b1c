"""Blocks, votes, proposals and commits (DESIGN §5, §6): ids, wire form, signatures."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import msgpack
import pytest

from greenchain import errors
from greenchain.codec import decode, encode
from greenchain.crypto.keys import key_from_seed
from greenchain.crypto.merkle import merkle_root
from greenchain.crypto.signing import verify_signature
from greenchain.model import blocks as bm
from greenchain.model import transactions as txm
from greenchain.model.fields import to_fields
from greenchain.params import MAX_TX_BYTES, PROPOSAL_DOMAIN, VOTE_DOMAIN

CHAIN = "greenchain-test"
VALIDATORS = [key_from_seed(f"validator_{i}") for i in range(4)]
ALICE, BOB = key_from_seed("alice"), key_from_seed("bob")


def _txs(count: int) -> tuple[txm.Tx, ...]:
    body = txm.Transfer(hashlib.sha256(b"bundle").digest(), 10, BOB.public)
    return tuple(txm.make_tx(ALICE, CHAIN, body, nonce) for nonce in range(count))


def _header(height: int = 2, txs: tuple[txm.Tx, ...] = ()) -> bm.Header:
    return bm.Header(CHAIN, height, 0, 1_700_000_000_000, VALIDATORS[0].public,
                     b"\x01" * 32, merkle_root([tx.raw for tx in txs]), b"\x02" * 32,
                     b"\x03" * 32, b"\x04" * 32)


def _commit(block_hash: bytes, height: int = 1) -> bm.Commit:
    sigs = []
    for key in sorted(VALIDATORS[:3], key=lambda k: k.public):
        vote = bm.make_vote(key, CHAIN, bm.PRECOMMIT, height, 0, block_hash)
        sigs.append(bm.CommitSig(vote.validator, vote.signature))
    return bm.Commit(height, 0, block_hash, tuple(sigs))


def _block(count: int = 3) -> bm.Block:
    txs = _txs(count)
    return bm.make_block(_header(2, txs), txs, _commit(b"\x01" * 32))


# --- header and block ids -------------------------------------------------------------
def test_block_hash_is_sha256_of_the_encoded_header() -> None:
    header = _header()
    assert header.block_hash() == hashlib.sha256(encode(to_fields(header))).digest()
    assert _block().block_hash == _block().header.block_hash()


def test_every_header_field_changes_the_block_hash() -> None:
    header = _header()
    seen = {header.block_hash()}
    for field in dataclasses.fields(bm.Header):
        value = getattr(header, field.name)
        changed: Any = value + 1 if isinstance(value, int) else (
            value + "x" if isinstance(value, str) else bytes([value[0] ^ 1]) + value[1:])
        seen.add(dataclasses.replace(header, **{field.name: changed}).block_hash())
    assert len(seen) == 1 + len(dataclasses.fields(bm.Header))


def test_commit_hash_covers_the_signatures_and_their_order() -> None:
    commit = _commit(b"\x09" * 32)
    assert commit.commit_hash() == hashlib.sha256(encode(to_fields(commit))).digest()
    reordered = dataclasses.replace(commit, signatures=commit.signatures[::-1])
    assert reordered.commit_hash() != commit.commit_hash()


# --- wire form ------------------------------------------------------------------------
@pytest.mark.parametrize("count", [0, 1, 5])
def test_block_round_trips_through_its_canonical_encoding(count: int) -> None:
    block = _block(count)
    data = bm.encode_block(block)
    decoded = bm.decode_block(data)
    assert decoded == block
    assert decoded.block_hash == block.block_hash
    assert bm.encode_block(decoded) == data
    assert decoded.header.tx_root == merkle_root([tx.raw for tx in decoded.txs])


def test_first_block_without_last_commit_round_trips() -> None:
    block = bm.make_block(_header(1), (), None)
    assert bm.block_to_fields(block)[2] is None
    assert bm.decode_block(bm.encode_block(block)) == block


def test_block_hash_is_not_part_of_block_equality() -> None:
    block = _block(1)
    assert dataclasses.replace(block, block_hash=b"") == block


def _block_fields(block: bm.Block) -> list[Any]:
    return bm.block_to_fields(block)


@pytest.mark.parametrize("mutate", [
    lambda f: f[:2], lambda f: f + [None], lambda f: [f[0], b"txs", f[2]],
    lambda f: [f[0], [1], f[2]], lambda f: [f[0][:9], f[1], f[2]],
    lambda f: [[*f[0][:1], "2", *f[0][2:]], f[1], f[2]],
    lambda f: [[*f[0][:1], True, *f[0][2:]], f[1], f[2]],
    lambda f: [[*f[0][:4], "proposer", *f[0][5:]], f[1], f[2]],
    lambda f: [f[0], f[1], f[2][:3]], lambda f: [f[0], f[1], [1, 0, b"", [[b"v"]]]],
], ids=["2-fields", "4-fields", "txs-not-array", "tx-not-bytes", "header-9-fields",
        "height-str", "height-bool", "proposer-str", "commit-3-fields", "commitsig-1-field"])
def test_wrong_block_shape_is_malformed(mutate: Any) -> None:
    with pytest.raises(errors.Malformed):
        bm.decode_block(encode(mutate(_block_fields(_block(2)))))


def test_non_canonical_tx_inside_a_block_is_refused() -> None:
    block = _block(1)
    tx = block.txs[0]
    items = [msgpack.packb(v, use_bin_type=True)
             for v in [tx.type, tx.chain_id, tx.signer, tx.nonce, to_fields(tx.body),
                       tx.signature]]
    items[3] = b"\xcf" + tx.nonce.to_bytes(8, "big")
    fields = _block_fields(block)
    fields[1] = [b"\x96" + b"".join(items)]
    with pytest.raises(errors.NonCanonical):
        bm.decode_block(encode(fields))


def test_unknown_tx_type_inside_a_block_is_refused() -> None:
    fields = _block_fields(_block(1))
    envelope = decode(fields[1][0])
    envelope[0] = "mint"
    fields[1] = [encode(envelope)]
    with pytest.raises(errors.UnknownTxType):
        bm.decode_block(encode(fields))


def test_non_canonical_block_bytes_are_refused() -> None:
    data = bm.encode_block(_block(1))
    assert data[0] == 0x93
    with pytest.raises(errors.NonCanonical):
        bm.decode_block(b"\xdc\x00\x03" + data[1:])


def test_a_tx_above_max_tx_bytes_inside_a_block_is_too_large() -> None:
    # Bytes fields have no length limit of their own: a 17,000-byte bundle id makes the
    # envelope larger than a transaction may be (decode_tx refuses it).
    tx = txm.make_tx(ALICE, CHAIN, txm.Transfer(b"\x00" * 17_000, 1, BOB.public), 0)
    assert len(tx.raw) > MAX_TX_BYTES
    with pytest.raises(errors.TooLarge):
        txm.decode_tx(tx.raw)
    fields = _block_fields(_block(0))
    fields[1] = [tx.raw]
    with pytest.raises(errors.TooLarge):
        bm.decode_block(encode(fields))


# --- votes and proposals --------------------------------------------------------------
def test_vote_sign_bytes_are_tagged_and_hold_the_chain_id() -> None:
    data = bm.vote_sign_bytes(CHAIN, bm.PREVOTE, 5, 2, b"\x07" * 32)
    assert data == VOTE_DOMAIN + encode([CHAIN, bm.PREVOTE, 5, 2, b"\x07" * 32])


def test_vote_signature_verifies_only_for_its_exact_content() -> None:
    key, block_hash = VALIDATORS[1], b"\x07" * 32
    vote = bm.make_vote(key, CHAIN, bm.PREVOTE, 5, 2, block_hash)
    assert vote.validator == key.public
    assert verify_signature(key.public, bm.vote_sign_bytes(CHAIN, bm.PREVOTE, 5, 2, block_hash),
                            vote.signature)
    variants = [("other", bm.PREVOTE, 5, 2, block_hash), (CHAIN, bm.PRECOMMIT, 5, 2, block_hash),
                (CHAIN, bm.PREVOTE, 6, 2, block_hash), (CHAIN, bm.PREVOTE, 5, 3, block_hash),
                (CHAIN, bm.PREVOTE, 5, 2, bm.NIL)]
    for variant in variants:
        assert not verify_signature(key.public, bm.vote_sign_bytes(*variant), vote.signature)


def test_proposal_signature_verifies_and_is_not_a_vote_signature() -> None:
    block = _block(2)
    proposal = bm.make_proposal(VALIDATORS[2], CHAIN, block, 1, -1)
    signed = bm.proposal_sign_bytes(CHAIN, block.header.height, 1, -1, block.block_hash)
    assert signed == PROPOSAL_DOMAIN + encode([CHAIN, 2, 1, -1, block.block_hash])
    assert verify_signature(VALIDATORS[2].public, signed, proposal.signature)
    as_vote = bm.vote_sign_bytes(CHAIN, bm.PREVOTE, 2, 1, block.block_hash)
    assert not verify_signature(VALIDATORS[2].public, as_vote, proposal.signature)
    other_pol = bm.proposal_sign_bytes(CHAIN, 2, 1, 0, block.block_hash)
    assert not verify_signature(VALIDATORS[2].public, other_pol, proposal.signature)


def test_vote_signature_does_not_verify_as_a_proposal() -> None:
    vote = bm.make_vote(VALIDATORS[0], CHAIN, bm.PREVOTE, 2, 1, b"\x05" * 32)
    as_proposal = bm.proposal_sign_bytes(CHAIN, 2, 1, -1, b"\x05" * 32)
    assert not verify_signature(VALIDATORS[0].public, as_proposal, vote.signature)


def test_proposal_round_trips_through_its_wire_form() -> None:
    proposal = bm.make_proposal(VALIDATORS[3], CHAIN, _block(3), 4, 2)
    decoded = bm.proposal_from_fields(decode(encode(bm.proposal_to_fields(proposal))))
    assert decoded == proposal
    assert decoded.block.block_hash == proposal.block.block_hash


@pytest.mark.parametrize("index, wrong", [
    (0, "2"), (1, True), (2, None), (4, "proposer"), (5, 7),
])
def test_wrong_proposal_field_is_malformed(index: int, wrong: Any) -> None:
    fields = bm.proposal_to_fields(bm.make_proposal(VALIDATORS[0], CHAIN, _block(1), 0, -1))
    fields[index] = wrong
    with pytest.raises(errors.Malformed):
        bm.proposal_from_fields(decode(encode(fields)))


def test_proposal_of_the_wrong_arity_is_malformed() -> None:
    fields = bm.proposal_to_fields(bm.make_proposal(VALIDATORS[0], CHAIN, _block(1), 0, -1))
    for wrong in (fields[:5], fields + [0], "proposal"):
        with pytest.raises(errors.Malformed):
            bm.proposal_from_fields(wrong)


def test_commit_signatures_are_precommits_over_the_block_hash() -> None:
    commit = _commit(b"\x0a" * 32, height=7)
    message = bm.vote_sign_bytes(CHAIN, bm.PRECOMMIT, 7, 0, b"\x0a" * 32)
    assert all(verify_signature(s.validator, message, s.signature) for s in commit.signatures)
    prevote = bm.vote_sign_bytes(CHAIN, bm.PREVOTE, 7, 0, b"\x0a" * 32)
    assert not any(verify_signature(s.validator, prevote, s.signature)
                   for s in commit.signatures)

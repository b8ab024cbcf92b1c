"""Building and applying blocks (DESIGN §3, §5), and the block pre/post vectors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers.ledger_builders import (
    ALICE,
    BOB,
    CAROL,
    GATEWAY,
    HOUR0,
    WT1,
    Chain,
    attest,
    bad_signature,
    block_env,
    retire,
    set_up_chain,
    sign,
    transfer,
)

from greenchain import errors
from greenchain.codec import encode
from greenchain.crypto.hashing import sha256
from greenchain.crypto.merkle import merkle_root
from greenchain.crypto.smt import EMPTY_ROOT
from greenchain.errors import BadHeader, TxFailedInBlock
from greenchain.ledger.app_hash import compute_app_hash
from greenchain.ledger.blocks import BlockEnv, ChainTip, apply_block, block_env_from_genesis
from greenchain.ledger.invariants import check_state_serial_partition
from greenchain.ledger.view import MemoryState, get_bundle
from greenchain.model.blocks import ZERO_HASH, Block, decode_block, encode_block, make_block
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.genesis import genesis_from_json
from greenchain.model.transactions import Tx, make_tx

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "blocks"
FIRST = compute_bundle_id(WT1, 0, 1000)


def issued_chain() -> Chain:
    """Block 1: registrations; block 2: a 1000 Wh bundle [0, 1000) of WT1 for alice."""
    chain = set_up_chain()
    chain.extend([sign(GATEWAY, attest(WT1, HOUR0, HOUR0 + 600, 1000))])
    return chain


def with_txs(block: Block, txs: tuple[Tx, ...]) -> Block:
    """`block` holding `txs` with a matching tx_root (roots otherwise untouched)."""
    header = replace(block.header, tx_root=merkle_root([tx.raw for tx in txs]))
    return make_block(header, txs, block.last_commit)


def refused(chain: Chain, block: Block, error: type[errors.GreenChainError],
            env: BlockEnv | None = None) -> errors.GreenChainError:
    """Assert `apply_block` refuses with exactly `error` and reads without writing."""
    before = dict(chain.state.data)
    with pytest.raises(error) as info:
        apply_block(chain.state, block, chain.tip, env or chain.env)
    assert type(info.value) is error
    assert chain.state.data == before
    return info.value


# --- apply what was built -------------------------------------------------------------
def test_apply_block_reproduces_build_block() -> None:
    chain = issued_chain()
    built = chain.build([
        sign(GATEWAY, attest(WT1, HOUR0 + 600, HOUR0 + 1200, 50)),
        sign(ALICE, transfer(FIRST, 400, BOB)),
        sign(ALICE, retire(compute_bundle_id(WT1, 400, 1000), 600)),
    ])
    assert not built.rejected and len(built.block.txs) == 3
    fresh = chain.copy_state()
    result = apply_block(fresh, built.block, chain.tip, chain.env)
    assert result == built.result
    assert fresh.data == chain.state.data  # apply_block is pure
    # The encoded block decodes to the same block and applies the same way.
    decoded = decode_block(encode_block(built.block))
    assert apply_block(fresh, decoded, chain.tip, chain.env).app_hash == built.result.app_hash
    chain.commit(built)
    check_state_serial_partition(chain.state)


def test_first_block_from_genesis() -> None:
    genesis = Chain()
    chain = set_up_chain()
    assert chain.tip.height == 1 and genesis.tip.state_root == EMPTY_ROOT
    assert chain.tip.state_root != EMPTY_ROOT
    assert chain.tip.app_hash != genesis.tip.app_hash


def test_empty_block_keeps_state_root_and_chains_app_hash() -> None:
    chain = issued_chain()
    built = chain.build([])
    assert built.result.writes == {} and built.result.node_writes == {}
    assert built.result.state_root == chain.tip.state_root
    assert built.result.app_hash == compute_app_hash(chain.tip.app_hash, chain.tip.state_root, {})
    assert built.result.app_hash != chain.tip.app_hash
    assert apply_block(chain.state, built.block, chain.tip, chain.env) == built.result


# --- tampered headers -----------------------------------------------------------------
@pytest.mark.parametrize("changes", [
    {"tx_root": b"\x01" * 32},
    {"state_root": b"\x02" * 32},
    {"app_hash": b"\x03" * 32},
    {"chain_id": "other-chain"},
    {"last_commit_hash": b"\x04" * 32},
    {"prev_block_hash": b"\x05" * 32},
], ids=lambda c: next(iter(c)))
def test_tampered_header_field(changes: dict[str, Any]) -> None:
    chain = issued_chain()
    built = chain.build([sign(ALICE, transfer(FIRST, 10, CAROL))])
    block = built.block
    refused(chain, make_block(replace(block.header, **changes), block.txs, block.last_commit),
            BadHeader)


@pytest.mark.parametrize("delta", [1, -1, -2], ids=["skips-a-height", "same-height", "older"])
def test_wrong_height(delta: int) -> None:
    chain = issued_chain()
    block = chain.build([]).block
    header = replace(block.header, height=chain.tip.height + 1 + delta)
    refused(chain, make_block(header, block.txs, block.last_commit), BadHeader)


@pytest.mark.parametrize("offset_ms", [0, -1, -5000], ids=["equal", "earlier", "much-earlier"])
def test_timestamp_not_after_parent(offset_ms: int) -> None:
    chain = issued_chain()
    block = chain.build([], time_ms=chain.tip.time_ms + offset_ms).block
    refused(chain, block, BadHeader)


def test_timestamp_one_ms_later_accepted() -> None:
    chain = issued_chain()
    built = chain.build([], time_ms=chain.tip.time_ms + 1)
    assert apply_block(chain.state, built.block, chain.tip, chain.env) == built.result


def test_last_commit_presence_must_match_height() -> None:
    chain = issued_chain()
    block = chain.build([]).block
    refused(chain, make_block(replace(block.header, last_commit_hash=ZERO_HASH), block.txs, None),
            BadHeader)
    genesis_chain = Chain()
    first = genesis_chain.build([]).block
    assert chain.last_commit is not None
    header = replace(first.header, last_commit_hash=chain.last_commit.commit_hash())
    refused(genesis_chain, make_block(header, first.txs, chain.last_commit), BadHeader)


def test_tip_with_other_app_hash_refuses_the_block() -> None:
    chain = issued_chain()
    block = chain.build([sign(ALICE, transfer(FIRST, 10, CAROL))]).block
    chain.tip = replace(chain.tip, app_hash=b"\x09" * 32)
    refused(chain, block, BadHeader)


# --- failing transactions -------------------------------------------------------------
def test_block_containing_a_failing_tx() -> None:
    chain = issued_chain()
    good = sign(ALICE, transfer(FIRST, 10, CAROL))
    too_much = sign(ALICE, transfer(compute_bundle_id(WT1, 10, 1000), 991, BOB))
    block = with_txs(chain.build([good]).block, (good, too_much))
    err = refused(chain, block, TxFailedInBlock)
    assert (err.position, err.tx_rule) == (1, "amount_exceeds_remaining")  # type: ignore[attr-defined]


def test_replayed_tx_in_a_later_block() -> None:
    chain = issued_chain()
    tx = sign(ALICE, transfer(FIRST, 10, CAROL))
    chain.extend([tx])
    built = chain.build([tx])
    assert built.block.txs == ()
    assert [type(exc) for _, exc in built.rejected] == [errors.ReplayedTransaction]
    err = refused(chain, with_txs(built.block, (tx,)), TxFailedInBlock)
    assert err.tx_rule == "replayed_transaction"  # type: ignore[attr-defined]


def test_build_block_drops_the_second_of_two_conflicting_transfers() -> None:
    chain = issued_chain()
    first = sign(ALICE, transfer(FIRST, 1000, BOB))
    second = sign(ALICE, transfer(FIRST, 1000, CAROL))
    later = sign(GATEWAY, attest(WT1, HOUR0 + 600, HOUR0 + 900, 5))
    built = chain.build([first, second, later])
    assert built.block.txs == (first, later)
    ((tx, exc),) = built.rejected
    assert tx is second and type(exc) is errors.NotOwner
    assert apply_block(chain.copy_state(), built.block, chain.tip, chain.env) == built.result
    chain.commit(built)
    bundle = get_bundle(chain.state, FIRST)
    assert bundle is not None and bundle.owner == BOB.public


def test_block_time_is_the_ledger_clock() -> None:
    chain = issued_chain()
    end_s = chain.next_time_ms() // 1000 + 1
    future = sign(GATEWAY, attest(WT1, end_s // 3600 * 3600, end_s, 1))
    built = chain.build([future])
    assert [type(exc) for _, exc in built.rejected] == [errors.PeriodInFuture]
    assert chain.build([future], time_ms=end_s * 1000).rejected == ()


# --- app_hash chain -------------------------------------------------------------------
def test_app_hash_formula() -> None:
    writes = {b"\x01b" + b"\x02" * 32: b"x", b"\x01a" + b"\x01" * 32: None}
    prev, root = b"\x0a" * 32, b"\x0b" * 32
    ordered = [[key, writes[key]] for key in sorted(writes)]
    assert compute_app_hash(prev, root, writes) == sha256(prev + root + sha256(encode(ordered)))


def test_app_hash_chains_on_prev_app_hash() -> None:
    chain = issued_chain()
    txs = [sign(ALICE, transfer(FIRST, 10, CAROL))]
    built = chain.build(txs)
    chain.tip = replace(chain.tip, app_hash=b"\x09" * 32)
    other = chain.build(txs)
    assert other.result.state_root == built.result.state_root
    assert other.result.writes == built.result.writes
    assert other.result.app_hash != built.result.app_hash


# --- signatures -----------------------------------------------------------------------
def test_bad_signature_fails_the_block_when_checked() -> None:
    chain = issued_chain()
    forged = bad_signature(sign(ALICE, transfer(FIRST, 10, CAROL)))
    built = chain.build([forged])  # a proposer trusts its mempool: no check here
    assert built.block.txs == (forged,)
    err = refused(chain, built.block, TxFailedInBlock)
    assert (err.position, err.tx_rule) == (0, "bad_signature")  # type: ignore[attr-defined]


def test_the_first_failing_position_names_the_block_error_whatever_its_rule() -> None:
    # Signatures are checked in a pass before the ledger steps; the verdict stays the
    # first failing transaction in block order.
    chain = issued_chain()
    good = sign(ALICE, transfer(FIRST, 10, CAROL))
    too_much = sign(ALICE, transfer(compute_bundle_id(WT1, 10, 1000), 991, BOB))
    forged = bad_signature(sign(GATEWAY, attest(WT1, HOUR0 + 600, HOUR0 + 900, 5)))
    base = chain.build([good]).block
    err = refused(chain, with_txs(base, (good, too_much, forged)), TxFailedInBlock)
    assert (err.position, err.tx_rule) == (1, "amount_exceeds_remaining")  # type: ignore[attr-defined]
    err = refused(chain, with_txs(base, (good, forged, too_much)), TxFailedInBlock)
    assert (err.position, err.tx_rule) == (1, "bad_signature")  # type: ignore[attr-defined]


def test_signature_cache_and_catch_up_skip_the_check() -> None:
    chain = issued_chain()
    genuine = sign(ALICE, transfer(FIRST, 10, CAROL))
    forged = bad_signature(genuine)
    built = chain.build([forged])
    cached = block_env(verified=frozenset({sha256(forged.raw)}))
    assert apply_block(chain.state, built.block, chain.tip, cached) == built.result
    catch_up = block_env(check_signatures=False)
    assert apply_block(chain.state, built.block, chain.tip, catch_up) == built.result
    # The cache is keyed by the whole envelope, signature included: having verified the
    # genuine transaction does not vouch for a forgery with the same id.
    assert forged.tx_id == genuine.tx_id
    wrong_entry = block_env(verified=frozenset({sha256(genuine.raw)}))
    refused(chain, built.block, TxFailedInBlock, wrong_entry)


def test_wrong_chain_tx_fails_even_without_signature_checks() -> None:
    chain = issued_chain()
    foreign = make_tx(ALICE, "other-chain", transfer(FIRST, 10, CAROL), 1)
    built = chain.build([foreign])
    assert built.block.txs == (foreign,)
    err = refused(chain, built.block, TxFailedInBlock, block_env(check_signatures=False))
    assert err.tx_rule == "wrong_chain"  # type: ignore[attr-defined]


# --- vectors --------------------------------------------------------------------------
VECTOR_FILES = sorted(VECTORS.glob("*.json"))


def test_vectors_exist() -> None:
    names = {path.name for path in VECTOR_FILES}
    assert {"block1_register_attest.json", "block2_split_transfer_retire.json",
            "err_overlap.json", "err_app_hash.json"} <= names
    assert (VECTORS / "README.md").is_file()


def replay_pre_blocks(case: dict[str, Any]) -> tuple[MemoryState, ChainTip, BlockEnv]:
    genesis = genesis_from_json(case["genesis"])
    env = block_env_from_genesis(genesis)
    state = MemoryState()
    tip = ChainTip(0, ZERO_HASH, genesis.genesis_time_ms, EMPTY_ROOT, genesis.genesis_hash)
    for raw in case["pre_blocks"]:
        block = decode_block(bytes.fromhex(raw))
        result = apply_block(state, block, tip, env)
        state.apply(result.writes)
        state.apply(dict(result.node_writes))
        tip = ChainTip(block.header.height, block.block_hash, block.header.timestamp_ms,
                       result.state_root, result.app_hash)
    return state, tip, env


@pytest.mark.parametrize("path", VECTOR_FILES, ids=[p.stem for p in VECTOR_FILES])
def test_block_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    state, tip, env = replay_pre_blocks(case)
    prev = case["prev"]
    assert (tip.height, tip.time_ms) == (prev["height"], prev["time_ms"])
    assert (tip.block_hash.hex(), tip.state_root.hex(), tip.app_hash.hex()) == (
        prev["block_hash"], prev["state_root"], prev["app_hash"])
    block = decode_block(bytes.fromhex(case["block"]))
    expected = case["expected"]
    if "error" in expected:
        error = getattr(errors, expected["error"])
        with pytest.raises(error) as info:
            apply_block(state, block, tip, env)
        assert type(info.value) is error
        if "tx_rule" in expected:
            assert info.value.tx_rule == expected["tx_rule"]
            assert info.value.position == expected["position"]
    else:
        result = apply_block(state, block, tip, env)
        assert result.state_root.hex() == expected["state_root"]
        assert result.app_hash.hex() == expected["app_hash"]

"""Write the block pre/post vectors under tests/vectors/blocks (STYLE.md §12).

Run: ``.venv/bin/python scripts/gen_block_vectors.py``. The format is described in
tests/vectors/blocks/README.md. Keys come from fixed seeds (`key_from_seed`), block times
are fixed UTC instants, and Ed25519 signing is deterministic, so the output is the same on
every run; the tests only read the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from greenchain.codec import encode
from greenchain.crypto.keys import KeyPair, key_from_seed
from greenchain.crypto.merkle import merkle_root
from greenchain.crypto.smt import EMPTY_ROOT
from greenchain.errors import GreenChainError
from greenchain.ledger.blocks import (
    BlockResult,
    ChainTip,
    apply_block,
    block_env_from_genesis,
    build_block,
)
from greenchain.ledger.view import MemoryState
from greenchain.model.blocks import (
    PRECOMMIT,
    ZERO_HASH,
    Block,
    Commit,
    CommitSig,
    encode_block,
    make_block,
    make_vote,
)
from greenchain.model.certificates import compute_bundle_id
from greenchain.model.codes import EECS_CODE_LISTS
from greenchain.model.fields import to_fields
from greenchain.model.genesis import Genesis, IssuingBody, Party, genesis_to_json
from greenchain.model.transactions import (
    Attest,
    Body,
    Export,
    Import,
    RegisterAccount,
    RegisterDevice,
    Retire,
    Transfer,
    Tx,
    Withdraw,
    make_tx,
)

OUT = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "blocks"
CHAIN_ID = "greenchain-vectors"
HOUR0 = 1_425_168_000
"""2015-03-01T00:00:00Z: production start of the vector device."""
GENESIS_TIME_MS = 1_425_340_800_000
"""2015-03-03T00:00:00Z: every attested period below lies before it."""
BLOCK_INTERVAL_MS = 1000

ISSUER = key_from_seed("issuer")
ALICE = key_from_seed("alice")
BOB = key_from_seed("bob")
GATEWAY = key_from_seed("gateway")
VALIDATOR = key_from_seed("validator_0")
EXPIRY_S = 2 * 86_400
"""Two days: WT1's first bundle (period end 00:10 on 2015-03-01) expires 2015-03-03T00:10Z."""
GENESIS = Genesis(CHAIN_ID, GENESIS_TIME_MS, (Party("validator_0", VALIDATOR.public),),
                  (IssuingBody("issuer", ISSUER.public, "FR", "GC-VECTORS"),), EXPIRY_S,
                  EECS_CODE_LISTS)
ENV = block_env_from_genesis(GENESIS)


def signed(key: KeyPair, body: Body, nonce: int) -> Tx:
    return make_tx(key, CHAIN_ID, body, nonce)


@dataclass
class VectorChain:
    """A chain from the vector genesis, advanced with built blocks."""

    state: MemoryState
    tip: ChainTip
    last_commit: Commit | None
    blocks: list[Block]

    @classmethod
    def from_genesis(cls) -> VectorChain:
        tip = ChainTip(0, ZERO_HASH, GENESIS_TIME_MS, EMPTY_ROOT, GENESIS.genesis_hash)
        return cls(MemoryState(), tip, None, [])

    def build(self, txs: list[Tx], after_ms: int = BLOCK_INTERVAL_MS
              ) -> tuple[Block, BlockResult]:
        built = build_block(self.state, txs, self.tip, ENV, VALIDATOR.public, 0,
                            self.tip.time_ms + after_ms, self.last_commit)
        if built.rejected:
            raise RuntimeError(f"vector tx rejected: {built.rejected[0][1].message}")
        return built.block, built.result

    def commit(self, block: Block, result: BlockResult) -> None:
        self.state.apply(result.writes)
        self.state.apply(dict(result.node_writes))
        header = block.header
        self.tip = ChainTip(header.height, block.block_hash, header.timestamp_ms,
                            header.state_root, header.app_hash)
        vote = make_vote(VALIDATOR, CHAIN_ID, PRECOMMIT, header.height, 0, block.block_hash)
        self.last_commit = Commit(header.height, 0, block.block_hash,
                                  (CommitSig(VALIDATOR.public, vote.signature),))
        self.blocks.append(block)


def block1_txs() -> list[Tx]:
    device = RegisterDevice("WT1", "turbine WT1", GATEWAY.public, ALICE.public, 2_050_000,
                            "F01050100", "T020001", "FR", 48_449_700, 5_589_600, HOUR0,
                            "FR", "17X100A100A0001A", "none", 0, "disclosure", 0)
    return [
        signed(ISSUER, RegisterAccount(ALICE.public, "alice"), 1),
        signed(ISSUER, RegisterAccount(BOB.public, "bob"), 2),
        signed(ISSUER, device, 3),
        signed(GATEWAY, Attest("WT1", HOUR0, HOUR0 + 600, 1000, 5_000_000, 5_001_000), 4),
        signed(GATEWAY, Attest("WT1", HOUR0 + 600, HOUR0 + 1200, 500), 5),
    ]


def block2_txs() -> list[Tx]:
    first, second = compute_bundle_id("WT1", 0, 1000), compute_bundle_id("WT1", 1000, 1500)
    claim = Retire(compute_bundle_id("WT1", 300, 1000), 200, "Cambridge Estates B2",
                   HOUR0, HOUR0 + 3600, "disclosure", "GB")
    return [
        signed(ALICE, Transfer(first, 300, BOB.public), 6),
        signed(ALICE, claim, 7),
        signed(ALICE, Transfer(second, 500, BOB.public), 8),
    ]


IMPORT = Import("AIB-DE", "DE-WIND-7", 0, 400, ALICE.public, HOUR0, HOUR0 + 3600,
                "F01050100", "T020002", "DE", "DE-LU", "none", "disclosure", 0)


def block4_txs() -> list[Tx]:
    rest = compute_bundle_id("WT1", 500, 1000)
    return [
        signed(ALICE, Export(rest, 200, "AIB-DE", "DE-ACME-1"), 11),
        signed(ISSUER, Withdraw(compute_bundle_id("WT1", 1000, 1500), "meter fault"), 12),
        signed(ISSUER, IMPORT, 13),
    ]


def with_txs(block: Block, txs: tuple[Tx, ...]) -> Block:
    """Return `block` holding `txs`, with a tx_root that matches them."""
    header = replace(block.header, tx_root=merkle_root([tx.raw for tx in txs]))
    return make_block(header, txs, block.last_commit)


def flip_signature(tx: Tx) -> Tx:
    sig = bytearray(tx.signature)
    sig[40] ^= 0x01
    raw = encode([tx.type, tx.chain_id, tx.signer, tx.nonce, to_fields(tx.body), bytes(sig)])
    return replace(tx, signature=bytes(sig), raw=raw)


def tip_fields(tip: ChainTip) -> dict[str, Any]:
    return {"height": tip.height, "block_hash": tip.block_hash.hex(), "time_ms": tip.time_ms,
            "state_root": tip.state_root.hex(), "app_hash": tip.app_hash.hex()}


def expected_for(chain: VectorChain, block: Block) -> dict[str, Any]:
    """Run the reference `apply_block` and record its roots or its error."""
    try:
        result = apply_block(MemoryState(dict(chain.state.data)), block, chain.tip, ENV)
    except GreenChainError as exc:
        out: dict[str, Any] = {"error": type(exc).__name__}
        if "tx_rule" in exc.data:
            out.update(position=exc.data["position"], tx_rule=exc.data["tx_rule"])
        return out
    return {"state_root": result.state_root.hex(), "app_hash": result.app_hash.hex()}


def vector(chain: VectorChain, block: Block, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "genesis": genesis_to_json(GENESIS),
        "pre_blocks": [encode_block(b).hex() for b in chain.blocks],
        "prev": tip_fields(chain.tip),
        "block": encode_block(block).hex(),
        "expected": expected_for(chain, block),
    }


def generate_block_vectors() -> dict[str, dict[str, Any]]:
    """Return every block vector by file name (deterministic)."""
    out: dict[str, dict[str, Any]] = {}
    chain = VectorChain.from_genesis()
    block1, result1 = chain.build(block1_txs())
    out["block1_register_attest.json"] = vector(
        chain, block1, "block 1 from genesis: two accounts, one device, two attestations")
    chain.commit(block1, result1)

    block2, result2 = chain.build(block2_txs())
    out["block2_split_transfer_retire.json"] = vector(
        chain, block2, "block 2: partial transfer (split), partial retirement of the rest "
        "(split again), whole transfer of the second bundle")
    overlap = signed(GATEWAY, Attest("WT1", HOUR0 + 300, HOUR0 + 900, 10), 9)
    out["err_overlap.json"] = vector(
        chain, with_txs(block2, (overlap,)), "attestation overlapping one of block 1")
    again = Transfer(compute_bundle_id("WT1", 0, 1000), 300, BOB.public)
    doubled = (block2.txs[0], signed(ALICE, again, 10))
    out["err_double_transfer.json"] = vector(
        chain, with_txs(block2, doubled), "the same Wh transferred twice: the second fails")
    out["err_bad_signature.json"] = vector(
        chain, with_txs(block2, (flip_signature(block2.txs[0]),) + block2.txs[1:]),
        "first transaction's S has one bit flipped")
    tampered = replace(block2.header, app_hash=bytes(32))
    out["err_app_hash.json"] = vector(
        chain, make_block(tampered, block2.txs, block2.last_commit),
        "valid transactions, app_hash replaced by zeros")
    chain.commit(block2, result2)

    block3, result3 = chain.build([])
    out["block3_empty.json"] = vector(
        chain, block3, "empty block 3: state_root unchanged, app_hash still chains")
    chain.commit(block3, result3)
    add_lifecycle_vectors(chain, out)
    return out


def add_lifecycle_vectors(chain: VectorChain, out: dict[str, dict[str, Any]]) -> None:
    """Block 4 (export, withdraw, import) and the refusals of the registry rules."""
    block4, result4 = chain.build(block4_txs())
    out["block4_export_withdraw_import.json"] = vector(
        chain, block4, "block 4: alice exports 200 Wh of [500, 1000) (split), the issuer "
        "withdraws bob's [1000, 1500), and imports 400 external certificates to alice")
    late, _ = chain.build([], after_ms=3_600_000)
    expired = signed(BOB, Transfer(compute_bundle_id("WT1", 0, 300), 100, ALICE.public), 14)
    out["err_expired.json"] = vector(
        chain, with_txs(late, (expired,)), "an hour later: bob's [0, 300) expired at "
        "2015-03-03T00:10Z (period end + expiry_s)")
    unknown = RegisterDevice("WT2", "turbine WT2", GATEWAY.public, ALICE.public, 2_050_000,
                             "F01050100", "T999999", "FR", 48_449_700, 5_589_600, HOUR0)
    out["err_unknown_code.json"] = vector(
        chain, with_txs(block4, (signed(ISSUER, unknown, 15),)),
        "a device registration naming a technology code not in the genesis list")
    chain.commit(block4, result4)
    again = replace(IMPORT, ext_start=300, ext_end=500)
    block5, _ = chain.build([])
    out["err_already_imported.json"] = vector(
        chain, with_txs(block5, (signed(ISSUER, again, 16),)),
        "external certificates [300, 500) of a device whose [0, 400) was imported")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, payload in generate_block_vectors().items():
        (OUT / name).write_text(json.dumps(payload, indent=1) + "\n")
        print(f"wrote {OUT.name}/{name}: {payload['expected']}")


if __name__ == "__main__":
    main()

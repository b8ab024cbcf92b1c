"""The chain store's bundle history and commit-time index writes (DESIGN §5, schema 0x04)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.chain_builder import DEVICE_ID, PERIOD_START, ChainBuilder, bundle_id, key

from greenchain.codec import decode, decode_trusted, encode
from greenchain.ledger.blocks import BlockResult
from greenchain.ledger.view import BUNDLE, device_key
from greenchain.model.blocks import Block, decode_block
from greenchain.model.certificates import (
    Bundle,
    Device,
    ExportRecord,
    Retirement,
    Withdrawal,
    compute_ext_device_id,
)
from greenchain.model.fields import from_fields, to_fields
from greenchain.model.lifecycle_txs import Export, Import, Withdraw
from greenchain.store.chain import ChainStore, bundle_from_trusted, is_created_in_block
from greenchain.store.indexes import compute_index_writes, read_wh
from greenchain.store.kv import MemoryKV
from greenchain.store.leveldb import LevelKV
from greenchain.store.schema import BUNDLE_HISTORY

EXT = compute_ext_device_id("AIB-DE", "DE-WIND-7")
OPERATOR, RETAILER, TRADER = key("operator"), key("retailer"), key("trader")


def reference_index_writes(store: ChainStore, block: Block,
                           result: BlockResult) -> dict[bytes, bytes | None]:
    """The index writes as computed before the perf fix: every old record read back."""
    changes = []
    for key_, value in result.writes.items():
        if key_.startswith(BUNDLE) and value is not None:
            new = from_fields(Bundle, decode(value))
            changes.append((store.get_bundle(new.bundle_id), new))

    def device_owner(device_id: str) -> bytes | None:
        raw = result.writes.get(device_key(device_id)) or store.get(device_key(device_id))
        return None if raw is None else from_fields(Device, decode(raw)).owner_account

    return compute_index_writes(changes, device_owner, lambda k: read_wh(store.kv.get(k)))


class CheckedChain(ChainBuilder):
    """Checks each block's index writes against the reference before committing it."""

    checked = 0

    def seal(self, **kwargs: object) -> Block:  # type: ignore[override]
        built = self.build()
        expected = reference_index_writes(self.store, built.block, built.result)
        actual = self.store._index_writes(built.block, built.result)
        history = {k: v for k, v in actual.items() if k.startswith(BUNDLE_HISTORY)}
        assert {k: v for k, v in actual.items() if k not in history} == expected
        self.checked += 1
        return super().seal(**kwargs)  # type: ignore[arg-type]


def import_body(ext_start: int, ext_end: int, owner: bytes) -> Import:
    return Import("AIB-DE", "DE-WIND-7", ext_start, ext_end, owner, PERIOD_START,
                  PERIOD_START + 3600, "F01050100", "T020002", "DE", "DE-LU", "none",
                  "disclosure", 0)


def lifecycle_chain(chain: ChainBuilder) -> dict[str, bytes]:
    """Issue, split, move whole, export, withdraw and import, some in the issuing block.

    Returns the tx ids by name.
    """
    chain.setup_plant()
    ids: dict[str, bytes] = {}
    chain.attest(DEVICE_ID, PERIOD_START, PERIOD_START + 3600, 1000)
    chain.attest(DEVICE_ID, PERIOD_START + 3600, PERIOD_START + 7200, 800)
    ids["split_same_block"] = chain.transfer(OPERATOR, bundle_id(0, 1000), 600,
                                             RETAILER).tx_id
    ids["whole_same_block"] = chain.transfer(RETAILER, bundle_id(0, 600), 600, TRADER).tx_id
    chain.submit(chain.issuer, import_body(0, 500, RETAILER.public))
    ids["export_ext"] = chain.submit(RETAILER, Export(bundle_id(0, 500, EXT), 200, "AIB-NL",
                                                      "NL-1")).tx_id
    chain.seal()
    ids["export_whole"] = chain.submit(OPERATOR, Export(bundle_id(600, 1000), 400, "AIB-NL",
                                                        "")).tx_id
    ids["split"] = chain.transfer(TRADER, bundle_id(0, 600), 100, RETAILER).tx_id
    ids["root_whole"] = chain.transfer(OPERATOR, bundle_id(1000, 1800), 800, TRADER).tx_id
    chain.seal()
    ids["withdraw"] = chain.submit(chain.issuer, Withdraw(bundle_id(100, 600),
                                                          "meter data correction")).tx_id
    ids["retire"] = chain.retire(RETAILER, bundle_id(0, 100), 100).tx_id
    ids["root_split"] = chain.retire(TRADER, bundle_id(1000, 1800), 300).tx_id
    chain.submit(chain.issuer, import_body(500, 700, TRADER.public))
    chain.seal()
    return ids


@pytest.fixture(scope="module")
def history_chain() -> tuple[ChainBuilder, dict[str, bytes]]:
    chain = ChainBuilder()
    return chain, lifecycle_chain(chain)


def test_history_lists_exports_and_withdrawals(
        history_chain: tuple[ChainBuilder, dict[str, bytes]]) -> None:
    chain, ids = history_chain
    store = chain.store
    assert store.bundle_history(bundle_id(0, 1000)) == [ids["split_same_block"]]
    assert store.bundle_history(bundle_id(0, 600)) == [ids["whole_same_block"], ids["split"]]
    assert store.bundle_history(bundle_id(600, 1000)) == [ids["export_whole"]]
    assert store.bundle_history(bundle_id(100, 600)) == [ids["withdraw"]]
    assert store.bundle_history(bundle_id(0, 100)) == [ids["retire"]]
    assert store.bundle_history(bundle_id(0, 500, EXT)) == [ids["export_ext"]]
    assert store.bundle_history(bundle_id(1000, 1800)) == [ids["root_whole"], ids["root_split"]]
    # Issuance is not a history entry; a bundle nothing moved has none.
    assert store.bundle_history(bundle_id(200, 500, EXT)) == []
    assert store.bundle_history(bundle_id(500, 700, EXT)) == []


@pytest.mark.parametrize("backend", ["memory", "leveldb"])
def test_index_writes_equal_the_read_everything_reference(backend: str, tmp_path: object) -> None:
    kv = MemoryKV() if backend == "memory" else LevelKV(f"{tmp_path}/db")
    chain = CheckedChain(kv=kv)
    try:
        lifecycle_chain(chain)
        assert chain.checked == 4
    finally:
        chain.store.close()


def record(**changes: object) -> Bundle:
    base = Bundle(bundle_id(0, 10), DEVICE_ID, 0, 10, PERIOD_START, PERIOD_START + 3600,
                  b"o" * 32, "active", b"t" * 32, 5, b"", b"t" * 32, None)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("bundle, created", [
    (record(issuance_height=7), True),                       # issued in this block
    (record(issuance_height=6), False),                      # issued before
    (record(issuance_height=7, parent=b"p" * 32), True),     # parent split here
    (record(issuance_height=7, parent=b"q" * 32), False),    # parent split before
])
def test_is_created_in_block(bundle: Bundle, created: bool) -> None:
    assert is_created_in_block(bundle, 7, {b"p" * 32}) is created


@pytest.mark.parametrize("bundle", [
    record(),
    record(status="retired",
           retirement=Retirement("ACME", 0, 3600, "disclosure", "GB", b"r" * 32, 9)),
    record(status="withdrawn", withdrawal=Withdrawal("meter fault", b"w" * 32, 9)),
    record(status="exported", export=ExportRecord("AIB-NL", "", b"x" * 32, 9),
           emissions_factor=12),
])
def test_trusted_bundle_decoding_equals_the_strict_one(bundle: Bundle) -> None:
    raw = encode(to_fields(bundle))
    assert bundle_from_trusted(raw) == from_fields(Bundle, decode(raw)) == bundle


def test_get_tx_decodes_one_transaction_of_the_block(
        history_chain: tuple[ChainBuilder, dict[str, bytes]]) -> None:
    chain, ids = history_chain
    store = chain.store
    located = store.get_tx(ids["withdraw"])
    assert located is not None
    tx, height, position = located
    raw = store.get_block_bytes(height)
    assert raw is not None
    block = decode_block(raw)
    assert tx == block.txs[position] and tx.tx_id == ids["withdraw"]
    leaves = store.get_block_leaves(height)
    assert leaves is not None
    assert leaves[0] == block.header and leaves[1] == [item.raw for item in block.txs]
    assert store.get_block_leaves(height + 100) is None and store.get_tx(b"\x00" * 32) is None
    assert decode_trusted(raw)[1] == leaves[1]

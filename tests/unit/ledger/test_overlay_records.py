"""The overlay's decoded-record cache changes no result.

It spares decoding a record again on the hot path (an account read by most transactions
of a block, a device by each of its attestations); each test checks that what is read is
what a fresh decode gives, and that the saving happens.
"""

from __future__ import annotations

import pytest
from helpers.ledger_builders import ALICE, base_state, make_ctx, setup_txs, sign

from greenchain.codec import encode
from greenchain.errors import Unauthorized
from greenchain.ledger import view
from greenchain.ledger.transactions import apply_tx
from greenchain.ledger.view import (
    ACCOUNT,
    DEVICE,
    MemoryState,
    Overlay,
    account_key,
    get_account,
    get_device,
    put_record,
)
from greenchain.model.certificates import ACTIVE, SUSPENDED, Account
from greenchain.model.fields import replace_fields, to_fields
from greenchain.model.transactions import SuspendAccount

GINA = Account(b"\x07" * 32, "Gina", ACTIVE, b"\x08" * 32, 1)
KEY = account_key(GINA.key)


class CountingState(MemoryState):
    """A MemoryState that counts reads."""

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        super().__init__(data)
        self.reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return super().get(key)


def test_a_record_is_decoded_once_per_overlay_and_equals_the_stored_one() -> None:
    state = CountingState({KEY: encode(to_fields(GINA))})
    overlay = Overlay(state)
    child = overlay.child()
    assert get_account(child, GINA.key) == GINA
    assert get_account(child, GINA.key) is get_account(overlay, GINA.key)
    assert state.reads == 1


def test_a_written_record_is_read_back_without_decoding_and_merges_up() -> None:
    overlay = Overlay(CountingState())
    child = overlay.child()
    suspended = replace_fields(GINA, status=SUSPENDED)
    put_record(child, KEY, suspended)
    assert get_account(child, GINA.key) is suspended
    overlay.merge(child)
    assert get_account(overlay, GINA.key) is suspended
    assert overlay.writes[KEY] == encode(to_fields(suspended))


def test_a_raw_write_drops_the_record_decoded_before() -> None:
    overlay = Overlay(MemoryState({KEY: encode(to_fields(GINA))}))
    assert get_account(overlay, GINA.key) == GINA
    renamed = replace_fields(GINA, name="Gina Ltd")
    child = overlay.child()
    child.put(KEY, encode(to_fields(renamed)))  # not through put_record
    assert get_account(child, GINA.key) == renamed
    overlay.merge(child)
    assert get_account(overlay, GINA.key) == renamed
    overlay.put(KEY, None)
    assert get_account(overlay, GINA.key) is None


def test_rebase_forgets_records_read_from_the_old_base() -> None:
    overlay = Overlay(MemoryState({KEY: encode(to_fields(GINA))}))
    assert get_account(overlay, GINA.key) == GINA
    moved = replace_fields(GINA, name="Gina moved")
    overlay.rebase(MemoryState({KEY: encode(to_fields(moved))}))
    assert get_account(overlay, GINA.key) == moved


def test_a_refused_transaction_leaves_no_record_behind() -> None:
    state = base_state()
    overlay = Overlay(state)
    before = get_account(overlay, ALICE.public)
    assert before is not None and before.status == ACTIVE
    # Suspending needs an issuing body: signed by Alice it is refused, nothing changes.
    refused = sign(ALICE, SuspendAccount(ALICE.public, "no"))
    with pytest.raises(Unauthorized):
        apply_tx(overlay, refused, make_ctx(), 0)
    assert get_account(overlay, ALICE.public) == before
    assert overlay.writes == {}


def test_setup_transactions_read_back_as_freshly_decoded_records() -> None:
    overlay = Overlay(MemoryState())
    for position, tx in enumerate(setup_txs()):
        apply_tx(overlay, tx, make_ctx(height=1), position)
    # Every record the overlay hands out equals a strict decode of the bytes it wrote.
    fresh = MemoryState({k: v for k, v in overlay.writes.items() if v is not None})
    accounts = [key[2:] for key in overlay.writes if key.startswith(ACCOUNT)]
    devices = [key[2:].decode() for key in overlay.writes if key.startswith(DEVICE)]
    assert accounts and devices
    for account in accounts:
        assert get_account(overlay, account) == get_account(fresh, account)
    for device in devices:
        assert get_device(overlay, device) == get_device(fresh, device)


def test_a_full_overlay_stops_caching_but_never_serves_a_stale_record(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(view, "RECORDS_LIMIT", 2)
    accounts = [replace_fields(GINA, key=bytes([i]) * 32) for i in range(4)]
    overlay = Overlay(MemoryState({account_key(a.key): encode(to_fields(a))
                                   for a in accounts}))
    for account in accounts:
        assert get_account(overlay, account.key) == account
    assert len(overlay.records) == 2
    # A write through a child to a key cached above replaces it; one not cached is decoded.
    child = overlay.child()
    renamed = [replace_fields(a, name=f"renamed {i}") for i, a in enumerate(accounts)]
    for account in renamed:
        put_record(child, account_key(account.key), account)
    overlay.merge(child)
    assert len(overlay.records) <= 2
    assert [get_account(overlay, a.key) for a in accounts] == renamed

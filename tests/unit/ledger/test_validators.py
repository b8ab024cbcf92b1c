"""Validator-set changes (DESIGN §3 update_validators): each rule, the state, the accessor.

Every refusal is checked for its exact error class and for leaving the overlay and the
committed state unchanged (`assert_refused`).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.ledger_builders import (
    CHAIN_ID,
    ISSUER,
    ISSUING_BODIES,
    NOW_MS,
    SMALL_ORDER_KEY,
    Chain,
    assert_refused,
    block_env,
    make_ctx,
    register_account,
    setup_txs,
    sign,
)

from greenchain.crypto.keys import KeyPair, key_from_seed
from greenchain.errors import (
    ActivationTooFar,
    ActivationTooSoon,
    AlreadyValidator,
    BadValidatorChange,
    EmptyValidatorSet,
    GreenChainError,
    InsufficientApprovals,
    NotAValidator,
    NotValidatorMember,
    SmallOrderKey,
    TxFailedInBlock,
    ValidatorChangePending,
    ValidatorSetError,
)
from greenchain.ledger.blocks import apply_block
from greenchain.ledger.context import TxContext
from greenchain.ledger.transactions import apply_tx
from greenchain.ledger.validators import (
    MAX_ACTIVATION_AHEAD,
    ValidatorChange,
    count_approvals,
    get_validator_changes,
    get_validators,
    get_valset_head,
    has_supermajority,
)
from greenchain.ledger.view import MemoryState, Overlay
from greenchain.mempool import Mempool
from greenchain.model.transactions import (
    Tx,
    UpdateValidators,
    ValidatorSignature,
    make_update_validators,
    valset_sign_bytes,
)
from greenchain.params import VALSET_DOMAIN

VALIDATORS = sorted((key_from_seed(f"validator_{i}") for i in range(4)), key=lambda k: k.public)
GENESIS_SET = tuple(k.public for k in VALIDATORS)
NEW = key_from_seed("validator_4")
OUTSIDER = key_from_seed("mallory")
HEIGHT = 10


def ctx(height: int = HEIGHT, genesis: tuple[bytes, ...] = GENESIS_SET) -> TxContext:
    return replace(make_ctx(height), genesis_validators=genesis)


def change(add: tuple[bytes, ...] = (NEW.public,), remove: tuple[bytes, ...] = (),
           activation: int = HEIGHT + 2,
           approvers: list[KeyPair] | None = None) -> UpdateValidators:
    return make_update_validators(VALIDATORS if approvers is None else approvers, CHAIN_ID,
                                  add, remove, activation)


def propose(body: UpdateValidators, signer: KeyPair = VALIDATORS[0]) -> Tx:
    return sign(signer, body)


def committed(*txs_at: tuple[Tx, int]) -> MemoryState:
    """A state holding the given update_validators, each applied at its height."""
    state = MemoryState()
    for tx, height in txs_at:
        overlay = Overlay(state)
        apply_tx(overlay, tx, ctx(height), 0)
        state.apply(overlay.writes)
    return state


def refuse(tx: Tx, error: type[GreenChainError], state: MemoryState | None = None,
           context: TxContext | None = None) -> None:
    assert_refused(Overlay(state or MemoryState()), tx, error, context or ctx())


# --- accepted changes -----------------------------------------------------------------
def test_adding_a_validator_activates_at_the_given_height() -> None:
    tx = propose(change(activation=HEIGHT + 2))
    state = committed((tx, HEIGHT))
    grown = tuple(sorted((*GENESIS_SET, NEW.public)))
    assert get_validators(state, HEIGHT, GENESIS_SET) == GENESIS_SET
    assert get_validators(state, HEIGHT + 1, GENESIS_SET) == GENESIS_SET
    assert get_validators(state, HEIGHT + 2, GENESIS_SET) == grown
    assert get_validators(state, 10**6, GENESIS_SET) == grown
    assert get_valset_head(state) == HEIGHT + 2
    assert get_validator_changes(state) == (ValidatorChange(HEIGHT + 2, grown, 0, tx.tx_id),)


def test_a_later_activation_height_is_allowed() -> None:
    state = committed((propose(change(activation=HEIGHT + 50)), HEIGHT))
    assert get_validators(state, HEIGHT + 49, GENESIS_SET) == GENESIS_SET
    assert NEW.public in get_validators(state, HEIGHT + 50, GENESIS_SET)


def test_removing_a_validator_and_a_chain_of_changes() -> None:
    first = propose(change(activation=12))
    grown = [*VALIDATORS, NEW]
    # The second change is approved by the set of its own height, which includes NEW.
    second = propose(change(add=(), remove=(VALIDATORS[1].public,), activation=20,
                            approvers=grown[1:]), signer=NEW)
    state = committed((first, 10), (second, 12))
    assert get_validators(state, 11, GENESIS_SET) == GENESIS_SET
    assert len(get_validators(state, 12, GENESIS_SET)) == 5
    shrunk = get_validators(state, 20, GENESIS_SET)
    assert VALIDATORS[1].public not in shrunk and NEW.public in shrunk and len(shrunk) == 4
    assert list(shrunk) == sorted(shrunk)
    changes = get_validator_changes(state)
    assert [(c.activation_height, c.previous_activation) for c in changes] == [(12, 0), (20, 12)]
    assert [c.tx_id for c in changes] == [first.tx_id, second.tx_id]


def test_exactly_three_of_four_approvals_suffice() -> None:
    state = committed((propose(change(approvers=VALIDATORS[1:])), HEIGHT))
    assert get_valset_head(state) == HEIGHT + 2


def test_the_key_lists_may_come_in_any_order() -> None:
    others = (NEW.public, OUTSIDER.public)
    body = change(add=others)
    reordered = replace(body, add=tuple(reversed(body.add)))
    assert reordered.add != body.add
    state = committed((propose(reordered), HEIGHT))
    assert len(get_validators(state, HEIGHT + 2, GENESIS_SET)) == 6


def test_a_new_change_is_allowed_once_the_last_is_active() -> None:
    state = committed((propose(change(activation=12)), 10))
    grown = [*VALIDATORS, NEW]
    body = change(add=(OUTSIDER.public,), activation=14, approvers=grown)
    overlay = Overlay(state)
    apply_tx(overlay, propose(body), ctx(12), 0)
    assert get_valset_head(overlay) == 14


def test_a_single_validator_can_add_a_second() -> None:
    solo = (VALIDATORS[0].public,)
    body = change(approvers=VALIDATORS[:1])
    overlay = Overlay(MemoryState())
    apply_tx(overlay, propose(body), ctx(genesis=solo), 0)
    assert len(get_validators(overlay, HEIGHT + 2, solo)) == 2


# --- refusals ---------------------------------------------------------------------------
def test_signer_must_be_a_current_validator() -> None:
    refuse(propose(change(), signer=OUTSIDER), NotAValidator)
    refuse(propose(change(), signer=NEW), NotAValidator)


def test_the_issuing_body_may_not_change_the_set() -> None:
    refuse(propose(change(), signer=ISSUER), NotAValidator)


def test_an_empty_change_is_refused() -> None:
    refuse(propose(change(add=())), BadValidatorChange)


@pytest.mark.parametrize("add, remove", [
    ((NEW.public, NEW.public), ()),
    ((), (GENESIS_SET[0], GENESIS_SET[0])),
    ((NEW.public,), (NEW.public,)),
])
def test_a_key_listed_twice_is_refused(add: tuple[bytes, ...],
                                       remove: tuple[bytes, ...]) -> None:
    body = UpdateValidators(add, remove, HEIGHT + 2, change().signatures)
    refuse(propose(body), BadValidatorChange)


@pytest.mark.parametrize("bad_key", [SMALL_ORDER_KEY, NEW.public[:31], b"\xff" * 32])
def test_an_unusable_new_key_is_refused(bad_key: bytes) -> None:
    refuse(propose(change(add=(bad_key,))), SmallOrderKey)


def test_adding_a_member_is_refused() -> None:
    refuse(propose(change(add=(GENESIS_SET[2],))), AlreadyValidator)


def test_removing_a_non_member_is_refused() -> None:
    refuse(propose(change(add=(), remove=(NEW.public,))), NotValidatorMember)


@pytest.mark.parametrize("activation", [HEIGHT + 1, HEIGHT, HEIGHT - 1, 0, -5])
def test_a_change_expires_two_blocks_before_activation(activation: int) -> None:
    refuse(propose(change(activation=activation)), ActivationTooSoon)


@pytest.mark.parametrize("ahead", [MAX_ACTIVATION_AHEAD + 1, 2**63 - 1 - HEIGHT])
def test_an_activation_too_far_ahead_is_refused(ahead: int) -> None:
    refuse(propose(change(activation=HEIGHT + ahead)), ActivationTooFar)


def test_the_farthest_allowed_activation_is_accepted() -> None:
    state = committed((propose(change(activation=HEIGHT + MAX_ACTIVATION_AHEAD)), HEIGHT))
    assert get_valset_head(state) == HEIGHT + MAX_ACTIVATION_AHEAD


def test_one_pending_change_at_a_time() -> None:
    state = committed((propose(change(activation=HEIGHT + 5)), HEIGHT))
    other = change(add=(OUTSIDER.public,), activation=HEIGHT + 8)
    for height in (HEIGHT + 1, HEIGHT + 4):
        refuse(propose(other), ValidatorChangePending, state, ctx(height))


def test_two_changes_in_one_block_the_second_is_pending() -> None:
    overlay = Overlay(MemoryState())
    apply_tx(overlay, propose(change()), ctx(), 0)
    second = propose(change(add=(OUTSIDER.public,), activation=HEIGHT + 3))
    with pytest.raises(ValidatorChangePending):
        apply_tx(overlay, second, ctx(), 1)


def test_the_set_never_becomes_empty() -> None:
    solo = (VALIDATORS[0].public,)
    body = change(add=(), remove=solo, approvers=VALIDATORS[:1])
    refuse(propose(body), EmptyValidatorSet, context=ctx(genesis=solo))


def test_two_of_four_approvals_are_not_enough() -> None:
    refuse(propose(change(approvers=VALIDATORS[:2])), InsufficientApprovals)


def test_non_member_and_repeated_approvals_do_not_count() -> None:
    two = change(approvers=VALIDATORS[:2])
    extra = change(approvers=[NEW, OUTSIDER]).signatures
    padded = replace(two, signatures=two.signatures + two.signatures[:1] + extra)
    refuse(propose(padded), InsufficientApprovals)


def test_invalid_approval_signatures_do_not_count() -> None:
    body = change()
    broken = [ValidatorSignature(s.validator, s.signature[:40] + bytes([s.signature[40] ^ 1])
                                 + s.signature[41:]) for s in body.signatures[:2]]
    refuse(propose(replace(body, signatures=(*broken, *body.signatures[2:]))),
           InsufficientApprovals)


def test_approvals_bind_the_activation_height_and_the_chain() -> None:
    approved = change(activation=HEIGHT + 2)
    refuse(propose(replace(approved, activation_height=HEIGHT + 3)), InsufficientApprovals)
    other_chain = make_update_validators(VALIDATORS, "other-chain", (NEW.public,), (),
                                         HEIGHT + 2)
    refuse(propose(other_chain), InsufficientApprovals)


def test_a_grown_set_needs_more_approvals() -> None:
    grown = [*VALIDATORS, NEW]
    state = committed((propose(change(activation=12)), 10))
    # At height 12 the set is 5: four approvals are needed (3 * 3 = 9 is not above 10).
    body = change(add=(OUTSIDER.public,), activation=15, approvers=grown[:3])
    refuse(propose(body), InsufficientApprovals, state, ctx(12))
    apply_tx(Overlay(state), propose(replace(body, signatures=change(
        add=(OUTSIDER.public,), activation=15, approvers=grown[:4]).signatures)), ctx(12), 0)


def test_approvals_of_removed_validators_do_not_count_after_activation() -> None:
    gone = VALIDATORS[1]
    state = committed((propose(change(add=(), remove=(gone.public,), activation=12)), 10))
    # The set of height 12 is the other three; all three must approve, gone's vote is void.
    body = change(activation=15, approvers=[gone, VALIDATORS[0], VALIDATORS[2]])
    refuse(propose(body), InsufficientApprovals, state, ctx(12))
    refuse(propose(body, signer=gone), NotAValidator, state, ctx(12))


def test_every_refusal_is_a_validator_set_error() -> None:
    for error in (NotAValidator, BadValidatorChange, AlreadyValidator, NotValidatorMember,
                  ActivationTooSoon, ValidatorChangePending, EmptyValidatorSet,
                  InsufficientApprovals):
        assert issubclass(error, ValidatorSetError)
    assert ActivationTooSoon().rule == "activation_too_soon"


# --- pure parts -----------------------------------------------------------------------------
@pytest.mark.parametrize("n, needed", [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (7, 5), (10, 7)])
def test_more_than_two_thirds(n: int, needed: int) -> None:
    assert has_supermajority(needed, n)
    assert not has_supermajority(needed - 1, n)


def test_sign_bytes_sort_the_key_lists() -> None:
    keys = [NEW.public, OUTSIDER.public]
    first = valset_sign_bytes(CHAIN_ID, keys, [GENESIS_SET[0]], 12)
    assert first == valset_sign_bytes(CHAIN_ID, reversed(keys), [GENESIS_SET[0]], 12)
    assert first.startswith(VALSET_DOMAIN)
    assert first != valset_sign_bytes(CHAIN_ID, keys, [GENESIS_SET[0]], 13)
    assert first != valset_sign_bytes(CHAIN_ID, [GENESIS_SET[0]], keys, 12)


def test_make_update_validators_sorts_and_signs() -> None:
    body = make_update_validators(list(reversed(VALIDATORS)), CHAIN_ID,
                                  [OUTSIDER.public, NEW.public], [], 12)
    assert list(body.add) == sorted(body.add)
    assert [s.validator for s in body.signatures] == list(GENESIS_SET)
    assert count_approvals(CHAIN_ID, GENESIS_SET, body) == 4
    assert count_approvals(CHAIN_ID, GENESIS_SET[:2], body) == 2


def test_absent_records_mean_the_genesis_set() -> None:
    state = MemoryState()
    assert get_validators(state, 1, tuple(reversed(GENESIS_SET))) == GENESIS_SET
    assert get_validator_changes(state) == ()
    assert get_valset_head(state) == 0


def test_other_transactions_leave_the_set_alone() -> None:
    overlay = Overlay(MemoryState())
    apply_tx(overlay, sign(ISSUER, register_account(NEW, "new")), ctx(), 0)
    assert get_validators(overlay, HEIGHT + 2, GENESIS_SET) == GENESIS_SET


# --- in blocks and in the pool --------------------------------------------------------------
def test_a_block_with_a_change_applies_the_same_on_another_node() -> None:
    chain = Chain(env=block_env(genesis_validators=GENESIS_SET))
    chain.extend(setup_txs())
    body = change(activation=chain.tip.height + 3)
    built = chain.build([propose(body)])
    assert not built.rejected
    assert get_valset_head(MemoryState(dict(built.result.writes))) == chain.tip.height + 3
    other = chain.copy_state()
    result = apply_block(other, built.block, chain.tip, chain.env)
    assert result.app_hash == built.block.header.app_hash
    # Without the genesis set the ledger knows no validator: the same block is invalid.
    with pytest.raises(TxFailedInBlock) as info:
        apply_block(other, built.block, chain.tip, block_env())
    assert info.value.tx_rule == "not_a_validator"  # type: ignore[attr-defined]


def test_the_pool_admits_one_change_and_refuses_a_second() -> None:
    state = MemoryState()
    pool = Mempool(state, CHAIN_ID, ISSUING_BODIES, None, HEIGHT,
                   genesis_validators=GENESIS_SET)
    assert pool.admit(propose(change(activation=HEIGHT + 2)), NOW_MS)
    with pytest.raises(ValidatorChangePending):
        pool.admit(propose(change(add=(OUTSIDER.public,), activation=HEIGHT + 4)), NOW_MS)
    with pytest.raises(ActivationTooSoon):
        Mempool(state, CHAIN_ID, ISSUING_BODIES, None, HEIGHT,
                genesis_validators=GENESIS_SET).admit(propose(change(activation=HEIGHT + 1)),
                                                      NOW_MS)

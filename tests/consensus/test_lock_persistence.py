"""A validator's lock survives a crash, not only its last signature (DESIGN §6).

Tendermint's safety rests on locks (arXiv:1807.04938, lines 22-33): a validator that
precommitted v in round r prevotes v or nil in every later round until it sees a newer
polka. If a restart forgot the lock, a validator that precommitted v, then prevoted in
round r+1 and crashed, could help a polka for another block in round r+2 while v had
already been decided elsewhere.
"""

from machine_kit import (
    VALIDATORS,
    block,
    bystander,
    feed,
    locked_on_round_0,
    others,
    propose,
    proposer,
    signed,
    to_round_1,
    vote,
    votes_from,
)

from greenchain.consensus.events import (
    BlockChecked,
    PersistSignState,
    ProposalReceived,
    StartHeight,
)
from greenchain.consensus.machine import initial_state
from greenchain.consensus.safety import STEP_PREVOTE, LastSigned
from greenchain.model.blocks import NIL, PRECOMMIT, PREVOTE


def test_every_signature_after_locking_persists_the_lock() -> None:
    me = bystander(1, 0)
    config, state, prop = locked_on_round_0(me)
    value = prop.block.block_hash
    assert (state.last_signed.locked_round, state.last_signed.locked_hash) == (0, value)
    state, actions = to_round_1(config, state, me)
    other = block(1, 1)
    state, actions = feed(config, state, ProposalReceived(propose(1, 1, other)),
                          BlockChecked(other.block_hash, True))
    assert signed(actions) == [vote(me, PREVOTE, 1, 1, NIL)]  # locked on v: nil
    [persisted] = [a for a in actions if isinstance(a, PersistSignState)]
    assert (persisted.step, persisted.block_hash) == (STEP_PREVOTE, NIL)
    assert (persisted.locked_round, persisted.locked_hash) == (0, value)


def test_restart_after_a_later_prevote_keeps_the_lock_and_refuses_another_block() -> None:
    me = bystander(1, 0)
    config, state, prop = locked_on_round_0(me)
    value = prop.block.block_hash
    state, _ = to_round_1(config, state, me)
    other = block(1, 1)
    state, _ = feed(config, state, ProposalReceived(propose(1, 1, other)),
                    BlockChecked(other.block_hash, True))
    # Crash: only the sign-state survives; its last signature is a nil prevote of round 1.
    assert state.last_signed.round == 1 and state.last_signed.block_hash == NIL
    reborn = initial_state(config, 1, VALIDATORS, state.last_signed)
    assert (reborn.locked_round, reborn.locked_hash) == (0, value)
    # Round 2 proposes yet another block with no polka behind it: a locked validator
    # prevotes nil (an unlocked one would prevote the new block).
    third = block(1, 2, ts=7)
    assert third.block_hash not in (value, other.block_hash)
    assert me != proposer(1, 2)
    # The round's proposer and one more voter are f + 1 senders: the restarted node skips
    # to round 2.
    voter = others(me, proposer(1, 2))[0]
    reborn, actions = feed(config, reborn, StartHeight(),
                           ProposalReceived(propose(1, 2, third)),
                           *votes_from([voter], PRECOMMIT, 1, 2, NIL),
                           BlockChecked(third.block_hash, True))
    assert reborn.round == 2
    assert signed(actions) == [vote(me, PREVOTE, 1, 2, NIL)]


def test_a_lock_at_another_height_is_not_restored() -> None:
    me = bystander(1, 0)
    config, state, _ = locked_on_round_0(me)
    assert initial_state(config, 2, VALIDATORS, state.last_signed).locked_round == -1


def test_legacy_sign_state_precommit_still_implies_its_lock() -> None:
    me = bystander(1, 0)
    config, _, prop = locked_on_round_0(me)
    value = prop.block.block_hash
    legacy = LastSigned(1, 3, 3, value)  # a 4-field file: precommit v in round 3, no lock
    reborn = initial_state(config, 1, VALIDATORS, legacy)
    assert (reborn.locked_round, reborn.locked_hash) == (3, value)


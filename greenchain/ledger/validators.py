"""The validator set as ledger state, and the update_validators transaction (DESIGN §3).

A set change is approved off chain by more than 2/3 of the current validators (each signs
`valset_sign_bytes`), submitted by any current validator, and decides blocks from its
activation height on, at least two blocks after the block that includes it: by then every
node has committed the change before it starts the first height the new set decides.
Validators are ordered by key bytes (DESIGN §1). There are no genesis writes: while no
change record exists the genesis set, passed in by the caller, holds (STYLE.md §2).

State (see `greenchain.ledger.view`): one record per change at ``VALSET + be64(activation)``
holding the new set, the previous change's activation height and the tx id; ``VALSET_HEAD``
names the latest change, so the set of any height is found by walking back from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from greenchain.codec import decode_trusted, encode_trusted
from greenchain.crypto.signing import validate_public_key, verify_signature
from greenchain.errors import (
    ActivationTooFar,
    ActivationTooSoon,
    AlreadyValidator,
    BadValidatorChange,
    EmptyValidatorSet,
    InsufficientApprovals,
    InvariantViolation,
    NotAValidator,
    NotValidatorMember,
    ValidatorChangePending,
)
from greenchain.ledger.context import TxContext
from greenchain.ledger.view import VALSET, VALSET_HEAD, Overlay, StateView
from greenchain.model.transactions import Tx, UpdateValidators, valset_sign_bytes

ACTIVATION_DELAY = 2
MAX_ACTIVATION_AHEAD = 100_000
"""Blocks after inclusion a change may wait before activating. A change is pending until
then and blocks every other change, so a mistyped far height must not freeze the set."""
"""A change included at height h may activate at h + 2 at the earliest (DESIGN §3)."""


@dataclass(frozen=True, slots=True)
class ValidatorChange:
    """One committed validator-set change, as stored."""

    activation_height: int
    """First height decided by `validators`."""
    validators: tuple[bytes, ...]
    """The new set, ordered by key bytes."""
    previous_activation: int
    """Activation height of the change before (0: the genesis set came before)."""
    tx_id: bytes
    """Id of the update_validators transaction that made the change."""


# --- accessors ----------------------------------------------------------------------------
def valset_key(activation_height: int) -> bytes:
    """Return the state key of the change activated at `activation_height`."""
    return VALSET + activation_height.to_bytes(8, "big")


def get_valset_head(view: StateView) -> int:
    """Return the activation height of the latest change, or 0 if there was none."""
    raw = view.get(VALSET_HEAD)
    return 0 if raw is None else int(decode_trusted(raw))


def get_validator_change(view: StateView, activation_height: int) -> ValidatorChange | None:
    """Return the change activated at `activation_height`, or None."""
    raw = view.get(valset_key(activation_height))
    if raw is None:
        return None
    keys, previous, tx_id = decode_trusted(raw)
    return ValidatorChange(activation_height, tuple(keys), int(previous), bytes(tx_id))


def _require_change(view: StateView, activation_height: int) -> ValidatorChange:
    change = get_validator_change(view, activation_height)
    # The head and every previous link are written in the same block as their record.
    if change is None:
        raise InvariantViolation("a validator-set record is missing",
                                 activation_height=activation_height)
    return change


def get_validator_changes(view: StateView) -> tuple[ValidatorChange, ...]:
    """Return every committed change since genesis, in chain order (oldest first)."""
    changes: list[ValidatorChange] = []
    activation = get_valset_head(view)
    while activation:
        change = _require_change(view, activation)
        changes.append(change)
        activation = change.previous_activation
    return tuple(reversed(changes))


def get_validators(view: StateView, height: int,
                   genesis_set: Sequence[bytes]) -> tuple[bytes, ...]:
    """Return the validator set of `height`, ordered by key bytes (DESIGN §1, §6).

    Parameters
    ----------
    view:
        Committed state (plus pending writes, for an overlay).
    height:
        Any height. Sets up to two heights above the view's last block are final (a
        change activates at least two blocks after inclusion); further ahead, a change
        not yet included may still apply.
    genesis_set:
        The validator keys of genesis, any order.

    Returns
    -------
    tuple[bytes, ...]
        32-byte public keys, sorted.
    """
    activation = get_valset_head(view)
    while activation:
        change = _require_change(view, activation)
        if change.activation_height <= height:
            return change.validators
        activation = change.previous_activation
    return tuple(sorted(genesis_set))


# --- the rules of a change (pure: also run by the offline proof verifier) ------------------
def has_supermajority(count: int, n: int) -> bool:
    """Return True if `count` of `n` validators is more than 2/3 (``3 * count > 2 * n``)."""
    return 3 * count > 2 * n


def count_approvals(chain_id: str, current: Sequence[bytes], body: UpdateValidators) -> int:
    """Return how many distinct members of `current` validly approved the change.

    Signatures are checked under the DESIGN §4 policy over `valset_sign_bytes`; entries of
    non-members, repeated signers and invalid signatures do not count.
    """
    message = valset_sign_bytes(chain_id, body.add, body.remove, body.activation_height)
    members = frozenset(current)
    approved: set[bytes] = set()
    for entry in body.signatures:
        if entry.validator in approved or entry.validator not in members:
            continue
        if verify_signature(entry.validator, message, entry.signature):
            approved.add(entry.validator)
    return len(approved)


def validate_change_signer(current: Sequence[bytes], signer: bytes) -> None:
    """Raise `NotAValidator` unless `signer` is in the current set (DESIGN §3)."""
    if signer not in current:
        raise NotAValidator("update_validators must be signed by a current validator",
                            signer=signer)


def validate_change_keys(body: UpdateValidators) -> None:
    """Check the shape of the key lists: a non-empty change, no key twice, valid new keys.

    Raises
    ------
    BadValidatorChange
        If both lists are empty or a key is listed twice.
    SmallOrderKey
        If a key to add is not 32 bytes, non-canonical or of small order (DESIGN §4).
    """
    keys = body.add + body.remove
    if not keys:
        raise BadValidatorChange("the change adds and removes nothing")
    if len(set(keys)) != len(keys):
        raise BadValidatorChange("a key is listed twice in the change")
    for key in body.add:
        validate_public_key(key)


def validate_membership(current: Sequence[bytes], body: UpdateValidators) -> None:
    """Check that added keys are not members yet and removed keys are members.

    Raises
    ------
    AlreadyValidator, NotValidatorMember
    """
    for key in body.add:
        if key in current:
            raise AlreadyValidator("a key to add is already a validator", validator=key)
    for key in body.remove:
        if key not in current:
            raise NotValidatorMember("a key to remove is not a validator", validator=key)


def validate_validator_change(chain_id: str, height: int, current: Sequence[bytes],
                              body: UpdateValidators) -> tuple[bytes, ...]:
    """Check a change included at `height` against the set of `height`; return the new set.

    The pending-change rule needs state and is checked by `apply_update_validators`.

    Parameters
    ----------
    chain_id:
        This chain's id (inside every approval).
    height:
        Inclusion height of the transaction.
    current:
        The validator set of `height`.
    body:
        The change.

    Returns
    -------
    tuple[bytes, ...]
        The set from `body.activation_height` on, ordered by key bytes.

    Raises
    ------
    BadValidatorChange, SmallOrderKey, ActivationTooSoon, ActivationTooFar, AlreadyValidator,
    NotValidatorMember, EmptyValidatorSet, InsufficientApprovals
    """
    validate_change_keys(body)
    # DESIGN §3: valid only while inclusion height <= activation height - 2.
    if body.activation_height < height + ACTIVATION_DELAY:
        raise ActivationTooSoon("the activation height must be at least two blocks after "
                                "inclusion", activation_height=body.activation_height,
                                height=height)
    if body.activation_height > height + MAX_ACTIVATION_AHEAD:
        raise ActivationTooFar(f"the activation height must be at most {MAX_ACTIVATION_AHEAD} "
                               "blocks after inclusion (a pending change blocks all others)",
                               activation_height=body.activation_height, height=height)
    validate_membership(current, body)
    removed = frozenset(body.remove)
    new_set = tuple(sorted([key for key in current if key not in removed] + list(body.add)))
    # DESIGN §3: the set never becomes empty.
    if not new_set:
        raise EmptyValidatorSet("the change would remove every validator")
    approvals = count_approvals(chain_id, current, body)
    # DESIGN §3: more than 2/3 of the current set must have signed.
    if not has_supermajority(approvals, len(current)):
        raise InsufficientApprovals("not more than 2/3 of the validators approved the change",
                                    approvals=approvals, validators=len(current))
    return new_set


# --- the transaction ----------------------------------------------------------------------
def apply_update_validators(overlay: Overlay, tx: Tx, ctx: TxContext) -> None:
    """Record a validator-set change that activates at `body.activation_height` (DESIGN §3).

    Raises
    ------
    NotAValidator, ValidatorChangePending, BadValidatorChange, SmallOrderKey,
    ActivationTooSoon, AlreadyValidator, NotValidatorMember, EmptyValidatorSet,
    InsufficientApprovals
    """
    body = tx.body
    assert isinstance(body, UpdateValidators)
    current = get_validators(overlay, ctx.height, ctx.genesis_validators)
    validate_change_signer(current, tx.signer)
    head = get_valset_head(overlay)
    # DESIGN §3: one pending change at a time (pending = not active at this height yet).
    if head > ctx.height:
        raise ValidatorChangePending("another validator-set change is pending",
                                     activation_height=head)
    new_set = validate_validator_change(ctx.chain_id, ctx.height, current, body)
    record = [list(new_set), head, tx.tx_id]
    overlay.put(valset_key(body.activation_height), encode_trusted(record))
    overlay.put(VALSET_HEAD, encode_trusted(body.activation_height))

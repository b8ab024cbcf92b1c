"""The exception tree of GreenChain (STYLE.md §6).

Every leaf names one rule. `rule` is the snake_case name of the class, the string the API
returns as `{"rule": ...}` (DESIGN §7). Leaves keep the offending values as attributes.
"""

from __future__ import annotations

import re
from typing import Any


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class GreenChainError(Exception):
    """Base of every error GreenChain raises on purpose.

    Parameters
    ----------
    message:
        Human-readable explanation.
    **data:
        Offending values, exposed as attributes and in `to_dict()`.
    """

    def __init__(self, message: str = "", **data: Any) -> None:
        super().__init__(message or self.rule)
        self.message = message or self.rule
        self.data = data
        for key, value in data.items():
            setattr(self, key, value)

    @property
    def rule(self) -> str:
        """The snake_case name of the error class, e.g. ``period_overlap``."""
        return _snake(type(self).__name__)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: ``{"rule", "message", **data}`` with bytes as hex."""
        out: dict[str, Any] = {"rule": self.rule, "message": self.message}
        for key, value in self.data.items():
            out[key] = value.hex() if isinstance(value, bytes) else value
        return out


# --- families -------------------------------------------------------------------------
class DecodeError(GreenChainError):
    """Malformed or non-canonical encoded data (DESIGN §4)."""


class SignatureError(GreenChainError):
    """A signature or public key fails the Ed25519 policy (DESIGN §4)."""


class InvalidTransaction(GreenChainError):
    """A transaction breaks a ledger rule (DESIGN §3)."""


class InvalidBlock(GreenChainError):
    """A block, header or commit breaks a rule (DESIGN §5, §6)."""


class StoreError(GreenChainError):
    """The store cannot be opened or is inconsistent."""


class PeerError(GreenChainError):
    """A peer sent something invalid or could not be reached."""


class ProofError(GreenChainError):
    """A proof fails verification; `step` names the failing step (DESIGN §8)."""

    step: str
    """The failing step, e.g. ``step 3 (transfer): commit``."""


class ConfigError(GreenChainError):
    """A config, key or genesis file is missing or invalid."""


class MeterError(GreenChainError):
    """A meter data file cannot be read."""


# --- decode ---------------------------------------------------------------------------
class Malformed(DecodeError):
    """Bytes are not valid msgpack of the expected shape."""


class NonCanonical(DecodeError):
    """Bytes decode but do not re-encode to the same bytes."""


class TooLarge(DecodeError):
    """Input exceeds a size limit."""


# --- signatures -----------------------------------------------------------------------
class BadSignature(SignatureError):
    """The signature does not verify for the key and message."""


class SmallOrderKey(SignatureError):
    """Public key (or R) is of small order or non-canonical."""


class NonCanonicalSignature(SignatureError):
    """S is not below the group order L, or R is non-canonical."""


class BadKeyFile(ConfigError):
    """A key file cannot be read (wrong passphrase, wrong format, bad permissions)."""


# --- transactions ---------------------------------------------------------------------
class WrongChain(InvalidTransaction):
    """The transaction's chain id is not this chain's."""


class UnknownTxType(InvalidTransaction):
    """The transaction type is not defined."""


class BadTxBody(InvalidTransaction):
    """The body has the wrong shape or an out-of-range field."""


class ReplayedTransaction(InvalidTransaction):
    """A transaction with this id is already committed or pending."""


class UnknownSigner(InvalidTransaction):
    """The signer is not known to the state for this role."""


class Unauthorized(InvalidTransaction):
    """The signer may not perform this operation."""


class AccountExists(InvalidTransaction):
    """The account key is already registered."""


class UnknownAccount(InvalidTransaction):
    """No such account."""


class AccountSuspended(InvalidTransaction):
    """The account is suspended."""


class DeviceExists(InvalidTransaction):
    """The device id is already registered."""


class UnknownDevice(InvalidTransaction):
    """No such device."""


class DeviceSuspended(InvalidTransaction):
    """The device is not active."""


class InvalidPeriod(InvalidTransaction):
    """The production period is empty, too long or crosses a UTC hour."""


class PeriodInFuture(InvalidTransaction):
    """The production period ends after the block time."""


class BeforeProductionStart(InvalidTransaction):
    """The period starts before the device's production start date."""


class PeriodOverlap(InvalidTransaction):
    """The period overlaps a period already attested for the device."""


class OverCapacity(InvalidTransaction):
    """Energy exceeds capacity times period length."""


class InvalidAmount(InvalidTransaction):
    """Energy or amount is not a positive integer of Wh."""


class UnknownBundle(InvalidTransaction):
    """No such bundle."""


class NotOwner(InvalidTransaction):
    """The signer does not own the bundle."""


class BundleNotActive(InvalidTransaction):
    """The bundle is split, retired or otherwise not active."""


class AmountExceedsRemaining(InvalidTransaction):
    """The amount is larger than the bundle's quantity."""


class ValidatorSetError(InvalidTransaction):
    """An update_validators transaction is invalid."""


class PoolFull(InvalidTransaction):
    """The mempool is full; retry later (HTTP 429)."""


# --- blocks ---------------------------------------------------------------------------
class BadHeader(InvalidBlock):
    """A header field does not match the chain or the block."""


class BadCommit(InvalidBlock):
    """A commit lacks a quorum of valid precommits."""


class TxFailedInBlock(InvalidBlock):
    """A transaction in the block fails against the state before it."""


# --- store ----------------------------------------------------------------------------
class StoreLocked(StoreError):
    """The data directory is locked by another process."""


class StoreCorrupt(StoreError):
    """The data directory is inconsistent."""


class NotFound(GreenChainError):
    """A requested object (block, bundle, tx) does not exist."""


class PeerMisbehaved(PeerError):
    """A peer served data that does not verify (bad block, commit or encoding)."""


# --- client (CLI) -----------------------------------------------------------------------
class NodeRefused(InvalidTransaction):
    """A node answered a request with a 4xx JSON error; `rule` is the rule it named.

    The node's ``{"rule", "message", ...}`` answer (DESIGN §7) becomes this error, so the
    CLI prints the node's rule (e.g. ``period_overlap``), not a rule of its own.
    """

    def __init__(self, message: str = "", *, node_rule: str = "node_refused",
                 **data: Any) -> None:
        self.node_rule = node_rule  # before super(): an empty message defaults to the rule
        super().__init__(message, node_rule=node_rule, **data)

    @property
    def rule(self) -> str:
        """The rule the node named, e.g. ``period_overlap``."""
        return self.node_rule


class BadInput(ConfigError):
    """A command-line value is invalid (hex, public key, date, coordinate, amount)."""


class CommitTimeout(PeerError):
    """A submitted transaction was not final (committed or refused) within the wait."""


# --- invariants -----------------------------------------------------------------------
class InvariantViolation(GreenChainError):
    """A state invariant of DESIGN §2 does not hold (a bug in the ledger, never user input)."""


# --- validator-set changes (DESIGN §3, update_validators) ---------------------------------
class NotAValidator(ValidatorSetError):
    """The signer of an update_validators is not in the current validator set."""


class BadValidatorChange(ValidatorSetError):
    """The change is empty, or its key lists hold a duplicate or a key that is not 32 bytes."""


class AlreadyValidator(ValidatorSetError):
    """A key to add is already in the current validator set."""


class NotValidatorMember(ValidatorSetError):
    """A key to remove is not in the current validator set."""


class ActivationTooSoon(ValidatorSetError):
    """The activation height is less than two blocks after inclusion (the change expired)."""


class ValidatorChangePending(ValidatorSetError):
    """Another validator-set change is committed and not active yet (one at a time)."""


class EmptyValidatorSet(ValidatorSetError):
    """The change would leave no validator."""


class InsufficientApprovals(ValidatorSetError):
    """Not more than 2/3 of the current validators signed the change."""


# --- certificate lifecycle and registry data (DESIGN §2, §3; the registry issue) ----------
class BundleExpired(InvalidTransaction):
    """The bundle has reached its expiry date (genesis ``expiry_s`` after its period end)."""


class AlreadyImported(InvalidTransaction):
    """Part of the external certificate range was already imported from that device."""


class MeterRegisterMismatch(InvalidTransaction):
    """Meter register readings decrease, are given alone, or do not differ by the energy."""


class UnknownCode(InvalidTransaction):
    """A code is not in the genesis code list it belongs to (`code_list`, `code`)."""


class UnknownEnergySource(UnknownCode):
    """The energy source code is not in the genesis ``energy_sources`` list."""


class UnknownTechnology(UnknownCode):
    """The technology code is not in the genesis ``technologies`` list."""


class UnknownCountry(UnknownCode):
    """The country code is not in the genesis ``countries`` list."""


class UnknownMarketZone(UnknownCode):
    """The market (bidding) zone is not in the genesis ``market_zones`` list."""


class UnknownSupportCode(UnknownCode):
    """The support code is not in the genesis ``support`` list."""


class UnknownIssuancePurpose(UnknownCode):
    """The issuance purpose is not in the genesis ``issuance_purposes`` list."""


class DemoFailed(GreenChainError):
    """The demo could not complete a step (the message names it)."""


class ForeignChainData(StoreError):
    """The data directory holds another chain (its genesis hash is not this genesis's)."""


class ActivationTooFar(ValidatorSetError):
    """The activation height lies more than MAX_ACTIVATION_AHEAD blocks after inclusion."""


class SerialSpaceExhausted(InvalidTransaction):
    """Issuing the amount would take a device's serials past 2^63 - 1.

    Certificate ids ``device:serial`` keep a serial below 2^63 (a signed 64-bit integer).
    """

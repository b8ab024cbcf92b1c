"""Transactions (DESIGN §3): the signed envelope and one frozen body type per kind.

Envelope on the wire: ``[type, chain_id, signer_pubkey, nonce, body, signature]``.
Sign bytes: ``b"greenchain/tx/v1" || encode([chain_id, type, signer, nonce, body])``.
Transaction id: SHA-256 of the sign bytes (the signature is left out, so a second valid
signature over the same content is the same transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from greenchain.codec import decode_typed, encode, encode_trusted
from greenchain.crypto.hashing import sha256
from greenchain.crypto.keys import KeyPair
from greenchain.errors import Malformed, TooLarge, UnknownTxType
from greenchain.model.codes import DEFAULT_ISSUANCE_PURPOSE, DEFAULT_SUPPORT
from greenchain.model.fields import from_fields, to_fields
from greenchain.model.lifecycle_txs import Export as Export  # re-exported tx bodies
from greenchain.model.lifecycle_txs import Import as Import
from greenchain.model.lifecycle_txs import Withdraw as Withdraw
from greenchain.params import MAX_TX_BYTES, TX_DOMAIN, VALSET_DOMAIN


@dataclass(frozen=True, slots=True)
class RegisterAccount:
    """Register an account holder (signed by an issuing body)."""

    account_key: bytes
    """The account's 32-byte Ed25519 public key; it is the account id."""
    name: str
    """Display name of the holder (generator, trader, consumer)."""


@dataclass(frozen=True, slots=True)
class RegisterDevice:
    """Register a production device (signed by an issuing body; DESIGN §2, EECS / EN 16325)."""

    device_id: str
    """Unique device id, e.g. the turbine id."""
    device_name: str
    """Human-readable name."""
    attestation_key: bytes
    """32-byte public key of the meter gateway that signs this device's attestations."""
    owner_account: bytes
    """Account key that receives issued certificates."""
    capacity_w: int
    """Installed capacity in W."""
    energy_source: str
    """EECS energy source code, e.g. ``F01050100`` (wind, onshore)."""
    technology: str
    """EECS technology code, e.g. ``T020001`` (onshore wind turbine)."""
    country: str
    """ISO 3166-1 alpha-2 country of the device."""
    latitude_udeg: int
    """Latitude in microdegrees (WGS-84)."""
    longitude_udeg: int
    """Longitude in microdegrees (WGS-84)."""
    production_start_s: int
    """Production start date declared by the issuing body, UTC seconds of midnight."""
    issue_market_zone: str = ""
    """Market (bidding) zone, e.g. ``FR``; empty means the zone named like `country`."""
    connected_grid_identification: str = ""
    """Grid connection point identification (e.g. an EIC code); may be empty."""
    support_received: str = DEFAULT_SUPPORT
    """Support code (genesis ``support`` list), e.g. ``none``."""
    is_storage: int = 0
    """1 for a storage device, else 0 (an int: no booleans in consensus data)."""
    issuance_purpose: str = DEFAULT_ISSUANCE_PURPOSE
    """Purpose of issuance (genesis ``issuance_purposes``), e.g. ``disclosure``."""
    emissions_factor: int | None = None
    """Emissions factor of the output, gCO2e/MWh (>= 0), or None if not declared."""


@dataclass(frozen=True, slots=True)
class Attest:
    """Attest metered generation of one production period (issuance; DESIGN §3)."""

    device_id: str
    """The producing device."""
    period_start: int
    """Start of the production period, UTC seconds (inclusive)."""
    period_end: int
    """End of the production period, UTC seconds (exclusive)."""
    energy_wh: int
    """Net generation in whole Wh, rounded down (EnergyTag)."""
    register_start_wh: int | None = None
    """Cumulative meter register reading at the period start, Wh; None if not given."""
    register_end_wh: int | None = None
    """Cumulative meter register reading at the period end, Wh; None if not given."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """Transfer `amount_wh` of a bundle to another account."""

    bundle_id: bytes
    """32-byte id of the source bundle."""
    amount_wh: int
    """Amount in Wh; the low serials of the bundle move."""
    receiver: bytes
    """Receiving account key."""


@dataclass(frozen=True, slots=True)
class Retire:
    """Retire (cancel) `amount_wh` of a bundle for a beneficiary: the final claim."""

    bundle_id: bytes
    """32-byte id of the bundle."""
    amount_wh: int
    """Amount in Wh; the low serials of the bundle are retired."""
    beneficiary: str
    """Name of the consumer the claim is for."""
    consumption_start: int
    """Start of the consumption period, UTC seconds."""
    consumption_end: int
    """End of the consumption period, UTC seconds (exclusive)."""
    purpose: str
    """Purpose of the claim, e.g. ``disclosure``."""
    country: str
    """ISO 3166-1 alpha-2 country of consumption."""


@dataclass(frozen=True, slots=True)
class SuspendDevice:
    """Suspend a device (signed by an issuing body)."""

    device_id: str
    """The device to suspend."""
    reason: str
    """Why."""


@dataclass(frozen=True, slots=True)
class SuspendAccount:
    """Suspend an account (signed by an issuing body)."""

    account_key: bytes
    """The account to suspend."""
    reason: str
    """Why."""


@dataclass(frozen=True, slots=True)
class ValidatorSignature:
    """One validator's approval of a validator-set change."""

    validator: bytes
    """Validator public key."""
    signature: bytes
    """Signature over ``greenchain/valset/v1 || encode([chain_id, change, activation])``."""


@dataclass(frozen=True, slots=True)
class UpdateValidators:
    """Change the validator set at `activation_height` (DESIGN §3)."""

    add: tuple[bytes, ...]
    """Keys to add."""
    remove: tuple[bytes, ...]
    """Keys to remove."""
    activation_height: int
    """First height validated by the new set."""
    signatures: tuple[ValidatorSignature, ...]
    """Approvals of more than 2/3 of the current validators."""


Body = (
    RegisterAccount | RegisterDevice | Attest | Transfer | Retire | SuspendDevice
    | SuspendAccount | UpdateValidators | Withdraw | Export | Import
)

BODY_TYPES: dict[str, type[Any]] = {
    "register_account": RegisterAccount,
    "register_device": RegisterDevice,
    "attest": Attest,
    "transfer": Transfer,
    "retire": Retire,
    "suspend_device": SuspendDevice,
    "suspend_account": SuspendAccount,
    "update_validators": UpdateValidators,
    "withdraw": Withdraw,
    "export": Export,
    "import": Import,
}
TYPE_OF_BODY: dict[type[Any], str] = {cls: name for name, cls in BODY_TYPES.items()}


def tx_sign_bytes(chain_id: str, tx_type: str, signer: bytes, nonce: int, body: Any) -> bytes:
    """Return the exact bytes a transaction signature covers (DESIGN §3)."""
    return TX_DOMAIN + encode_trusted([chain_id, tx_type, signer, nonce, to_fields(body)])


def valset_sign_bytes(chain_id: str, add: Iterable[bytes], remove: Iterable[bytes],
                      activation_height: int) -> bytes:
    """Return the bytes a validator signs to approve a validator-set change (DESIGN §3).

    ``greenchain/valset/v1 || encode([chain_id, [sorted add, sorted remove], activation])``:
    the key lists are sorted, so the approval does not depend on their order in the body.
    """
    change = [sorted(add), sorted(remove)]
    return VALSET_DOMAIN + encode_trusted([chain_id, change, activation_height])


def make_update_validators(keys: Sequence[KeyPair], chain_id: str, add: Iterable[bytes],
                           remove: Iterable[bytes], activation_height: int) -> UpdateValidators:
    """Return an `UpdateValidators` body approved by every key of `keys`.

    Parameters
    ----------
    keys:
        The approving validators (their signatures are listed in key order).
    chain_id:
        This chain's id.
    add, remove:
        32-byte public keys to add and to remove (stored sorted).
    activation_height:
        First height the new set decides (at least inclusion height + 2).
    """
    added, removed = tuple(sorted(add)), tuple(sorted(remove))
    message = valset_sign_bytes(chain_id, added, removed, activation_height)
    approvals = tuple(ValidatorSignature(key.public, key.sign(message))
                      for key in sorted(keys, key=lambda k: k.public))
    return UpdateValidators(added, removed, activation_height, approvals)


@dataclass(frozen=True, slots=True)
class Tx:
    """A signed transaction envelope.

    `raw` is the canonical encoding of the whole envelope (signature included): the Merkle
    leaf (DESIGN §4) and the key of the signature cache.
    """

    type: str
    """Transaction kind, a key of `BODY_TYPES`."""
    chain_id: str
    """Chain the transaction is valid for."""
    signer: bytes
    """32-byte public key of the signer."""
    nonce: int
    """Any uint64 the client picks so that intended repeats get a new id."""
    body: Body
    """The typed body."""
    signature: bytes
    """64-byte Ed25519 signature over `sign_bytes`."""
    sign_bytes: bytes = field(repr=False)
    """Domain tag plus the canonical encoding of everything but the signature."""
    tx_id: bytes = field(repr=False)
    """SHA-256 of `sign_bytes`."""
    raw: bytes = field(repr=False)
    """Canonical encoding of the envelope."""


def make_tx(key: KeyPair, chain_id: str, body: Body, nonce: int) -> Tx:
    """Build and sign a transaction with `key`."""
    tx_type = TYPE_OF_BODY[type(body)]
    sign_bytes = tx_sign_bytes(chain_id, tx_type, key.public, nonce, body)
    signature = key.sign(sign_bytes)
    raw = encode([tx_type, chain_id, key.public, nonce, to_fields(body), signature])
    return Tx(tx_type, chain_id, key.public, nonce, body, signature, sign_bytes,
              sha256(sign_bytes), raw)


_SIGNATURE_FIELD_LEN = 66
"""Encoded length of the envelope's last field: bin8 header (2 bytes) + 64-byte signature."""
_SIGN_ARRAY_HEADER = b"\x95"
"""msgpack header of the 5-item sign array (a fixarray)."""


def tx_sign_bytes_from_envelope(raw: bytes, tx_type: str, chain_id: str) -> bytes:
    """Return `tx_sign_bytes` of a canonical envelope by slicing it, without re-encoding.

    The envelope ``[type, chain_id, signer, nonce, body, signature]`` and the sign array
    ``[chain_id, type, signer, nonce, body]`` share the canonical encodings of their
    items, and signer, nonce and body follow each other in both; so the sign bytes are
    the tag, a 5-item array header and three slices of `raw`. Only for `raw` already
    known to be canonical with a 64-byte signature (`decode_tx` checks that); then it
    equals ``tx_sign_bytes(chain_id, tx_type, signer, nonce, body)`` (DESIGN §3).
    """
    type_end = 1 + len(encode_trusted(tx_type))  # after the 1-byte fixarray header
    chain_end = type_end + len(encode_trusted(chain_id))
    return b"".join((TX_DOMAIN, _SIGN_ARRAY_HEADER, raw[type_end:chain_end], raw[1:type_end],
                     raw[chain_end:len(raw) - _SIGNATURE_FIELD_LEN]))


def tx_from_fields(values: Any, raw: bytes) -> Tx:
    """Build a `Tx` from a decoded envelope array and its canonical bytes.

    Parameters
    ----------
    values:
        The parsed envelope array.
    raw:
        Its canonical encoding (the sign bytes are sliced from it).

    Raises
    ------
    Malformed
        On a wrong shape or field type.
    UnknownTxType
        If the type is not defined.
    """
    if not isinstance(values, list) or len(values) != 6:
        raise Malformed("transaction must be an array of 6 fields")
    tx_type, chain_id, signer, nonce, body_fields, signature = values
    if not isinstance(tx_type, str):
        raise Malformed("transaction type must be a string")
    if tx_type not in BODY_TYPES:
        raise UnknownTxType(f"unknown transaction type {tx_type!r}", tx_type=tx_type)
    if not isinstance(chain_id, str) or not isinstance(signer, bytes) or len(signer) != 32:
        raise Malformed("chain id must be a string and signer 32 bytes")
    if not isinstance(nonce, int) or isinstance(nonce, bool) or not 0 <= nonce < 2**64:
        raise Malformed("nonce must be a uint64")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise Malformed("signature must be 64 bytes")
    body = from_fields(BODY_TYPES[tx_type], body_fields)
    sign_bytes = tx_sign_bytes_from_envelope(raw, tx_type, chain_id)
    return Tx(tx_type, chain_id, signer, nonce, body, signature, sign_bytes,
              sha256(sign_bytes), raw)


def decode_tx(raw: bytes) -> Tx:
    """Decode one transaction strictly (size, canonical form, shape; not the signature).

    Every rule of `codec.decode` applies, in its order, before the shape rules (the typed
    field checks refuse floats, maps and booleans, so the generic walk runs only to name
    the error of a refused input; see `codec.decode_typed`).

    Raises
    ------
    TooLarge, Malformed, NonCanonical, UnknownTxType
        As the checks fail.
    """
    if len(raw) > MAX_TX_BYTES:
        raise TooLarge("transaction too large", size=len(raw), limit=MAX_TX_BYTES)
    data = bytes(raw)
    return decode_typed(data, lambda values: tx_from_fields(values, data),
                        max_bytes=MAX_TX_BYTES)

"""The genesis document (`genesis.json`).

It holds the chain id, the validators, the issuing bodies with their details, the expiry
policy and the registry's code lists (`greenchain.model.codes`).

A verifier needs nothing else to check a proof offline (DESIGN §8). The genesis hash is
SHA-256 of the canonical msgpack of `Genesis.to_fields()`; it seeds the app_hash chain
(DESIGN §5).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenchain.codec import encode
from greenchain.crypto.hashing import sha256
from greenchain.crypto.signing import validate_public_key
from greenchain.errors import ConfigError, GreenChainError
from greenchain.model.codes import CodeLists, code_lists_from_json, code_lists_to_json


@dataclass(frozen=True, slots=True)
class Party:
    """A named key listed in genesis (a validator or an issuing body)."""

    name: str
    """Organisation or node name."""
    pubkey: bytes
    """32-byte Ed25519 public key."""


@dataclass(frozen=True, slots=True)
class IssuingBody(Party):
    """An issuing body (registry) listed in genesis, with its details (EN 16325)."""

    country: str
    """ISO 3166-1 alpha-2 country of the issuing body's domain (in the ``countries`` list)."""
    registry_id: str
    """Identifier of the registry, e.g. its AIB hub code; unique in the genesis."""


@dataclass(frozen=True, slots=True)
class Genesis:
    """A parsed, checked genesis document."""

    chain_id: str
    """Chain id every transaction, vote and proposal commits to."""
    genesis_time_ms: int
    """UTC milliseconds; the first block must be later."""
    validators: tuple[Party, ...]
    """Initial validators, ordered by public key bytes (DESIGN §1)."""
    issuing_bodies: tuple[IssuingBody, ...]
    """Registries allowed to register accounts and devices."""
    expiry_s: int | None
    """Certificate lifetime after the end of its production period, or None (never)."""
    code_lists: CodeLists
    """Codes a device registration or an import may name (DESIGN §2)."""

    def to_fields(self) -> list[Any]:
        """Return the canonical array form hashed into `genesis_hash`."""
        return [
            self.chain_id,
            self.genesis_time_ms,
            [[p.name, p.pubkey] for p in self.validators],
            [[p.name, p.pubkey, p.country, p.registry_id] for p in self.issuing_bodies],
            self.expiry_s,
            self.code_lists.to_fields(),
        ]

    @property
    def genesis_hash(self) -> bytes:
        """SHA-256 of the canonical encoding (the app_hash before block 1)."""
        return sha256(encode(self.to_fields()))

    @property
    def validator_keys(self) -> tuple[bytes, ...]:
        """Validator public keys in order."""
        return tuple(p.pubkey for p in self.validators)

    def issuing_body(self, pubkey: bytes) -> IssuingBody | None:
        """Return the issuing body with `pubkey`, or None."""
        return next((p for p in self.issuing_bodies if p.pubkey == pubkey), None)


def _party(item: Any, what: str) -> Party:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ConfigError(f"each {what} needs a name and a pubkey")
    try:
        pubkey = bytes.fromhex(item["pubkey"])
        validate_public_key(pubkey)
    except (KeyError, TypeError, ValueError, GreenChainError) as exc:
        raise ConfigError(f"{what} {item['name']!r} has an invalid pubkey") from exc
    return Party(item["name"], pubkey)


def _issuing_body(item: Any, code_lists: CodeLists) -> IssuingBody:
    party = _party(item, "issuing body")
    country, registry_id = item.get("country"), item.get("registry_id")
    if not isinstance(country, str) or not code_lists.has("countries", country):
        raise ConfigError(f"issuing body {party.name!r} needs a country from the countries "
                          "code list")
    if not isinstance(registry_id, str) or not registry_id.strip():
        raise ConfigError(f"issuing body {party.name!r} needs a registry_id")
    return IssuingBody(party.name, party.pubkey, country, registry_id)


def _check_issuing_bodies(bodies: tuple[IssuingBody, ...]) -> None:
    if len({b.pubkey for b in bodies}) != len(bodies):
        raise ConfigError("genesis lists an issuing body key twice")
    if len({b.registry_id for b in bodies}) != len(bodies):
        raise ConfigError("genesis lists a registry_id twice")


def genesis_from_json(doc: Any) -> Genesis:
    """Parse and check a genesis document given as parsed JSON.

    Raises
    ------
    ConfigError
        On a missing field, a bad key, no validators, duplicate keys or registry ids, a
        bad code list, or an issuing body without a listed country or a registry id.
    """
    if not isinstance(doc, dict):
        raise ConfigError("genesis must be a JSON object")
    try:
        chain_id, time_ms = doc["chain_id"], doc["genesis_time_ms"]
        validators = sorted((_party(v, "validator") for v in doc["validators"]),
                            key=lambda p: p.pubkey)
        code_lists = code_lists_from_json(doc["code_lists"])
        bodies = tuple(_issuing_body(v, code_lists) for v in doc["issuing_bodies"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"genesis is missing a field: {exc}") from exc
    _check_issuing_bodies(bodies)
    expiry = doc.get("expiry_s")
    if not isinstance(chain_id, str) or not chain_id or not isinstance(time_ms, int):
        raise ConfigError("genesis chain_id must be text and genesis_time_ms an integer")
    if not validators or len({p.pubkey for p in validators}) != len(validators):
        raise ConfigError("genesis needs at least one validator and no duplicate keys")
    if expiry is not None and (type(expiry) is not int or expiry <= 0):
        raise ConfigError("genesis expiry_s must be a positive integer or null")
    return Genesis(chain_id, time_ms, tuple(validators), bodies, expiry, code_lists)


def genesis_to_json(genesis: Genesis) -> dict[str, Any]:
    """Return the JSON document for `genesis` (inverse of `genesis_from_json`)."""
    return {
        "chain_id": genesis.chain_id,
        "genesis_time_ms": genesis.genesis_time_ms,
        "validators": [{"name": p.name, "pubkey": p.pubkey.hex()} for p in genesis.validators],
        "issuing_bodies": [
            {"name": p.name, "pubkey": p.pubkey.hex(), "country": p.country,
             "registry_id": p.registry_id} for p in genesis.issuing_bodies
        ],
        "expiry_s": genesis.expiry_s,
        "code_lists": code_lists_to_json(genesis.code_lists),
    }


def load_genesis(path: str | os.PathLike[str]) -> Genesis:
    """Read and check `genesis.json`.

    Raises
    ------
    ConfigError
        If the file cannot be read, is not JSON, or fails the checks.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read genesis {path}: {exc}") from exc
    return genesis_from_json(doc)

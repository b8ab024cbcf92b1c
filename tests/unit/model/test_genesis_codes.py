"""Genesis with the registry's data (DESIGN §2): code lists and issuing body details."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from greenchain.errors import ConfigError
from greenchain.model.codes import (
    EECS_CODE_LISTS,
    LIST_NAMES,
    Code,
    code_lists_from_json,
    code_lists_to_json,
)
from greenchain.model.genesis import IssuingBody, genesis_from_json, genesis_to_json, load_genesis
from greenchain.node.devnet import dev_genesis

REPO_GENESIS = Path(__file__).resolve().parents[3] / "genesis.json"


def dev_doc() -> dict[str, Any]:
    return genesis_to_json(dev_genesis(4))


def test_committed_genesis_is_the_dev_genesis() -> None:
    genesis = load_genesis(REPO_GENESIS)
    assert genesis == dev_genesis(4)
    assert genesis.expiry_s is None
    (body,) = genesis.issuing_bodies
    assert isinstance(body, IssuingBody)
    assert (body.name, body.country, body.registry_id) == (
        "GreenChain Dev Registry", "FR", "GC-DEV")


def test_json_round_trip_keeps_everything_and_the_hash() -> None:
    genesis = dev_genesis(4)
    again = genesis_from_json(json.loads(json.dumps(genesis_to_json(genesis))))
    assert again == genesis and again.genesis_hash == genesis.genesis_hash


def test_code_lists_and_issuer_details_are_in_the_genesis_hash() -> None:
    base = dev_doc()
    fewer = copy.deepcopy(base)
    del fewer["code_lists"]["countries"]["SK"]
    relabelled = copy.deepcopy(base)
    relabelled["code_lists"]["technologies"]["T020001"] = "Wind, on land"
    other_id = copy.deepcopy(base)
    other_id["issuing_bodies"][0]["registry_id"] = "GC-DEV-2"
    hashes = {genesis_from_json(doc).genesis_hash for doc in (base, fewer, relabelled, other_id)}
    assert len(hashes) == 4


def test_eecs_lists_hold_the_codes_the_samples_use() -> None:
    lists = EECS_CODE_LISTS
    assert lists.has("energy_sources", "F01050100") and lists.has("technologies", "T020001")
    assert lists.has("energy_sources", "F01010100") and lists.has("technologies", "T010000")
    assert all(lists.has("countries", c) for c in ("FR", "GB", "DE", "NL"))
    assert all(lists.has("market_zones", z) for z in ("FR", "GB", "DE-LU", "SE3"))
    assert not lists.has("market_zones", "DE") and not lists.has("countries", "ZZ")
    assert lists.label("technologies", "T020002") == "Wind / Offshore"
    assert lists.label("countries", "ZZ") is None
    # Every list is sorted by code and holds no code twice.
    for name in LIST_NAMES:
        codes = [entry.code for entry in lists.codes(name)]
        assert codes == sorted(set(codes)), name


def test_code_lists_json_round_trip_and_canonical_form() -> None:
    doc = code_lists_to_json(EECS_CODE_LISTS)
    assert list(doc) == list(LIST_NAMES)
    assert code_lists_from_json(doc) == EECS_CODE_LISTS
    # Input order does not matter: lists are sorted by code.
    shuffled = {name: dict(reversed(list(doc[name].items()))) for name in reversed(LIST_NAMES)}
    assert code_lists_from_json(shuffled).to_fields() == EECS_CODE_LISTS.to_fields()
    assert EECS_CODE_LISTS.to_fields()[0][0] == ["F01010100", "Renewable / Solar / Photovoltaic"]
    assert EECS_CODE_LISTS.support[0] == Code("investment", "Investment support received")


def _broken(change: str) -> dict[str, Any]:
    doc = dev_doc()
    lists, body = doc["code_lists"], doc["issuing_bodies"][0]
    if change == "no code_lists":
        del doc["code_lists"]
    elif change == "code_lists not an object":
        doc["code_lists"] = ["F01050100"]
    elif change == "a list missing":
        del lists["support"]
    elif change == "an unknown list":
        lists["fuels"] = {"X": "x"}
    elif change == "an empty list":
        lists["market_zones"] = {}
    elif change == "a list as an array":
        lists["countries"] = ["FR"]
    elif change == "an empty code":
        lists["countries"][""] = "nowhere"
    elif change == "a padded code":
        lists["countries"][" FR"] = "France"
    elif change == "a code too long":
        lists["technologies"]["T" * 33] = "long"
    elif change == "a label not text":
        lists["countries"]["FR"] = 33
    elif change == "issuer country not listed":
        body["country"] = "ZZ"
    elif change == "issuer without country":
        del body["country"]
    elif change == "issuer without registry id":
        del body["registry_id"]
    elif change == "issuer with a blank registry id":
        body["registry_id"] = " "
    elif change == "two issuers, one registry id":
        doc["issuing_bodies"].append({**body, "pubkey": doc["validators"][0]["pubkey"]})
    elif change == "one issuer listed twice":
        doc["issuing_bodies"].append({**body, "registry_id": "GC-DEV-2"})
    elif change == "expiry_s a bool":
        doc["expiry_s"] = True
    elif change == "expiry_s zero":
        doc["expiry_s"] = 0
    return doc


@pytest.mark.parametrize("change", [
    "no code_lists", "code_lists not an object", "a list missing", "an unknown list",
    "an empty list", "a list as an array", "an empty code", "a padded code", "a code too long",
    "a label not text", "issuer country not listed", "issuer without country",
    "issuer without registry id", "issuer with a blank registry id",
    "two issuers, one registry id", "one issuer listed twice", "expiry_s a bool",
    "expiry_s zero",
])
def test_bad_genesis_is_refused(change: str) -> None:
    with pytest.raises(ConfigError):
        genesis_from_json(_broken(change))


def test_positive_expiry_is_kept() -> None:
    doc = dev_doc()
    doc["expiry_s"] = 365 * 86_400
    assert genesis_from_json(doc).expiry_s == 365 * 86_400

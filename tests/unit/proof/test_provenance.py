"""Provenance proofs (DESIGN §8): build from the store, verify offline with genesis alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers.chain_builder import (
    DEVICE_ID,
    PERIOD_START,
    VECTOR_SERIAL,
    ChainBuilder,
    Scenario,
    bundle_id,
    key,
    make_genesis,
    provenance_scenario,
    validator_keys,
)

from greenchain.codec import decode, encode
from greenchain.crypto.keys import KeyPair
from greenchain.crypto.merkle import merkle_root
from greenchain.errors import DecodeError, GreenChainError, Malformed, NotFound, ProofError
from greenchain.model.genesis import Genesis, genesis_from_json
from greenchain.proof.build import assemble_provenance, build_provenance, compute_audit_path
from greenchain.proof.format import (
    FORMAT_TAG,
    ProvenanceProof,
    compute_proof_digest,
    decode_proof,
    encode_proof,
    proof_body_fields,
)
from greenchain.proof.report import ProvenanceReport
from greenchain.proof.verify import compute_audit_root, leaf_order_key, verify_provenance

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "proofs"
OPERATOR, RETAILER, TRADER = (key(name).public for name in ("operator", "retailer", "trader"))


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return provenance_scenario()


@pytest.fixture(scope="module")
def proof_100(scenario: Scenario) -> bytes:
    return build_provenance(scenario.chain.store, DEVICE_ID, VECTOR_SERIAL)


def verify(scenario: Scenario, serial: int) -> ProvenanceReport:
    proof = build_provenance(scenario.chain.store, DEVICE_ID, serial)
    return verify_provenance(proof, scenario.chain.genesis)


def failing_step(proof: bytes | ProvenanceProof, genesis: Genesis) -> str:
    with pytest.raises(ProofError) as info:
        verify_provenance(proof, genesis)
    return str(info.value.step)


def reencode(proof: ProvenanceProof, **changes: Any) -> bytes:
    """Re-encode a changed proof with a correct digest: a deliberate forgery, not damage."""
    return encode_proof(replace(proof, **changes))


# --- good proofs ----------------------------------------------------------------------
def test_issuance_split_whole_transfer_partial_retire(scenario: Scenario, proof_100: bytes) -> None:
    report = verify_provenance(proof_100, scenario.chain.genesis)
    h = scenario.heights
    assert report.certificate_id == "WT1:100"
    assert (report.range_start, report.range_end) == (0, 250)
    assert (report.period_start, report.period_end) == (PERIOD_START, PERIOD_START + 3600)
    assert [(o.account, o.height) for o in report.owners] == [
        (OPERATOR, h["issue"]), (RETAILER, h["split"]), (TRADER, h["whole"])]
    assert [(s.kind, s.height) for s in report.steps] == [
        ("register_device", h["setup"]), ("attest", h["issue"]), ("transfer", h["split"]),
        ("transfer", h["whole"]), ("retire", h["retire"])]
    claim = report.retirement
    assert claim is not None and claim.beneficiary == "Cambridge Estates B2"
    assert (claim.purpose, claim.country, claim.height) == ("disclosure", "GB", h["retire"])
    assert (claim.consumption_start, claim.consumption_end) == (PERIOD_START, PERIOD_START + 3600)
    assert report.device.capacity_w == 2_050_000 and report.device.country == "FR"
    assert report.device.issuing_body == key("issuer").public
    every_validator = tuple(sorted(k.public for k in validator_keys()))
    assert all(step.validators == every_validator for step in report.steps)


def test_report_renderings(scenario: Scenario, proof_100: bytes) -> None:
    report = verify_provenance(proof_100, scenario.chain.genesis)
    text = report.render_text()
    assert "2015-03-01T00:00:00Z to 2015-03-01T01:00:00Z" in text
    assert "serials [0, 250) = 250 Wh" in text and "Cambridge Estates B2" in text
    assert "validator_0, validator_1, validator_2, validator_3" in text
    doc = json.loads(report.to_json())
    assert doc["certificate"] == "WT1:100" and doc["bundle_range_wh"] == [0, 250]
    assert doc["owners"][1] == {"account": RETAILER.hex(), "height": scenario.heights["split"]}
    assert doc["production_period"]["start_iso"] == "2015-03-01T00:00:00Z"
    assert doc["retirement"]["consumption_period"]["end_iso"] == "2015-03-01T01:00:00Z"


def test_serial_in_rest_of_a_split_keeps_its_owner(scenario: Scenario) -> None:
    h = scenario.heights
    report = verify(scenario, 700)  # [600, 1000) -100-> rest [700, 1000): boundary serial
    assert (report.range_start, report.range_end) == (700, 1000)
    assert [(o.account, o.height) for o in report.owners] == [(OPERATOR, h["issue"])]
    assert [(s.kind, s.height) for s in report.steps][2:] == [
        ("transfer", h["split"]), ("transfer", h["rest"])]
    assert report.retirement is None


def test_serial_moved_out_of_the_rest(scenario: Scenario) -> None:
    report = verify(scenario, 699)
    assert (report.range_start, report.range_end) == (600, 700)
    assert [o.account for o in report.owners] == [OPERATOR, TRADER]


def test_serial_in_rest_of_a_partial_retirement_is_not_retired(scenario: Scenario) -> None:
    report = verify(scenario, 250)
    assert (report.range_start, report.range_end) == (250, 600)
    assert report.retirement is None
    assert [o.account for o in report.owners] == [OPERATOR, RETAILER, TRADER]
    assert report.steps[-1].kind == "retire"


def test_move_in_the_attest_block_itself(scenario: Scenario) -> None:
    # The root record after block 2 is already split: the builder replays it, the state
    # proof confirms it, and the two steps of block 2 are ordered within the block.
    report = verify(scenario, 1100)
    h = scenario.heights["same_block"]
    assert [(s.kind, s.height) for s in report.steps][1:] == [("attest", h), ("transfer", h)]
    assert [(o.account, o.height) for o in report.owners] == [(OPERATOR, h), (RETAILER, h)]
    assert (report.range_start, report.range_end) == (1000, 1300)


@pytest.mark.parametrize("device_id, serial", [
    (DEVICE_ID, 1800), (DEVICE_ID, 10**6), (DEVICE_ID, -1), (DEVICE_ID, 2**64), ("WT9", 0)])
def test_unknown_certificate_is_not_found(scenario: Scenario, device_id: str,
                                          serial: int) -> None:
    with pytest.raises(NotFound):
        build_provenance(scenario.chain.store, device_id, serial)


# --- genesis and commits --------------------------------------------------------------
def attest_committed_by(signers: list[KeyPair]) -> tuple[bytes, Genesis]:
    """A chain whose attest block (height 2) is committed by `signers` only."""
    chain = ChainBuilder()
    chain.setup_plant()
    chain.attest(DEVICE_ID, PERIOD_START, PERIOD_START + 3600, 1000)
    chain.seal(signers=signers)
    return build_provenance(chain.store, DEVICE_ID, 5), chain.genesis


@pytest.mark.parametrize("signers, message", [
    ([key(f"mallory_{i}") for i in range(4)], "quorum"),          # non-validators only
    (validator_keys()[:3] + [key("mallory_0")], "not a validator"),  # quorum + a stranger
    (validator_keys()[:2], "quorum"),                               # 2 of 4 is too few
])
def test_commit_without_a_clean_quorum_fails(signers: list[KeyPair], message: str) -> None:
    proof, genesis = attest_committed_by(signers)
    with pytest.raises(ProofError, match=message) as info:
        verify_provenance(proof, genesis)
    assert info.value.step == "step 2 (attest): commit"


def test_three_of_four_validators_is_a_quorum() -> None:
    proof, genesis = attest_committed_by(validator_keys()[1:])
    report = verify_provenance(proof, genesis)
    assert report.steps[1].validators == tuple(k.public for k in validator_keys()[1:])


def test_other_validators_in_genesis_fail_at_the_first_commit(proof_100: bytes) -> None:
    others = make_genesis([key(f"other_{i}") for i in range(4)])
    assert failing_step(proof_100, others) == "step 1 (register_device): commit"


def test_other_chain_id_fails(proof_100: bytes) -> None:
    other = make_genesis(validator_keys(), chain_id="greenchain-other")
    assert failing_step(proof_100, other) == "chain id"


def test_device_registered_by_an_unknown_issuer_fails(proof_100: bytes) -> None:
    genesis = make_genesis(validator_keys(), issuers=[key("someone_else")])
    assert failing_step(proof_100, genesis) == "step 1 (register_device): issuing body"


# --- forged content (re-encoded with a correct digest) ----------------------------------
@pytest.fixture(scope="module")
def parsed_100(proof_100: bytes) -> ProvenanceProof:
    return decode_proof(proof_100)


def test_dropping_a_middle_step_breaks_the_owner_chain(scenario: Scenario,
                                                      parsed_100: ProvenanceProof) -> None:
    steps = parsed_100.steps[:3] + parsed_100.steps[4:]
    forged = reencode(parsed_100, steps=steps)
    assert failing_step(forged, scenario.chain.genesis) == "step 4 (retire): owner"


def test_swapped_steps_fail_on_order(scenario: Scenario, parsed_100: ProvenanceProof) -> None:
    s = parsed_100.steps
    forged = reencode(parsed_100, steps=s[:2] + (s[3], s[2]) + s[4:])
    assert failing_step(forged, scenario.chain.genesis) == "step 4 (transfer): order"


def test_repeated_step_fails_on_order(scenario: Scenario, parsed_100: ProvenanceProof) -> None:
    s = parsed_100.steps
    forged = reencode(parsed_100, steps=s[:3] + (s[2],) + s[3:])
    assert failing_step(forged, scenario.chain.genesis) == "step 4 (transfer): order"


def test_nothing_may_follow_a_retirement(scenario: Scenario,
                                        parsed_100: ProvenanceProof) -> None:
    chain = scenario.chain
    later = assemble_provenance(chain.store, DEVICE_ID, 650).steps[-1]  # height 6
    forged = reencode(parsed_100, steps=parsed_100.steps + (later,))
    assert failing_step(forged, chain.genesis) == "step 6 (transfer): after retirement"


def test_step_of_another_bundle_fails(scenario: Scenario) -> None:
    # Right after issuance serial 700 is in [0, 1000); the h6 transfer (same owner) moves
    # [600, 1000), which only exists after the h3 split that the forgery leaves out.
    proof = assemble_provenance(scenario.chain.store, DEVICE_ID, 700)
    forged = reencode(proof, steps=proof.steps[:2] + proof.steps[3:])
    assert failing_step(forged, scenario.chain.genesis) == "step 3 (transfer): bundle"


def test_proof_for_another_device_id_fails(scenario: Scenario,
                                           parsed_100: ProvenanceProof) -> None:
    forged = reencode(parsed_100, device_id="WT2")
    assert failing_step(forged, scenario.chain.genesis) == "step 1 (register_device): device id"


def test_serial_outside_the_root_bundle_fails(scenario: Scenario,
                                              parsed_100: ProvenanceProof) -> None:
    forged = reencode(parsed_100, serial=1000)
    assert failing_step(forged, scenario.chain.genesis) == "root bundle: serial"


def test_shifted_root_bundle_fails_the_state_proof(scenario: Scenario,
                                                   parsed_100: ProvenanceProof) -> None:
    record = parsed_100.root_bundle.record
    moved = replace(record, serial_start=record.serial_start + 50,
                    serial_end=record.serial_end + 50,
                    bundle_id=bundle_id(record.serial_start + 50, record.serial_end + 50))
    forged = reencode(parsed_100, root_bundle=replace(parsed_100.root_bundle, record=moved))
    assert failing_step(forged, scenario.chain.genesis) == "root bundle: state proof"


def test_root_bundle_of_another_attestation_fails(scenario: Scenario,
                                                  parsed_100: ProvenanceProof) -> None:
    other = assemble_provenance(scenario.chain.store, DEVICE_ID, 1500)  # same attest block
    forged = reencode(parsed_100, root_bundle=other.root_bundle)
    assert failing_step(forged, scenario.chain.genesis) == "root bundle: record"


def test_validator_set_changes_must_be_update_validators(scenario: Scenario,
                                                        parsed_100: ProvenanceProof) -> None:
    # Real changes are tested in test_valset_proofs.py.
    forged = reencode(parsed_100, valset_changes=parsed_100.steps[:1])
    with pytest.raises(ProofError, match="update_validators") as info:
        verify_provenance(forged, scenario.chain.genesis)
    assert info.value.step == "validator-set change 1: kind"


def test_missing_attest_step_fails(scenario: Scenario, parsed_100: ProvenanceProof) -> None:
    forged = reencode(parsed_100, steps=parsed_100.steps[:1])
    assert failing_step(forged, scenario.chain.genesis) == "steps"
    forged = reencode(parsed_100, steps=parsed_100.steps[1:])
    assert failing_step(forged, scenario.chain.genesis) == "step 1 (attest): kind"


# --- every byte is bound ----------------------------------------------------------------
def flip(data: bytes, position: int, mask: int) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1:]


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_any_changed_byte_of_the_file_fails(scenario: Scenario, proof_100: bytes,
                                            mask: int) -> None:
    assert len(proof_100) < 8000  # small enough to try every position
    for position in range(len(proof_100)):
        with pytest.raises((DecodeError, ProofError)):
            verify_provenance(flip(proof_100, position, mask), scenario.chain.genesis)


def body_span(proof: bytes) -> tuple[int, int]:
    """Offsets of the body inside ``[tag, body, digest]``."""
    start = 1 + len(encode(FORMAT_TAG))
    end = len(proof) - 34  # the digest: bin8 header (2 bytes) + 32 bytes
    assert proof[start:end] == encode(proof_body_fields(decode_proof(proof)))
    return start, end


def reseal(body: bytes) -> bytes:
    """Wrap changed body bytes with a matching digest, as a forger would."""
    fields = decode(body)
    return encode([FORMAT_TAG, fields, compute_proof_digest(fields)])


def test_every_body_byte_is_bound_to_the_chain(scenario: Scenario, proof_100: bytes) -> None:
    # Beyond the digest: a forger who recomputes it must still fail at some named step,
    # except by moving the serial to another serial of the same final bundle, which is a
    # true proof of that certificate.
    genesis = scenario.chain.genesis
    start, end = body_span(proof_100)
    body = proof_100[start:end]
    positions = range(0, len(body), max(1, len(body) // 400))  # deterministic sample
    assert len(positions) >= 300
    outcomes = {"decode": 0, "step": 0, "same bundle": 0}
    for position in positions:
        try:
            forged = reseal(flip(body, position, 0x01))
            report = verify_provenance(forged, genesis)
        except DecodeError:
            outcomes["decode"] += 1
            continue
        except ProofError as exc:
            assert exc.step and exc.step != "decoding: digest"
            outcomes["step"] += 1
            continue
        assert report.serial != VECTOR_SERIAL and 0 <= report.serial < 250
        outcomes["same bundle"] += 1
    assert outcomes["step"] > 0 and outcomes["decode"] > 0 and outcomes["same bundle"] <= 1


def test_serial_bytes_are_the_only_unbound_field(scenario: Scenario,
                                                 parsed_100: ProvenanceProof) -> None:
    report = verify_provenance(reencode(parsed_100, serial=101), scenario.chain.genesis)
    assert report.serial == 101 and (report.range_start, report.range_end) == (0, 250)


# --- format ---------------------------------------------------------------------------
def test_round_trip_is_canonical(proof_100: bytes) -> None:
    assert encode_proof(decode_proof(proof_100)) == proof_100


@pytest.mark.parametrize("mutate", [
    lambda b: b + b"\x00",                          # trailing byte
    lambda b: b[:-1],                               # truncated
    lambda b: encode(["greenchain/other/v1"] + decode(b)[1:]),
    lambda b: encode(decode(b)[:2]),                # no digest
    lambda b: b"",
])
def test_malformed_files_are_decode_errors(proof_100: bytes,
                                           mutate: Callable[[bytes], bytes]) -> None:
    with pytest.raises(DecodeError):
        decode_proof(mutate(proof_100))


def test_damaged_digest_names_the_decoding_step(proof_100: bytes) -> None:
    tag, body, digest = decode(proof_100)
    damaged = encode([tag, body, bytes(32)])
    with pytest.raises(ProofError) as info:
        decode_proof(damaged)
    assert info.value.step == "decoding: digest"


def test_unknown_tx_type_in_a_step_is_a_decode_error(proof_100: bytes) -> None:
    tag, body, _ = decode(proof_100)
    envelope = decode(body[4][0][0])
    envelope[0] = "mint"
    body[4][0][0] = encode(envelope)
    with pytest.raises(Malformed, match="unknown transaction type"):
        decode_proof(encode([tag, body, compute_proof_digest(body)]))


@pytest.mark.parametrize("size", range(1, 18))
def test_sided_audit_paths_reach_the_rfc6962_root_in_leaf_order(size: int) -> None:
    leaves = [bytes([i]) * (i + 1) for i in range(size)]
    root = merkle_root(leaves)
    keys = []
    for index in range(size):
        path = compute_audit_path(leaves, index)
        assert compute_audit_root(leaves[index], path) == root
        assert compute_audit_root(leaves[(index + 1) % size], path) != root or size == 1
        keys.append(leaf_order_key(path))
    assert keys == sorted(keys) and len(set(keys)) == size


# --- vector ---------------------------------------------------------------------------
def test_good_proof_vector(proof_100: bytes) -> None:
    meta = json.loads((VECTORS / "good_split_transfer_retire.json").read_text("utf-8"))
    data = (VECTORS / "good_split_transfer_retire.gcproof").read_bytes()
    genesis = genesis_from_json(meta["genesis"])
    assert verify_provenance(data, genesis).to_dict() == meta["expected_report"]
    assert meta["certificate"] == f"{DEVICE_ID}:{VECTOR_SERIAL}"
    # The builder is deterministic: the vector is exactly what it produces today.
    assert data == proof_100
    for position in range(0, len(data), 7):
        with pytest.raises(GreenChainError):
            verify_provenance(flip(data, position, 0x10), genesis)

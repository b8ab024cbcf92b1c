"""Provenance proofs through export and withdrawal, and rooted in an import (DESIGN §8, §10)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers.chain_builder import DEVICE_ID, Scenario, bundle_id, key, make_genesis, validator_keys
from lifecycle_chain import (
    EXPORT_ACCOUNT,
    EXPORT_REGISTRY,
    EXT_DEVICE,
    VECTOR_CASES,
    WITHDRAW_REASON,
    lifecycle_scenario,
)

from greenchain.codec import decode, encode
from greenchain.crypto.keys import KeyPair
from greenchain.errors import DecodeError, GreenChainError, ProofError
from greenchain.model.genesis import Genesis, genesis_from_json
from greenchain.model.lifecycle_txs import Withdraw
from greenchain.model.transactions import make_tx
from greenchain.proof.build import assemble_provenance, build_provenance
from greenchain.proof.format import (
    FORMAT_TAG,
    ProvenanceProof,
    compute_proof_digest,
    decode_proof,
    encode_proof,
)
from greenchain.proof.report import ProvenanceReport
from greenchain.proof.roots import validate_issuance
from greenchain.proof.verify import verify_provenance
from greenchain.proof.walk import SerialWalk, apply_move
from greenchain.store.chain import ChainStore
from greenchain.store.kv import MemoryKV
from greenchain.store.schema import BUNDLE_HISTORY

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "proofs"
OPERATOR, RETAILER, TRADER = (key(name).public for name in ("operator", "retailer", "trader"))
ISSUER = key("issuer").public


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return lifecycle_scenario()


@pytest.fixture(scope="module")
def proofs(scenario: Scenario) -> dict[str, bytes]:
    store = scenario.chain.store
    return {name: build_provenance(store, device_id, serial)
            for name, (device_id, serial) in VECTOR_CASES.items()}


def verify(scenario: Scenario, device_id: str, serial: int) -> ProvenanceReport:
    proof = build_provenance(scenario.chain.store, device_id, serial)
    return verify_provenance(proof, scenario.chain.genesis)


def kinds(report: ProvenanceReport) -> list[tuple[str, int]]:
    return [(step.kind, step.height) for step in report.steps]


def failing_step(proof: bytes, genesis: Genesis) -> str:
    with pytest.raises(ProofError) as info:
        verify_provenance(proof, genesis)
    return str(info.value.step)


def reencode(proof: ProvenanceProof, **changes: Any) -> bytes:
    """A deliberate forgery: changed content, re-encoded with a correct digest."""
    return encode_proof(replace(proof, **changes))


# --- export ---------------------------------------------------------------------------
def test_export_is_the_final_step(scenario: Scenario, proofs: dict[str, bytes]) -> None:
    h = scenario.heights
    report = verify_provenance(proofs["good_export"], scenario.chain.genesis)
    assert kinds(report) == [("register_device", h["setup"]), ("attest", h["issue"]),
                             ("export", h["move"])]
    assert (report.range_start, report.range_end) == (0, 400)
    assert report.export is not None and report.retirement is None
    assert (report.export.destination_registry, report.export.destination_account,
            report.export.height) == (EXPORT_REGISTRY, EXPORT_ACCOUNT, h["move"])
    assert [o.account for o in report.owners] == [OPERATOR]
    assert "Export: to registry AIB-NL, account NL-GREEN-3" in report.render_text()
    assert report.to_dict()["export"]["destination_registry"] == EXPORT_REGISTRY


def test_serial_in_the_rest_of_an_export_moves_on(scenario: Scenario) -> None:
    h = scenario.heights
    report = verify(scenario, DEVICE_ID, 500)
    assert kinds(report)[2:] == [("export", h["move"]), ("transfer", h["after"])]
    assert report.export is None and (report.range_start, report.range_end) == (500, 1000)
    assert [o.account for o in report.owners] == [OPERATOR]


def test_whole_export_of_imported_certificates(scenario: Scenario) -> None:
    report = verify(scenario, EXT_DEVICE, 300)
    assert [kind for kind, _ in kinds(report)] == ["import", "transfer", "export"]
    assert report.export is not None and report.export.destination_registry == "AIB-DE"
    assert (report.range_start, report.range_end) == (200, 500)
    assert [o.account for o in report.owners] == [RETAILER]


# --- withdrawal -----------------------------------------------------------------------
def test_withdrawal_by_the_issuing_body_is_final(scenario: Scenario,
                                                 proofs: dict[str, bytes]) -> None:
    h = scenario.heights
    report = verify_provenance(proofs["good_withdraw"], scenario.chain.genesis)
    assert kinds(report)[2:] == [("transfer", h["move"]), ("withdraw", h["end"])]
    assert report.withdrawal is not None
    claim = report.withdrawal
    assert (claim.reason, claim.issuing_body, claim.issuing_body_name, claim.height) == (
        WITHDRAW_REASON, ISSUER, "issuer_0", h["end"])
    assert (report.range_start, report.range_end) == (1000, 1300)
    assert [o.account for o in report.owners] == [OPERATOR, TRADER]
    assert f"reason {WITHDRAW_REASON!r}" in report.render_text()


def test_withdrawal_in_the_attest_block_itself(scenario: Scenario) -> None:
    # The root record after block 2 is already withdrawn: the builder replays it and the
    # state proof confirms it.
    h = scenario.heights["issue"]
    report = verify(scenario, DEVICE_ID, 2000)
    assert kinds(report)[1:] == [("attest", h), ("withdraw", h)]
    assert report.withdrawal is not None and report.withdrawal.height == h


def withdraw_step_walk(scenario: Scenario, signer: KeyPair) -> None:
    proof = assemble_provenance(scenario.chain.store, DEVICE_ID, 1100)
    issuance = validate_issuance(proof, scenario.chain.genesis)
    step = proof.steps[-1]
    tx = make_tx(signer, scenario.chain.chain_id, Withdraw(bundle_id(1000, 1300), "x"), 1)
    walk = SerialWalk(1000, 1300, TRADER, (), None)
    apply_move(walk, replace(step, tx=tx), "step 4 (withdraw)", DEVICE_ID, 1100,
               issuance.device)


def test_withdrawal_by_another_key_fails(scenario: Scenario) -> None:
    # The ledger refuses such a withdrawal, so no chain holds one: the walk is tested alone.
    withdraw_step_walk(scenario, key("issuer"))
    with pytest.raises(ProofError) as info:
        withdraw_step_walk(scenario, key("someone_else"))
    assert info.value.step == "step 4 (withdraw): issuing body"


# --- import-rooted --------------------------------------------------------------------
def test_import_is_the_root_of_imported_certificates(scenario: Scenario,
                                                     proofs: dict[str, bytes]) -> None:
    h = scenario.heights
    report = verify_provenance(proofs["good_import"], scenario.chain.genesis)
    assert kinds(report) == [("import", h["issue"]), ("transfer", h["move"]),
                             ("retire", h["end"])]
    assert report.origin is not None
    assert (report.origin.source_registry, report.origin.source_device_id,
            report.origin.ext_start, report.origin.ext_end) == ("AIB-DE", "DE-WIND-7", 0, 500)
    assert report.device.device_id == EXT_DEVICE and report.device.issuing_body == ISSUER
    assert (report.range_start, report.range_end) == (0, 150)
    assert report.retirement is not None and report.retirement.height == h["end"]
    assert [(o.account, o.height) for o in report.owners] == [(RETAILER, h["issue"]),
                                                              (TRADER, h["move"])]
    assert "from registry AIB-DE device DE-WIND-7" in report.render_text()
    assert report.to_dict()["import"]["external_range_wh"] == [0, 500]


def test_imported_serial_in_the_rest_of_a_retirement(scenario: Scenario) -> None:
    report = verify(scenario, EXT_DEVICE, 170)
    assert report.retirement is None and (report.range_start, report.range_end) == (150, 200)


def test_import_by_a_key_not_in_genesis_fails(proofs: dict[str, bytes]) -> None:
    genesis = make_genesis(validator_keys(), issuers=[key("someone_else")])
    assert failing_step(proofs["good_import"], genesis) == "step 1 (import): issuing body"


def test_import_proof_for_another_device_fails(scenario: Scenario,
                                               proofs: dict[str, bytes]) -> None:
    forged = reencode(decode_proof(proofs["good_import"]), device_id="ext:AIB-DE:OTHER")
    assert failing_step(forged, scenario.chain.genesis) == "step 1 (import): device id"


def test_import_root_with_an_attested_root_bundle_fails(scenario: Scenario,
                                                        proofs: dict[str, bytes]) -> None:
    # WT1 [0, 1000) is in the same block's state_root, but the import did not issue it.
    parsed = decode_proof(proofs["good_import"])
    attested = decode_proof(proofs["good_export"]).root_bundle
    forged = reencode(parsed, root_bundle=attested)
    assert failing_step(forged, scenario.chain.genesis) == "root bundle: record"


def test_import_proof_without_the_import_fails(scenario: Scenario,
                                               proofs: dict[str, bytes]) -> None:
    parsed = decode_proof(proofs["good_import"])
    forged = reencode(parsed, steps=parsed.steps[1:])
    assert failing_step(forged, scenario.chain.genesis) == "step 1 (transfer): kind"
    forged = reencode(parsed, steps=())
    assert failing_step(forged, scenario.chain.genesis) == "steps"


def test_import_root_under_a_registered_device_fails(scenario: Scenario,
                                                     proofs: dict[str, bytes]) -> None:
    # A register_device + attest prefix does not turn an import into a step 3 move.
    parsed = decode_proof(proofs["good_import"])
    attested = decode_proof(proofs["good_export"])
    forged = reencode(parsed, steps=attested.steps[:2] + parsed.steps)
    assert failing_step(forged, scenario.chain.genesis) == "step 3 (import): kind"


# --- nothing follows the end ----------------------------------------------------------
@pytest.mark.parametrize("case, ended_by", [("good_export", "export"),
                                            ("good_withdraw", "withdrawal"),
                                            ("good_import", "retirement")])
def test_nothing_may_follow_an_export_or_withdrawal(scenario: Scenario,
                                                    proofs: dict[str, bytes], case: str,
                                                    ended_by: str) -> None:
    later = assemble_provenance(scenario.chain.store, DEVICE_ID, 500).steps[-1]  # height 5
    parsed = decode_proof(proofs[case])
    forged = reencode(parsed, steps=parsed.steps + (later,))
    number = len(parsed.steps) + 1
    assert failing_step(forged, scenario.chain.genesis) == (
        f"step {number} (transfer): after {ended_by}")


# --- every byte is bound --------------------------------------------------------------
def flip(data: bytes, position: int, mask: int) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1:]


@pytest.mark.parametrize("case", sorted(VECTOR_CASES))
def test_any_changed_byte_of_the_file_fails(scenario: Scenario, proofs: dict[str, bytes],
                                            case: str) -> None:
    proof = proofs[case]
    for position in range(len(proof)):
        with pytest.raises((DecodeError, ProofError)):
            verify_provenance(flip(proof, position, 0x01), scenario.chain.genesis)


def reseal(body: bytes) -> bytes:
    fields = decode(body)
    return encode([FORMAT_TAG, fields, compute_proof_digest(fields)])


@pytest.mark.parametrize("case", sorted(VECTOR_CASES))
def test_resealed_body_changes_fail_at_a_named_step(scenario: Scenario,
                                                    proofs: dict[str, bytes],
                                                    case: str) -> None:
    # A forger who recomputes the digest still fails at a named step, except by moving
    # the serial within the final bundle (a true proof of that other certificate).
    proof = proofs[case]
    start, end = 1 + len(encode(FORMAT_TAG)), len(proof) - 34
    body = proof[start:end]
    steps: set[str] = set()
    for position in range(0, len(body), max(1, len(body) // 150)):
        try:
            report = verify_provenance(reseal(flip(body, position, 0x01)),
                                       scenario.chain.genesis)
        except DecodeError:
            continue
        except ProofError as exc:
            assert exc.step and exc.step != "decoding: digest"
            steps.add(str(exc.step))
            continue
        assert report.serial != VECTOR_CASES[case][1]
        assert report.range_start <= report.serial < report.range_end
    last = len(decode_proof(proof).steps)
    assert any(step.startswith(f"step {last} ") for step in steps), steps


# --- builder --------------------------------------------------------------------------
def test_each_block_is_read_once_and_never_fully_decoded(scenario: Scenario,
                                                         proofs: dict[str, bytes]) -> None:
    store = scenario.chain.store
    counting = ChainStore(store.kv)
    reads: list[int] = []
    leaves = counting.get_block_leaves

    def count_leaves(height: int) -> Any:
        reads.append(height)
        return leaves(height)

    def no_full_decode(height: int) -> Any:
        raise AssertionError("the proof builder decoded a whole block")

    counting.get_block_leaves = count_leaves  # type: ignore[method-assign]
    counting.get_block = no_full_decode  # type: ignore[method-assign]
    # WT1:2000: register at h1; attest and withdraw both at h2.
    proof = build_provenance(counting, DEVICE_ID, 2000)
    assert sorted(reads) == [1, 2]
    assert proof == build_provenance(store, DEVICE_ID, 2000)


def test_store_without_export_and_withdraw_history_still_ends_the_proof(
        scenario: Scenario, proofs: dict[str, bytes]) -> None:
    # A store written before the history listed exports and withdrawals: the leaf record
    # names its ending transaction, and the builder adds it where its body points.
    old = MemoryKV()
    old.write_batch(dict(scenario.chain.store.kv.iterate(b"")))
    stale = {k: None for k, v in old.iterate(BUNDLE_HISTORY)
             if v in {step.tx.tx_id for case in ("good_export", "good_withdraw")
                      for step in decode_proof(proofs[case]).steps[-1:]}}
    assert len(stale) == 2
    old.write_batch(stale)
    for case in ("good_export", "good_withdraw"):
        device_id, serial = VECTOR_CASES[case]
        assert build_provenance(ChainStore(old), device_id, serial) == proofs[case]


# --- vectors --------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(VECTOR_CASES))
def test_lifecycle_proof_vectors(proofs: dict[str, bytes], case: str) -> None:
    meta = json.loads((VECTORS / f"{case}.json").read_text("utf-8"))
    data = (VECTORS / f"{case}.gcproof").read_bytes()
    genesis = genesis_from_json(meta["genesis"])
    assert verify_provenance(data, genesis).to_dict() == meta["expected_report"]
    device_id, serial = VECTOR_CASES[case]
    assert meta["certificate"] == f"{device_id}:{serial}"
    assert data == proofs[case]  # the builder is deterministic
    for position in range(0, len(data), 11):
        with pytest.raises(GreenChainError):
            verify_provenance(flip(data, position, 0x10), genesis)

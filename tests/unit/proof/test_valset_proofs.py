"""Provenance proofs across validator-set changes (DESIGN §3, §8).

The chain of `helpers.valset_chain`: validator_4 joins at h5, v[1] leaves at h8, and the
certificate WT1:100 is split at h5 and retired at h8, each committed by its own set.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from helpers.chain_builder import DEVICE_ID, make_commit
from helpers.valset_chain import SERIAL, ValsetScenario, valset_scenario

from greenchain.crypto.merkle import merkle_root
from greenchain.errors import ProofError
from greenchain.model.blocks import make_block
from greenchain.model.transactions import make_tx, make_update_validators
from greenchain.proof.build import assemble_provenance, build_provenance, compute_audit_path
from greenchain.proof.format import ProofStep, ProvenanceProof, decode_proof, encode_proof
from greenchain.proof.verify import verify_provenance


@pytest.fixture(scope="module")
def scenario() -> ValsetScenario:
    return valset_scenario()


@pytest.fixture(scope="module")
def proof(scenario: ValsetScenario) -> ProvenanceProof:
    return assemble_provenance(scenario.chain.store, DEVICE_ID, SERIAL)


def failing_step(scenario: ValsetScenario, proof: ProvenanceProof, **changes: Any) -> str:
    forged = encode_proof(replace(proof, **changes))
    with pytest.raises(ProofError) as info:
        verify_provenance(forged, scenario.chain.genesis)
    return str(info.value.step)


# --- good proofs ----------------------------------------------------------------------
def test_the_proof_carries_both_changes_in_chain_order(scenario: ValsetScenario,
                                                      proof: ProvenanceProof) -> None:
    heights = [step.header.height for step in proof.valset_changes]
    assert heights == [scenario.heights["add"], scenario.heights["remove"]]
    assert all(step.tx.type == "update_validators" for step in proof.valset_changes)


def test_a_proof_across_both_changes_verifies(scenario: ValsetScenario) -> None:
    data = build_provenance(scenario.chain.store, DEVICE_ID, SERIAL)
    report = verify_provenance(data, scenario.chain.genesis)
    assert report.retirement is not None and (report.range_start, report.range_end) == (0, 250)
    by_height = {step.height: set(step.validators) for step in report.steps}
    added, removed = scenario.added.public, scenario.removed.public
    split, retire = scenario.heights["split"], scenario.heights["retire"]
    assert added in by_height[split] and scenario.genesis_set[0].public not in by_height[split]
    assert len(by_height[split]) == 4
    assert by_height[retire] == {k.public for k in scenario.shrunk[1:]}
    assert removed not in by_height[retire]


def test_an_old_proof_made_before_the_changes_still_verifies(
        scenario: ValsetScenario) -> None:
    assert decode_proof(scenario.old_proof).valset_changes == ()
    report = verify_provenance(scenario.old_proof, scenario.chain.genesis)
    assert report.retirement is None
    assert report.steps[-1].height == scenario.heights["issue"]


def test_a_certificate_untouched_since_the_changes_verifies_with_them(
        scenario: ValsetScenario) -> None:
    proof = assemble_provenance(scenario.chain.store, DEVICE_ID, 800)  # kept by operator
    assert len(proof.valset_changes) == 2
    report = verify_provenance(encode_proof(proof), scenario.chain.genesis)
    assert (report.range_start, report.range_end) == (600, 1000)


# --- every commit is checked against the set of its own height --------------------------------
def test_without_the_changes_the_new_sets_commits_fail(scenario: ValsetScenario,
                                                       proof: ProvenanceProof) -> None:
    assert failing_step(scenario, proof, valset_changes=()) == "step 3 (transfer): commit"


def test_without_the_removal_the_shrunk_quorum_is_too_small(scenario: ValsetScenario,
                                                            proof: ProvenanceProof) -> None:
    # Three precommits are a quorum of the shrunk set (4), not of the 5-set.
    changes = proof.valset_changes[:1]
    assert failing_step(scenario, proof, valset_changes=changes) == "step 4 (retire): commit"


def test_changes_out_of_order_fail(scenario: ValsetScenario, proof: ProvenanceProof) -> None:
    swapped = tuple(reversed(proof.valset_changes))
    assert failing_step(scenario, proof, valset_changes=swapped) == \
        "validator-set change 1: commit"
    repeated = proof.valset_changes[:1] * 2
    assert failing_step(scenario, proof, valset_changes=repeated) == \
        "validator-set change 2: order"


def test_a_change_step_must_be_an_update_validators(scenario: ValsetScenario,
                                                   proof: ProvenanceProof) -> None:
    assert failing_step(scenario, proof, valset_changes=proof.steps[:1]) == \
        "validator-set change 1: kind"


def test_a_change_with_a_forged_commit_fails(scenario: ValsetScenario,
                                             proof: ProvenanceProof) -> None:
    first = proof.valset_changes[0]
    few = first.commit.signatures[:2]
    forged = replace(first, commit=replace(first.commit, signatures=few))
    changes = (forged, proof.valset_changes[1])
    assert failing_step(scenario, proof, valset_changes=changes) == \
        "validator-set change 1: commit"


def test_a_committed_change_that_breaks_the_ledger_rules_fails(
        scenario: ValsetScenario, proof: ProvenanceProof) -> None:
    # A (byzantine) quorum committed a change approved by only two validators: the
    # verifier re-checks the ledger's rules and refuses it.
    chain, v = scenario.chain, scenario.genesis_set
    body = make_update_validators(v[:2], chain.chain_id, [scenario.added.public], [], 5)
    tx = make_tx(v[0], chain.chain_id, body, 999)
    real = proof.valset_changes[0].header
    header = replace(real, tx_root=merkle_root([tx.raw]))
    block = make_block(header, (tx,), None)
    step = ProofStep(tx, compute_audit_path([tx.raw], 0), header, make_commit(block, v))
    changes = (step, proof.valset_changes[1])
    assert failing_step(scenario, proof, valset_changes=changes) == \
        "validator-set change 1: change"


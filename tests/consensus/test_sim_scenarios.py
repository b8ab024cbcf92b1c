"""Consensus on a simulated network over many seeds (STYLE.md §8; DESIGN §6).

Every run checks safety (agreement among honest nodes; no honest validator ever signs
two different things at one height, round and step) and liveness (every honest node
commits the scenario's heights), plus what its scenario is about.
"""

import pytest
from simchecks import (
    check_agreement,
    check_no_double_signing,
    find_conflicts,
    message_position,
    message_value,
)
from simnet import CHAIN_ID, Scenario, SimNetwork

from greenchain.consensus.quorum import verify_proposal_signature, verify_vote_signature
from greenchain.model.blocks import Proposal, Vote


def run_checked(scenario: Scenario, seed: int) -> SimNetwork:
    sim = SimNetwork(scenario, seed).run()
    check_agreement(sim)
    check_no_double_signing(sim)
    heights = [len(node.chain) for node in sim.honest()]
    assert min(heights) >= scenario.heights, f"stalled at {heights} after {sim.now:.1f} s"
    return sim


@pytest.mark.parametrize("seed", range(50))
def test_all_honest_four_validators(seed: int) -> None:
    sim = run_checked(Scenario(n=4, heights=5, start_spread_s=0.5), seed)
    assert all(not node.evidence for node in sim.nodes)


@pytest.mark.parametrize("seed", range(10))
def test_single_validator(seed: int) -> None:
    sim = run_checked(Scenario(n=1, heights=5), seed)
    assert [block.header.round for block, _ in sim.nodes[0].chain] == [0] * 5


@pytest.mark.parametrize("seed", range(40))
def test_one_silent_validator(seed: int) -> None:
    sim = run_checked(Scenario(n=4, heights=5, silent=frozenset({seed % 4})), seed)
    silent_key = sim.validators[seed % 4]
    for block, commit in sim.honest()[0].chain:
        assert block.header.proposer != silent_key
        assert silent_key not in {s.validator for s in commit.signatures}


@pytest.mark.parametrize("seed", range(15))
def test_seven_validators_two_silent(seed: int) -> None:
    run_checked(Scenario(n=7, heights=4, silent=frozenset({seed % 7, (seed + 3) % 7})), seed)


@pytest.mark.parametrize("drop_p", [0.1, 0.2, 0.3])
@pytest.mark.parametrize("seed", range(20))
def test_drops_delays_and_reordering_then_progress(drop_p: float, seed: int) -> None:
    scenario = Scenario(n=4, heights=5, drop_p=drop_p, drop_until_s=2.0,
                        delay_s=(0.001, 0.2), start_spread_s=0.3)
    sim = run_checked(scenario, seed)
    assert sim.dropped > 0


@pytest.mark.parametrize("seed", range(10))
def test_no_commit_without_a_quorum_then_recovery(seed: int) -> None:
    # Two of four cut off for 8 s: nothing may commit; once they are back, commits resume.
    cut = frozenset({seed % 4, (seed + 1) % 4})
    scenario = Scenario(n=4, heights=3, partitioned=cut, partition_until_s=8.0)
    sim = run_checked(scenario, seed)
    first_commits = [node.commit_times[0] for node in sim.honest()]
    assert min(first_commits) >= 8.0
    assert max(first_commits) < 8.0 + 3.0  # rounds did not run away meanwhile


@pytest.mark.parametrize("seed", range(40))
def test_equivocating_validator_is_caught_and_agreement_holds(seed: int) -> None:
    cheat = seed % 4
    sim = run_checked(Scenario(n=4, heights=5, equivocators=frozenset({cheat})), seed)
    found = [e for node in sim.honest() for e in node.evidence]
    assert found, "nobody noticed the equivocation"
    for evidence in found:
        assert evidence.validator == sim.validators[cheat]
        first, second = evidence.first, evidence.second
        assert type(first) is type(second)
        assert message_position(first) == message_position(second)
        assert find_conflicts([first, second]) == [(first, second)]
        for message in (first, second):
            if isinstance(message, Vote):
                assert verify_vote_signature(CHAIN_ID, message)
            else:
                assert isinstance(message, Proposal)
                assert verify_proposal_signature(CHAIN_ID, message)


@pytest.mark.parametrize("seed", range(40))
def test_restarted_validator_never_double_signs(seed: int) -> None:
    restarted = seed % 4
    sim = run_checked(Scenario(n=4, heights=8, restart_node=restarted, restarts=3), seed)
    assert sim.restarts_done >= 1
    node = sim.nodes[restarted]
    mine = [m for m in sim.signed
            if (m.proposer if isinstance(m, Proposal) else m.validator) == node.key.public]
    assert mine and find_conflicts(mine) == []
    # What it signed last is on "disk".
    last = max(mine, key=message_position)
    assert message_position(last) <= (node.persisted.height, node.persisted.round,
                                      node.persisted.step)
    if message_position(last) == (node.persisted.height, node.persisted.round,
                                  node.persisted.step):
        assert message_value(last) == node.persisted.block_hash


@pytest.mark.parametrize("seed", range(15))
def test_blocks_failing_the_check_are_never_committed(seed: int) -> None:
    bad = seed % 4
    sim = run_checked(Scenario(n=4, heights=5, invalid_proposers=frozenset({bad})), seed)
    for block, _ in sim.honest()[0].chain:
        assert block.header.proposer != sim.validators[bad]


def test_conflict_scanner_finds_double_signing() -> None:
    # The safety check of every scenario must be able to fail.
    sim = SimNetwork(Scenario(n=4, heights=1, equivocators=frozenset({0})), 1).run()
    signed_by_cheat: list[Proposal | Vote] = []
    for node in sim.honest():
        for evidence in node.evidence:
            signed_by_cheat += [evidence.first, evidence.second]
    assert find_conflicts(signed_by_cheat)

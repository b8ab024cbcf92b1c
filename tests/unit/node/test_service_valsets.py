"""The node service follows validator-set changes (DESIGN §6, §7): each height's own set.

A fresh node replays the chain of `helpers.valset_chain` (validator_4 joins at h5, v[1]
leaves at h8) by catch-up (`apply_fetched`) and by consensus (`check_block` + `commit`).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.chain_builder import GENESIS_TIME_MS, make_commit
from helpers.valset_chain import ValsetScenario, valset_scenario

from greenchain.crypto.keys import KeyPair
from greenchain.errors import BadCommit
from greenchain.model.blocks import Block, Commit
from greenchain.node.service import NodeService
from greenchain.store.chain import ChainStore
from greenchain.store.kv import MemoryKV


@pytest.fixture(scope="module")
def scenario() -> ValsetScenario:
    return valset_scenario()


def fresh_service(scenario: ValsetScenario) -> NodeService:
    # A clock one hour after genesis: every block time of the scenario is in the past.
    return NodeService(scenario.chain.genesis, ChainStore(MemoryKV()),
                       clock=lambda: GENESIS_TIME_MS / 1000 + 3600)


def block_and_commit(scenario: ValsetScenario, height: int) -> tuple[Block, Commit]:
    store = scenario.chain.store
    block, commit = store.get_block(height), store.get_commit(height)
    assert block is not None and commit is not None
    return block, commit


def keys(pairs: list[KeyPair]) -> tuple[bytes, ...]:
    return tuple(sorted(k.public for k in pairs))


def test_catch_up_checks_each_commit_against_its_heights_set(
        scenario: ValsetScenario) -> None:
    service = fresh_service(scenario)
    genesis_set, grown, shrunk = (keys(scenario.genesis_set), keys(scenario.grown),
                                  keys(scenario.shrunk))
    assert service.validators == genesis_set
    expected_next: dict[int, tuple[bytes, ...]] = {}
    for height in range(1, scenario.chain.tip.height + 1):
        service.apply_fetched(*block_and_commit(scenario, height))
        expected_next[height] = service.validators
    assert service.tip == scenario.chain.tip
    # `validators` is always the set of tip + 1, known two heights ahead.
    assert expected_next[3] == genesis_set and expected_next[4] == grown
    assert expected_next[6] == grown and expected_next[7] == shrunk
    assert [service.validators_at(h) for h in (0, 4, 5, 7, 8, 100)] == \
        [genesis_set, genesis_set, grown, grown, shrunk, shrunk]


def test_consensus_checks_proposer_and_last_commit_per_height(
        scenario: ValsetScenario) -> None:
    service = fresh_service(scenario)
    for height in range(1, scenario.chain.tip.height + 1):
        block, commit = block_and_commit(scenario, height)
        result = service.check_block(block)
        service.commit(block, commit, result)
    assert service.tip == scenario.chain.tip


def test_a_quorum_of_the_old_set_is_not_enough_after_activation(
        scenario: ValsetScenario) -> None:
    service = fresh_service(scenario)
    split = scenario.heights["split"]
    for height in range(1, split):
        service.apply_fetched(*block_and_commit(scenario, height))
    block, _ = block_and_commit(scenario, split)
    old_quorum = make_commit(block, scenario.genesis_set[:3])  # 3 of 4, but 3 of 5 now
    with pytest.raises(BadCommit):
        service.apply_fetched(block, old_quorum)
    assert service.tip.height == split - 1
    service.apply_fetched(*block_and_commit(scenario, split))
    # The commit of h5 carried by h6 is checked against the 5-set too.
    after, commit = block_and_commit(scenario, split + 1)
    with pytest.raises(BadCommit):
        service.check_block(replace(after, last_commit=old_quorum))
    service.check_block(after)
    assert service.tip.height == split
    service.commit(after, commit)
    assert service.tip.height == split + 1

"""Four real validator processes through faults: halts without a quorum, restarts, crashes.

DESIGN §6: with 2 of 4 validators up nothing commits; the moment a quorum is back commits
resume; a validator killed at any point (even right after a vote left) restarts from its
store and sign-state, catches up and never signs a conflicting vote. Every wait is a
poll with a deadline (`wait_for`, `hold_for`), never a blind sleep.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.devtxs import setup_txs
from helpers.faultnet import (
    TxFeed,
    assert_one_chain,
    commit_one,
    evidence,
    feed_until,
    heights,
    hold_for,
    restart,
    tx_status,
    wait_agreed,
    wait_held,
)
from helpers.netclient import committed, submit, wait_for

from greenchain.cli.localnet import LocalNetwork
from greenchain.consensus.safety import STEP_PRECOMMIT, STEP_PREVOTE, sign_state_from_bytes
from greenchain.model.blocks import PRECOMMIT, PREVOTE
from greenchain.model.transactions import Tx
from greenchain.node.devnet import dev_genesis

pytestmark = [pytest.mark.slow]

ALL = [0, 1, 2, 3]
RESUME_S = 10.0
"""DESIGN §6 / the issue: once a quorum is back, a new block commits within this."""
MARCH_2015 = 1_425_168_000
"""Start of the sample production periods (UTC seconds)."""


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    network = LocalNetwork(tmp_path_factory.mktemp("faults"), dev_genesis(4))
    try:
        network.start_all()
        setup = setup_txs(("T1",))
        assert all(r["status"] == "pending" for r in submit(network.urls[0], setup))
        wait_for(lambda: all(committed(u, setup[-1]) for u in network.urls), 30, "setup")
        yield network
    finally:
        network.stop_all()


@pytest.fixture(scope="module")
def feed() -> TxFeed:
    return TxFeed("T1", MARCH_2015)


def no_evidence_anywhere(net: LocalNetwork) -> None:
    for i in ALL:
        assert evidence(net, i) == [], f"node{i} recorded equivocation evidence"


# Runs first: its own network is stopped before the module network starts.
@pytest.mark.timeout(90)
def test_staggered_start_commits_only_with_a_quorum(tmp_path: Path) -> None:
    net = LocalNetwork(tmp_path, dev_genesis(4))
    try:
        net.start(0)
        net.start(1)
        net.wait_ready([0, 1])
        setup = setup_txs(("S1",))
        assert [r["status"] for r in submit(net.urls[0], setup)] == ["pending"] * 3
        wait_held(net.urls[1], setup[-1], 10)
        assert tx_status(net.urls[1], setup[-1]) == "pending"
        # Two of four: the transactions stay pending and no block is made.
        hold_for(lambda: heights(net, [0, 1]) == [0, 0] and not committed(net.urls[0], setup[-1]),
                 4.0, "height 0 with a pending transaction")
        net.start(2)
        net.wait_ready([2])
        wait_for(lambda: all(committed(net.urls[i], setup[-1]) for i in [0, 1, 2]), RESUME_S,
                 "the pending setup to commit once a quorum is up")
        feed = TxFeed("S1", MARCH_2015)
        commit_one(net, feed, via=2, on=[0, 1, 2], timeout_s=RESUME_S)
        net.start(3)
        net.wait_ready([3])
        wait_agreed(net, ALL)
        commit_one(net, feed, via=3, on=ALL, timeout_s=RESUME_S)
        assert_one_chain(net, ALL)
    finally:
        net.stop_all()


@pytest.mark.timeout(90)
def test_two_of_four_down_halts_then_resumes(net: LocalNetwork, feed: TxFeed) -> None:
    base = wait_agreed(net, ALL)
    net.kill(2)
    net.kill(3)
    pending: list[Tx] = []

    def halted_while_submitting() -> bool:
        tx = feed.next()[0]
        assert submit(net.urls[len(pending) % 2], [tx])[0]["status"] == "pending"
        pending.append(tx)
        return heights(net, [0, 1]) == [base, base]

    checks = hold_for(halted_while_submitting, 20.0, "no commit with 2 of 4 validators")
    assert checks >= 20 and not committed(net.urls[0], pending[0])
    net.start(2)
    net.wait_ready([2])
    # One returned: three of four is a quorum, the held transactions and a new one commit.
    wait_for(lambda: all(committed(net.urls[i], pending[-1]) for i in [0, 1, 2]), RESUME_S,
             "the transactions held during the halt to commit")
    commit_one(net, feed, via=2, on=[0, 1, 2], timeout_s=RESUME_S)
    assert all(committed(net.urls[2], tx) for tx in pending), "a held transaction was lost"
    net.start(3)
    net.wait_ready([3])
    assert wait_agreed(net, ALL) > base
    assert_one_chain(net, ALL)
    no_evidence_anywhere(net)


PAIRS = [(0, 1), (2, 3), (0, 2), (1, 3), (0, 3), (1, 2), (0, 1), (2, 3), (1, 3), (0, 2)]
"""The two validators restarted in each of the ten rounds (every pair of 4 at least once)."""


@pytest.mark.timeout(150)
def test_two_validators_restarted_mid_round_ten_times(net: LocalNetwork, feed: TxFeed) -> None:
    flowing = []
    for attempt, pair in enumerate(PAIRS):
        sig = signal.SIGKILL if attempt % 2 == 0 else signal.SIGTERM
        stays = [i for i in ALL if i not in pair]
        batch = feed.next(3)
        assert {r["status"] for r in submit(net.urls[stays[0]], batch)} == {"pending"}
        flowing += batch
        # Kill while the height is running: the restarted pair already holds the batch.
        wait_held(net.urls[pair[0]], batch[-1], 5)
        restart(net, list(pair), sig)
        # The clock starts when both answer again: process start-up (imports, store
        # open) is CPU-bound and no consensus property; the commit deadline is.
        net.wait_ready(list(pair))
        commit_one(net, feed, via=pair[0], on=[*pair, *stays], timeout_s=RESUME_S)
    wait_for(lambda: all(committed(net.urls[3], tx) for tx in flowing), RESUME_S,
             "every transaction submitted around the restarts to commit")
    wait_agreed(net, ALL)
    assert_one_chain(net, ALL)
    no_evidence_anywhere(net)


@pytest.mark.timeout(60)
def test_all_validators_killed_resume_from_their_heights(net: LocalNetwork,
                                                         feed: TxFeed) -> None:
    before = wait_agreed(net, ALL)
    for i in ALL:
        net.kill(i)
    for i in ALL:
        net.start(i)
    net.wait_ready(ALL)
    # The pool died with the processes and no heartbeat is due: nothing commits before
    # the next transaction, so each node must stand exactly where it was killed.
    assert heights(net, ALL) == [before] * 4
    for _ in range(2):
        commit_one(net, feed, via=0, on=ALL, timeout_s=RESUME_S)
    assert wait_agreed(net, ALL) >= before + 2
    assert_one_chain(net, ALL)
    no_evidence_anywhere(net)


CRASH_LOG = re.compile(r"TEST ONLY: crashing after vote (\d+) \(type (\d+), height (\d+), "
                       r"round (\d+)\)")


def crash_after_votes(net: LocalNetwork, feed: TxFeed, victim: int,
                      votes: int) -> tuple[int, int, int]:
    """Run `victim` with the test-only crash flag until it kills itself; check its files.

    Returns the (vote type, height, round) of the vote it crashed after.
    """
    assert net.stop(victim) == 0
    net.start(victim, ("--test-crash-after-votes", str(votes)))
    net.wait_ready([victim])
    proc = net.procs[victim]
    feed_until(net, feed, target=(victim + 1) % 4, predicate=lambda: proc.poll() is not None,
               timeout_s=30, what=f"node{victim} to crash after vote {votes}")
    assert proc.returncode == -signal.SIGKILL
    home = net.homes[victim].home
    crashes = CRASH_LOG.findall((home / "node.log").read_text())
    assert crashes and int(crashes[-1][0]) == votes, crashes
    vote_type, height, round_ = (int(x) for x in crashes[-1][1:])
    # The sign-state was fsynced before the vote left: it records exactly that vote.
    signed = sign_state_from_bytes((home / "sign_state.msgpack").read_bytes())
    step = STEP_PRECOMMIT if vote_type == PRECOMMIT else STEP_PREVOTE
    assert (signed.height, signed.round, signed.step) == (height, round_, step)
    return vote_type, height, round_


@pytest.mark.timeout(120)
def test_validator_killed_right_after_a_vote_never_double_signs(net: LocalNetwork,
                                                                feed: TxFeed) -> None:
    victim = 1
    # Three others up: they commit on while the victim is dead.
    crash_after_votes(net, feed, victim, votes=2)
    commit_one(net, feed, via=0, on=[0, 2, 3], timeout_s=RESUME_S)
    net.start(victim)
    net.wait_ready([victim])
    commit_one(net, feed, via=victim, on=ALL, timeout_s=RESUME_S)
    # Node3 down: the victim's votes are needed. Its first vote in a process is a prevote
    # (a precommit follows its own prevote), so it dies inside a height nobody can
    # decide without it, and must rejoin that very height bound by its sign-state.
    assert net.stop(3) == 0
    vote_type, crash_height, _ = crash_after_votes(net, feed, victim, votes=1)
    assert vote_type == PREVOTE
    assert max(heights(net, [0, 2])) < crash_height
    net.start(victim)
    net.wait_ready([victim])
    commit_one(net, feed, via=victim, on=[0, 1, 2], timeout_s=RESUME_S)
    net.start(3)
    net.wait_ready([3])
    wait_agreed(net, ALL)
    assert_one_chain(net, ALL)
    no_evidence_anywhere(net)

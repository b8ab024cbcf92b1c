"""A deterministic simulated network for the consensus machine (STYLE.md §8).

One fake clock, one priority queue of deliveries and local events (timeouts, block
build and check answers), and one seeded `random.Random` for delays, drops and the
choices of faulty validators, so a seed replays exactly. Each validator runs the real
machine; a small fake node executes its actions the way `node/runtime.py` is meant to:
build and check blocks, persist the sign-state before sending, commit and start the next
height, re-gossip its own messages, and catch up from peers when it falls behind.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, replace
from typing import Any

from simchecks import message_position, message_value

from greenchain.consensus.events import (
    Action,
    BlockBuilt,
    BlockChecked,
    Broadcast,
    BuildBlock,
    CheckBlock,
    CommitBlock,
    Event,
    EvidenceFound,
    PersistSignState,
    ProposalReceived,
    ScheduleTimeout,
    StartHeight,
    TimeoutFired,
    VoteReceived,
)
from greenchain.consensus.machine import (
    ConsensusState,
    MachineConfig,
    handle,
    initial_state,
    known_messages,
    new_height,
)
from greenchain.consensus.quorum import verify_commit
from greenchain.consensus.safety import (
    NOTHING_SIGNED,
    LastSigned,
    may_sign,
)
from greenchain.crypto.hashing import sha256
from greenchain.crypto.keys import KeyPair, key_from_seed
from greenchain.errors import BadCommit
from greenchain.model.blocks import (
    NIL,
    ZERO_HASH,
    Block,
    Commit,
    Header,
    Proposal,
    Vote,
    make_block,
    make_proposal,
    make_vote,
)

CHAIN_ID = "greenchain-sim"
GENESIS_MS = 1_700_000_000_000
BUILD_DELAY_S = 0.005
CHECK_DELAY_S = 0.002
CATCHUP_DELAY_S = 0.05
Message = Proposal | Vote

_KEYS: dict[int, KeyPair] = {}
_GOOD_COMMITS: set[tuple[bytes, bytes, int, tuple[bytes, ...]]] = set()


def validator_key(index: int) -> KeyPair:
    """Fixed key of `validator_<index>` (cached: key derivation is not free)."""
    if index not in _KEYS:
        _KEYS[index] = key_from_seed(f"validator_{index}")
    return _KEYS[index]


@dataclass
class Scenario:
    n: int = 4
    heights: int = 5
    silent: frozenset[int] = frozenset()
    equivocators: frozenset[int] = frozenset()
    invalid_proposers: frozenset[int] = frozenset()
    drop_p: float = 0.0
    drop_until_s: float = 0.0
    partitioned: frozenset[int] = frozenset()
    partition_until_s: float = 0.0
    delay_s: tuple[float, float] = (0.001, 0.05)
    start_spread_s: float = 0.0
    restart_node: int | None = None
    restarts: int = 0
    regossip_s: float = 1.0
    max_time_s: float = 120.0


@dataclass
class SimNode:
    index: int
    key: KeyPair
    config: MachineConfig
    state: ConsensusState
    chain: list[tuple[Block, Commit]] = field(default_factory=list)
    persisted: LastSigned = NOTHING_SIGNED
    evidence: list[EvidenceFound] = field(default_factory=list)
    alive: bool = True
    incarnation: int = 0
    persists: int = 0
    catching_up: bool = False
    seen: set[bytes] = field(default_factory=set)
    commit_times: list[float] = field(default_factory=list)


def check_commit(commit: Commit, block_hash: bytes, height: int,
                 validators: tuple[bytes, ...]) -> None:
    """`verify_commit`, remembered: nodes check the same commits many times over."""
    memo = (commit.commit_hash(), block_hash, height, validators)
    if memo not in _GOOD_COMMITS:
        verify_commit(CHAIN_ID, commit, block_hash, height, validators)
        _GOOD_COMMITS.add(memo)


class SimNetwork:
    """Runs `scenario` with seed `seed` until every honest node has the heights."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.now = 0.0
        self.queue: list[tuple[float, int, str, int, Any, int]] = []
        self.seq = 0
        self.validators = tuple(validator_key(i).public for i in range(scenario.n))
        self.nodes = [self._make_node(i) for i in range(scenario.n)]
        self.signed: list[Message] = []
        self.restarts_done = 0
        self.dropped = 0
        self.crash_points = self._plan_crashes()
        for node in self.nodes:
            self._push(self.rng.uniform(0, scenario.start_spread_s), "local", node.index,
                       StartHeight())
            self._push(scenario.regossip_s, "regossip", node.index, None)

    # --- setup ------------------------------------------------------------------------
    def _make_node(self, index: int) -> SimNode:
        key = validator_key(index)
        config = MachineConfig(CHAIN_ID, key)
        state = initial_state(config, 1, self.validators, NOTHING_SIGNED)
        return SimNode(index, key, config, state)

    def _plan_crashes(self) -> dict[int, str]:
        if self.scenario.restart_node is None:
            return {}
        points = sorted(self.rng.sample(range(1, 12), self.scenario.restarts))
        return {p: self.rng.choice(["before_send", "after_send"]) for p in points}

    def honest(self) -> list[SimNode]:
        bad = self.scenario.silent | self.scenario.equivocators
        return [n for n in self.nodes if n.index not in bad]

    # --- queue ------------------------------------------------------------------------
    def _push(self, delay: float, kind: str, target: int, payload: Any) -> None:
        self.seq += 1
        incarnation = self.nodes[target].incarnation
        heapq.heappush(self.queue, (self.now + delay, self.seq, kind, target, payload,
                                    incarnation))

    def run(self) -> SimNetwork:
        while self.queue and not self._finished():
            at, _, kind, target, payload, incarnation = heapq.heappop(self.queue)
            if at > self.scenario.max_time_s:
                break
            self.now = at
            self._step(kind, self.nodes[target], payload, incarnation)
        return self

    def _finished(self) -> bool:
        return all(len(n.chain) >= self.scenario.heights for n in self.honest())

    def _step(self, kind: str, node: SimNode, payload: Any, incarnation: int) -> None:
        if kind == "up":
            self._restart(node)
        elif kind == "regossip":
            self._regossip(node)
        elif node.index in self.scenario.silent or not node.alive:
            return
        elif kind == "deliver":
            self._deliver(node, payload)
        elif kind == "catchup":
            self._catch_up(node)
        elif incarnation == node.incarnation:  # timers die with the process
            self._feed(node, payload)

    # --- node behaviour ---------------------------------------------------------------
    def _regossip(self, node: SimNode) -> None:
        # No retransmission means a lost message can stall a round; peers re-send theirs.
        if node.alive:
            for message in known_messages(node.state):
                self._send(node, message)
        self._push(self.scenario.regossip_s, "regossip", node.index, None)

    def _deliver(self, node: SimNode, message: Message) -> None:
        # The p2p seen-cache (DESIGN §7): a message already handled never reaches the machine.
        if message.signature in node.seen:
            return
        node.seen.add(message.signature)
        if message.height > node.state.height and not node.catching_up:
            node.catching_up = True
            self._push(CATCHUP_DELAY_S, "catchup", node.index, None)
        event: Event = ProposalReceived(message) if isinstance(message, Proposal) \
            else VoteReceived(message)
        self._feed(node, event)

    def _feed(self, node: SimNode, event: Event) -> None:
        node.state, actions = handle(node.config, node.state, event, self.now)
        for action in actions:
            if not node.alive:
                return  # crashed in the middle: the rest never happens
            self._execute(node, action)

    def _execute(self, node: SimNode, action: Action) -> None:
        if isinstance(action, Broadcast):
            self._broadcast(node, action.message)
        elif isinstance(action, PersistSignState):
            self._persist(node, action)
        elif isinstance(action, ScheduleTimeout):
            timeout = TimeoutFired(action.height, action.round, action.step)
            self._push(action.delay_s, "local", node.index, timeout)
        elif isinstance(action, BuildBlock):
            built = BlockBuilt(action.height, action.round, self._build(node, action.round))
            self._push(BUILD_DELAY_S, "local", node.index, built)
        elif isinstance(action, CheckBlock):
            checked = BlockChecked(action.block.block_hash, self._is_valid(node, action.block))
            self._push(CHECK_DELAY_S, "local", node.index, checked)
        elif isinstance(action, CommitBlock):
            self._commit(node, action.block, action.commit)
            self._push(0.0, "local", node.index, StartHeight())
        else:
            node.evidence.append(action)

    def _persist(self, node: SimNode, action: PersistSignState) -> None:
        new = LastSigned(action.height, action.round, action.step, action.block_hash,
                         action.locked_round, action.locked_hash)
        assert may_sign(node.persisted, new.height, new.round, new.step, new.block_hash)
        node.persisted = new
        node.persists += 1
        mode = self.crash_points.get(node.persists) if node.index == \
            self.scenario.restart_node else None
        if mode == "before_send":
            self._crash(node)

    def _broadcast(self, node: SimNode, message: Message) -> None:
        persisted = node.persisted
        # The sign-state on disk must already cover what leaves (DESIGN §6).
        assert (persisted.height, persisted.round, persisted.step) >= message_position(message)
        if (persisted.height, persisted.round, persisted.step) == message_position(message):
            assert persisted.block_hash == message_value(message)
        self.signed.append(message)
        if node.index in self.scenario.equivocators:
            self._equivocate(node, message)
        else:
            self._send(node, message)
        if self.crash_points.get(node.persists) == "after_send" and \
                node.index == self.scenario.restart_node:
            self._crash(node)

    def _crash(self, node: SimNode) -> None:
        node.alive = False
        node.incarnation += 1
        del self.crash_points[node.persists]
        self._push(self.rng.uniform(0.0, 0.5), "up", node.index, None)

    def _restart(self, node: SimNode) -> None:
        # A new process: chain and sign-state come from disk, everything else is lost.
        node.alive = True
        node.catching_up = False
        node.seen = set()
        height = len(node.chain) + 1
        node.state = initial_state(node.config, height, self.validators, node.persisted)
        self.restarts_done += 1
        self._push(0.0, "local", node.index, StartHeight())

    def _send(self, node: SimNode, message: Message) -> None:
        for peer in self.nodes:
            if peer is not node:
                self._send_to(node, peer, message)

    def _send_to(self, node: SimNode, peer: SimNode, message: Message,
                 extra_delay: float = 0.0) -> None:
        if node.index in self.scenario.silent:
            return
        cut_off = {node.index, peer.index} & self.scenario.partitioned
        if cut_off and self.now < self.scenario.partition_until_s:
            self.dropped += 1
            return
        if self.now < self.scenario.drop_until_s and self.rng.random() < self.scenario.drop_p:
            self.dropped += 1
            return
        delay = self.rng.uniform(*self.scenario.delay_s) + extra_delay
        self._push(delay, "deliver", peer.index, message)

    def _equivocate(self, node: SimNode, message: Message) -> None:
        """Send the machine's message and a conflicting one, to different peers."""
        other = self._conflicting(node, message)
        peers = [p for p in self.nodes if p is not node]
        for position, peer in enumerate(peers):
            # The first peer always gets both, so evidence can be found.
            choice = "AB" if position == 0 else self.rng.choice(["A", "B", "AB", "BA"])
            for offset, label in enumerate(choice):
                self._send_to(node, peer, message if label == "A" else other, 1e-4 * offset)

    def _conflicting(self, node: SimNode, message: Message) -> Message:
        if isinstance(message, Proposal):
            header = message.block.header
            twin = make_block(replace(header, timestamp_ms=header.timestamp_ms + 1),
                              message.block.txs, message.block.last_commit)
            return make_proposal(node.key, CHAIN_ID, twin, message.round, message.pol_round)
        value = NIL if message.block_hash != NIL else sha256(b"bogus" + message.signature)
        return make_vote(node.key, CHAIN_ID, message.vote_type, message.height,
                         message.round, value)

    def _build(self, node: SimNode, round_: int) -> Block:
        prev, last_commit = node.chain[-1] if node.chain else (None, None)
        header = Header(
            CHAIN_ID, len(node.chain) + 1, round_, GENESIS_MS + int(self.now * 1000),
            node.key.public, prev.block_hash if prev else ZERO_HASH, ZERO_HASH,
            last_commit.commit_hash() if last_commit else ZERO_HASH, ZERO_HASH, ZERO_HASH,
        )
        return make_block(header, (), last_commit)

    def _is_valid(self, node: SimNode, block: Block) -> bool:
        header = block.header
        prev = node.chain[-1][0].block_hash if node.chain else ZERO_HASH
        if header.chain_id != CHAIN_ID or header.height != len(node.chain) + 1 or \
                header.prev_block_hash != prev:
            return False
        if header.proposer in {self.validators[i] for i in self.scenario.invalid_proposers}:
            return False
        if block.last_commit is None:
            return header.height == 1
        try:
            check_commit(block.last_commit, prev, header.height - 1, self.validators)
        except BadCommit:
            return False
        return True

    def _commit(self, node: SimNode, block: Block, commit: Commit) -> None:
        height = len(node.chain) + 1
        assert block.header.height == height
        assert self._is_valid(node, block), "the machine committed a block it did not check"
        check_commit(commit, block.block_hash, height, self.validators)
        node.chain.append((block, commit))
        node.commit_times.append(self.now)
        node.state = new_height(node.config, node.state, height + 1, self.validators)

    def _catch_up(self, node: SimNode) -> None:
        node.catching_up = False
        donor = max(self.nodes, key=lambda n: len(n.chain))
        caught = False
        while len(node.chain) < len(donor.chain):
            block, commit = donor.chain[len(node.chain)]
            prev = node.chain[-1][0].block_hash if node.chain else ZERO_HASH
            assert block.header.prev_block_hash == prev
            check_commit(commit, block.block_hash, len(node.chain) + 1, self.validators)
            node.chain.append((block, commit))
            node.commit_times.append(self.now)
            caught = True
        if caught:
            node.state = new_height(node.config, node.state, len(node.chain) + 1,
                                    self.validators)
            self._push(0.0, "local", node.index, StartHeight())

"""Runs the consensus machine: feeds it events, carries out its actions (DESIGN §6).

The machine is pure; here live the timers (asyncio), the sign-state file (fsynced
before a vote or proposal leaves), the block builder and checker (the ledger through
`NodeService`) and gossip. Events produced while executing actions are queued and fed
in order, never recursively.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections import deque
from collections.abc import Callable
from pathlib import Path

from greenchain.codec import encode
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
    new_height,
    own_messages,
)
from greenchain.consensus.safety import LastSigned
from greenchain.crypto.hashing import sha256
from greenchain.crypto.keys import KeyPair
from greenchain.errors import GreenChainError
from greenchain.model.blocks import Block, Proposal, Vote, make_vote, proposal_to_fields
from greenchain.model.fields import to_fields
from greenchain.node.service import NodeService
from greenchain.node.signstate import save_sign_state
from greenchain.params import BATCH_DELAY_S, HEARTBEAT_S, MAX_BLOCK_TXS

log = logging.getLogger("greenchain.consensus")


class ConsensusDriver:
    """Owns the machine state of one node and executes its actions.

    Parameters
    ----------
    service:
        The node's chain state and pool.
    key:
        The validator key, or None for a non-validator (it follows, never signs).
    sign_state_path:
        The sign-state file.
    last_signed:
        Its loaded content.
    broadcast:
        Sends a signed proposal or vote to every peer.
    silent_until_height:
        With ``--recover-sign-state``: sign nothing before this height is reached.

    Attributes
    ----------
    test_equivocate:
        TEST ONLY (fault-injection harness, ``node run --test-equivocate``): after each
        vote it casts, also sign and broadcast a conflicting vote for a random hash,
        bypassing the sign-state. Never set on a real validator.
    test_crash_after_votes:
        TEST ONLY (``node run --test-crash-after-votes N``): when N > 0, the N-th vote
        this process casts is handed to `test_crash`, right after its sign-state fsync
        and its broadcast; 0 (the default) never crashes.
    test_crash:
        Called with that vote; the runtime delivers it to every peer and SIGKILLs the
        process (`NodeRuntime.deliver_then_crash`).
    """

    def __init__(self, service: NodeService, key: KeyPair | None, sign_state_path: Path,
                 last_signed: LastSigned, broadcast: Callable[[Proposal | Vote], None],
                 silent_until_height: int = 0) -> None:
        self.service = service
        self.sign_state_path = sign_state_path
        self.broadcast = broadcast
        self.silent_until_height = silent_until_height
        self.signing_config = MachineConfig(service.genesis.chain_id, key)
        self.observer_config = MachineConfig(service.genesis.chain_id, None)
        self.state: ConsensusState = initial_state(
            self.config, service.tip.height + 1, service.validators, last_signed)
        self.events: deque[Event] = deque()
        self.running = False
        self.start_pending = False
        self.last_block_s = service.clock()
        self.test_equivocate = False
        self.test_crash_after_votes = 0
        self.test_crash: Callable[[Vote], None] = _crash_now
        self.votes_cast = 0
        service.on_commit_hooks.append(self._after_commit)

    @property
    def config(self) -> MachineConfig:
        """The machine config: signing unless this validator must stay silent."""
        if self.service.tip.height + 1 < self.silent_until_height:
            return self.observer_config
        return self.signing_config

    def now_s(self) -> float:
        """Monotonic seconds (the event loop's clock)."""
        return asyncio.get_running_loop().time()

    # --- feeding --------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        """Queue `event` and run the machine until no event is left."""
        self.events.append(event)
        if self.running:
            return
        self.running = True
        try:
            while self.events:
                current = self.events.popleft()
                self.state, actions = handle(self.config, self.state, current, self.now_s())
                for action in actions:
                    self._execute(action)
        finally:
            self.running = False

    def on_message(self, message: Proposal | Vote) -> None:
        """Feed a proposal or vote from a peer (the machine checks signatures)."""
        # Height + 1 goes in too: the machine keeps it and replays it after the commit.
        if not self.state.height <= message.height <= self.state.height + 1:
            return
        if self._is_known(message):
            return
        if isinstance(message, Proposal):
            self.feed(ProposalReceived(message))
        else:
            self.feed(VoteReceived(message))

    def _is_known(self, message: Proposal | Vote) -> bool:
        # A re-gossiped copy of a message the machine holds: skip its signature check.
        if message.height != self.state.height:
            return False
        if isinstance(message, Proposal):
            known = self.state.proposals.get(message.round)
            return known is not None and known.signature == message.signature
        bucket = self.state.votes.buckets.get((message.vote_type, message.round), {})
        return bucket.get((message.validator, message.block_hash)) == message

    def maybe_start(self) -> None:
        """Start round 0 when the pool is non-empty or the heartbeat is due (DESIGN §6)."""
        self.start_pending = False
        if self.state.started:
            return
        heartbeat_due = self.service.clock() - self.last_block_s >= HEARTBEAT_S
        if len(self.service.mempool) or heartbeat_due:
            self.feed(StartHeight())

    def schedule_start(self) -> None:
        """Start after the batching delay (so blocks fill), or at once when the pool is full."""
        if self.state.started or self.start_pending:
            return
        self.start_pending = True
        delay = 0.0 if len(self.service.mempool) >= MAX_BLOCK_TXS else BATCH_DELAY_S
        asyncio.get_running_loop().call_later(delay, self.maybe_start)

    def to_resend(self) -> list[Proposal | Vote]:
        """Return what to re-send periodically: own proposals and every vote held.

        Votes of other validators are relayed too. Algorithm 1 of arXiv:1807.04938 is
        live only if a message a correct validator received reaches every correct one
        (its §2 gossip); re-sending only our own votes broke that: a prevote whose author
        crashed right after sending it never reached the validators that had missed it,
        so the polka that locked two validators stayed unprovable to the other two and
        the height halted for good. Each vote is signed by its author: relaying needs
        no trust. Blocks travel in proposals, and a locked value is re-proposed.
        """
        mine = [m for m in own_messages(self.config, self.state) if isinstance(m, Proposal)]
        return [*mine, *self.state.votes.all_votes()]

    def reset_to_tip(self) -> None:
        """Move the machine to the height after the tip (after catch-up commits)."""
        self.state = new_height(self.config, self.state, self.service.tip.height + 1,
                                self.service.validators)

    def _after_commit(self, block: Block) -> None:
        # One line per block, as operators of CometBFT or Besu expect to see progress.
        log.info("committed height %d round %d: %d txs, app_hash %s", block.header.height,
                 block.header.round, len(block.txs), block.header.app_hash.hex()[:16])
        self.last_block_s = self.service.clock()
        self.reset_to_tip()
        if len(self.service.mempool):
            self.schedule_start()

    # --- actions --------------------------------------------------------------------
    def _execute(self, action: Action) -> None:
        if isinstance(action, PersistSignState):
            save_sign_state(self.sign_state_path, LastSigned(
                action.height, action.round, action.step, action.block_hash,
                action.locked_round, action.locked_hash))
        elif isinstance(action, Broadcast):
            self.broadcast(action.message)
            if isinstance(action.message, Vote):
                self._after_vote_sent(action.message)
        elif isinstance(action, ScheduleTimeout):
            event = TimeoutFired(action.height, action.round, action.step)
            asyncio.get_running_loop().call_later(action.delay_s, self.feed, event)
        elif isinstance(action, BuildBlock):
            self._build(action)
        elif isinstance(action, CheckBlock):
            self._check(action)
        elif isinstance(action, CommitBlock):
            self.service.commit(action.block, action.commit)
        elif isinstance(action, EvidenceFound):
            self._store_evidence(action)

    def _after_vote_sent(self, vote: Vote) -> None:
        # Only the TEST ONLY fault injections act here; a real validator does nothing.
        if self.test_equivocate:
            self._equivocate(vote)
        self.votes_cast += 1
        if self.votes_cast == self.test_crash_after_votes:
            log.warning("TEST ONLY: crashing after vote %d (type %d, height %d, round %d)",
                        self.votes_cast, vote.vote_type, vote.height, vote.round)
            self.test_crash(vote)

    def _equivocate(self, vote: Vote) -> None:
        # TEST ONLY: a Byzantine validator for the chaos harness. The conflicting copy
        # deliberately skips may_sign and the sign-state file.
        key = self.signing_config.key
        assert key is not None
        self.broadcast(make_vote(key, self.service.genesis.chain_id, vote.vote_type,
                                 vote.height, vote.round, os.urandom(32)))

    def _build(self, action: BuildBlock) -> None:
        key = self.signing_config.key
        assert key is not None
        built = self.service.build_block(action.round, key.public)
        self.events.append(BlockBuilt(action.height, action.round, built.block))

    def _check(self, action: CheckBlock) -> None:
        try:
            self.service.check_block(action.block)
            valid = True
        except GreenChainError as exc:
            log.warning("proposed block %s invalid: %s", action.block.block_hash.hex()[:12],
                        exc.message)
            valid = False
        self.events.append(BlockChecked(action.block.block_hash, valid))

    def _store_evidence(self, action: EvidenceFound) -> None:
        first, second = (_message_fields(action.first), _message_fields(action.second))
        digest = sha256(encode([first, second]))
        self.service.store.add_evidence(action.validator, digest,
                                        [action.validator, first, second])
        log.warning("evidence of equivocation by %s", action.validator.hex()[:12])


def _crash_now(vote: Vote) -> None:
    # TEST ONLY: die like a power cut (no cleanup, no flush, no atexit handlers).
    os.kill(os.getpid(), signal.SIGKILL)


def _message_fields(message: Proposal | Vote) -> list[object]:
    if isinstance(message, Proposal):
        return ["proposal", proposal_to_fields(message)]
    return ["vote", to_fields(message)]

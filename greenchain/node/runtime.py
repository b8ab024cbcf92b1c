"""The node runtime: wires store, service, consensus driver, gossip and catch-up.

`NodeRuntime` implements the peer routes' callbacks (`PeerHandler`) and runs the
background loops: transaction gossip batching, catch-up polling, the start/heartbeat
tick and the periodic re-send of the height's votes (own and relayed) and own proposals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import urllib.request
from collections import deque
from typing import Any

import aiohttp

from greenchain.crypto.keys import KeyPair
from greenchain.model.blocks import Block, Commit, Proposal, Vote
from greenchain.model.genesis import Genesis
from greenchain.node.catchup import PeerBench, catch_up
from greenchain.node.config import NodeConfig
from greenchain.node.driver import ConsensusDriver
from greenchain.node.service import NodeService
from greenchain.node.signstate import load_sign_state, lost_blocks_warning
from greenchain.p2p.client import PeerLink, split_tx_batches
from greenchain.p2p.messages import PeerMessage, TxBatch, encode_blocks, encode_message
from greenchain.p2p.server import MSGPACK
from greenchain.params import ADMIT_CHUNK, MAX_BLOCK_TXS, MAX_BODY_BYTES
from greenchain.store.chain import ChainStore

log = logging.getLogger("greenchain.node")

GOSSIP_INTERVAL_S = 0.02
CATCHUP_INTERVAL_S = 1.0
TICK_S = 0.25
REGOSSIP_S = 1.0
INBOX_LIMIT = 10_000
PENDING_RESEND_S = 2.0
LEFT_OVER_RESEND_TXS = 500
LEFT_OVER_RESEND_S = 0.5
"""Oldest pending transactions re-sent after a commit that left transactions behind."""
CRASH_SEND_TIMEOUT_S = 1.0


class NodeRuntime:
    """One running node.

    Parameters
    ----------
    config:
        The node config.
    genesis:
        The chain's genesis.
    key:
        The validator key, or None.
    store:
        The opened chain store.
    recover_sign_state:
        Create a missing sign-state file and stay silent until caught up.
    """

    def __init__(self, config: NodeConfig, genesis: Genesis, key: KeyPair | None,
                 store: ChainStore, recover_sign_state: bool = False) -> None:
        self.config = config
        self.service = NodeService(genesis, store)
        last_signed, recovering = load_sign_state(config.sign_state_file, recover_sign_state)
        self.lost_blocks = lost_blocks_warning(self.service.tip.height, last_signed)
        if self.lost_blocks:
            log.warning("%s", self.lost_blocks)
        silent_until = 0
        if recovering:
            # Stay silent until one full height past the network's current one committed.
            silent_until = 10**18
        self.recovering = recovering
        self.driver = ConsensusDriver(self.service, key, config.sign_state_file, last_signed,
                                      self.broadcast, silent_until)
        self.driver.test_crash = self.deliver_then_crash
        self.left_over_sent_s = float("-inf")
        self.service.on_commit_hooks.append(self._resend_left_over)
        self.outbox: list[bytes] = []
        self.links: list[PeerLink] = []
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.bench = PeerBench()
        self.inbox_urgent: deque[Proposal | Vote] = deque(maxlen=INBOX_LIMIT)
        self.inbox_bulk: deque[TxBatch] = deque(maxlen=INBOX_LIMIT)
        self.inbox_ready = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Open peer links and start the background loops."""
        self.session = aiohttp.ClientSession()
        self.links = [PeerLink(url, self.session) for url in self.config.peers]
        for link in self.links:
            link.start()
        loop = asyncio.get_running_loop()
        for coro in (self._gossip_loop(), self._catchup_loop(), self._tick_loop(),
                     self._inbox_loop()):
            self.tasks.append(loop.create_task(coro))

    async def stop(self) -> None:
        """Stop loops and links, close the session and the store."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for link in self.links:
            await link.stop()
        if self.session:
            await self.session.close()
        self.service.store.close()

    # --- gossip ---------------------------------------------------------------------
    def broadcast(self, message: Proposal | Vote) -> None:
        """Send a signed proposal or vote to every peer."""
        data = encode_message(message)
        for link in self.links:
            link.send(data)

    def deliver_then_crash(self, vote: Vote) -> None:
        """TEST ONLY: post `vote` to every peer synchronously, then SIGKILL this process.

        Backs ``node run --test-crash-after-votes N`` (see `ConsensusDriver`). The posts
        block the event loop on purpose: nothing else is signed between the vote leaving
        and the crash, so the peers hold the last vote the sign-state records. A peer
        that is down or slow is skipped after `CRASH_SEND_TIMEOUT_S`.
        """
        data = encode_message(vote)
        for url in self.config.peers:
            request = urllib.request.Request(f"{url.rstrip('/')}/p2p/msg", data=data,
                                             headers={"Content-Type": MSGPACK})
            with contextlib.suppress(OSError):
                urllib.request.urlopen(request, timeout=CRASH_SEND_TIMEOUT_S).close()
        os.kill(os.getpid(), signal.SIGKILL)

    def resend_known(self) -> None:
        """Re-send own proposals and every vote held for the height (loss recovery).

        Each link keeps only the latest snapshot and sends it after fresh messages, so
        re-sends never accumulate behind a slow peer (they used to share the vote queue,
        and the backlog grew with every round until rounds could no longer complete).
        """
        datas = [encode_message(message) for message in self.driver.to_resend()]
        for link in self.links:
            link.resend(datas)

    def relay_txs(self, raws: list[bytes]) -> None:
        """Queue admitted transactions for the next gossip batch."""
        self.outbox.extend(raws)
        if raws:
            self.driver.schedule_start()

    async def _gossip_loop(self) -> None:
        while True:
            await asyncio.sleep(GOSSIP_INTERVAL_S)
            if not self.outbox:
                continue
            raws, self.outbox = self.outbox, []
            for batch in split_tx_batches(raws):
                data = encode_message(batch)
                for link in self.links:
                    link.send(data, urgent=False)

    # --- peer callbacks ---------------------------------------------------------------
    def on_peer_message(self, message: PeerMessage) -> None:
        """Queue a decoded peer message for the inbox task (PeerHandler).

        The HTTP answer goes back at once; consensus messages are processed before
        transaction batches, so gossip load never delays a vote.
        """
        if isinstance(message, TxBatch):
            # In chunks: votes and client requests run between them, so one large batch
            # (up to ~46k envelopes in a body, each a signature check) never stalls the node.
            for start in range(0, len(message.raws), ADMIT_CHUNK):
                self.inbox_bulk.append(TxBatch(message.raws[start:start + ADMIT_CHUNK]))
        else:
            self.inbox_urgent.append(message)
        self.inbox_ready.set()

    async def _inbox_loop(self) -> None:
        while True:
            if not self.inbox_urgent and not self.inbox_bulk:
                self.inbox_ready.clear()
                await self.inbox_ready.wait()
            while self.inbox_urgent:
                self.process_safely(self.inbox_urgent.popleft())
            if self.inbox_bulk:
                self.process_safely(self.inbox_bulk.popleft())
            await asyncio.sleep(0)

    def process_safely(self, message: PeerMessage) -> None:
        """Process one peer message; an unexpected error is logged, never fatal.

        A peer message must not be able to stop this loop: the node would go on
        answering clients while ignoring every vote (a silent halt).
        """
        try:
            self.process_message(message)
        except Exception:  # noqa: BLE001 - the loop must survive any one message
            log.exception("peer message of kind %s could not be processed",
                          type(message).__name__)

    def process_message(self, message: PeerMessage) -> None:
        """Handle one peer message: admit and relay transactions, or feed consensus."""
        if isinstance(message, TxBatch):
            # Relay only what this node admitted just now: dedup by tx id (DESIGN §7).
            self.relay_txs([raw for raw in message.raws if self.service.submit(raw).new])
            return
        if message.height > self.service.tip.height + 1:
            self.kick_catchup()
        self.driver.on_message(message)

    def blocks_response(self, from_height: int, limit: int) -> bytes:
        """Return finalized blocks with commits from `from_height` (PeerHandler)."""
        items: list[tuple[bytes, Commit]] = []
        size = 0
        store = self.service.store
        for height in range(from_height, min(from_height + limit, self.service.tip.height + 1)):
            raw, commit = store.get_block_bytes(height), store.get_commit(height)
            if raw is None or commit is None:
                break
            size += len(raw) + 200 * len(commit.signatures)
            if items and size > MAX_BODY_BYTES - 64 * 1024:
                break
            items.append((raw, commit))
        return encode_blocks(items)

    def peer_status(self) -> dict[str, Any]:
        """Return chain id, height, block hash and app hash (PeerHandler)."""
        tip = self.service.tip
        return {"chain_id": self.service.genesis.chain_id, "height": tip.height,
                "block_hash": tip.block_hash.hex(), "app_hash": tip.app_hash.hex()}

    def status(self) -> dict[str, Any]:
        """Return the client status document (GET /v1/status)."""
        tip = self.service.tip
        key = self.driver.signing_config.key
        return self.peer_status() | {
            "node": self.config.name,
            "time_ms": tip.time_ms,
            "state_root": tip.state_root.hex(),
            "validator": key.public.hex() if key else None,
            "validators": [v.hex() for v in self.service.validators],
            "round": self.driver.state.round,
            "pool_size": len(self.service.mempool),
            "peers": list(self.config.peers),
            "recovering": self.recovering,
            "lost_blocks_at_start": self.lost_blocks,
        }

    # --- background -------------------------------------------------------------------
    def kick_catchup(self) -> None:
        """Ask the catch-up loop to run now."""
        self._catchup_now.set()

    async def _catchup_loop(self) -> None:
        self._catchup_now = asyncio.Event()
        assert self.session is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._catchup_now.wait(), CATCHUP_INTERVAL_S)
            self._catchup_now.clear()
            committed, behind = await catch_up(self.session, self.service,
                                               self.config.peers, self.bench)
            if committed:
                log.info("caught up %d blocks to height %d", committed,
                         self.service.tip.height)
            if self.recovering and not behind:
                # Recovered sign-state (DESIGN §6): caught up; stay silent until one
                # more height has been committed by the others.
                self.driver.silent_until_height = self.service.tip.height + 2
                self.recovering = False

    def resend_pending(self) -> None:
        """Re-gossip the oldest pending transactions while the height makes no progress.

        A peer may have lost a batch (timeout, restart); if the proposer lacks the
        transactions, its pool stays empty and it never starts the height. Re-sending
        what the next block would take is idempotent (receivers dedup by tx id).
        """
        stalled = self.service.clock() - self.driver.last_block_s >= PENDING_RESEND_S
        if stalled and len(self.service.mempool):
            self._send_pending(MAX_BLOCK_TXS)

    def _send_pending(self, limit: int) -> None:
        pending = self.service.mempool.candidates(limit, MAX_BODY_BYTES)
        for batch in split_tx_batches([tx.raw for tx in pending]):
            data = encode_message(batch)
            for link in self.links:
                link.send(data, urgent=False)

    def _resend_left_over(self, block: Block) -> None:
        # Runs after the pool dropped the block's transactions (NodeService.commit). A
        # block that left transactions behind was proposed by a node lacking them (it
        # restarted, or missed a batch): re-send the oldest at once, or they live on
        # only in the pools holding them and die with those processes.
        now = self.service.clock()
        # At most twice a second: catch-up commits many blocks a second.
        if len(self.service.mempool) and now - self.left_over_sent_s >= LEFT_OVER_RESEND_S:
            self.left_over_sent_s = now
            self._send_pending(LEFT_OVER_RESEND_TXS)

    async def _tick_loop(self) -> None:
        since_regossip = 0.0
        while True:
            await asyncio.sleep(TICK_S)
            self.driver.maybe_start()
            since_regossip += TICK_S
            if since_regossip >= REGOSSIP_S and self.driver.state.started:
                since_regossip = 0.0
                self.resend_known()
                self.resend_pending()

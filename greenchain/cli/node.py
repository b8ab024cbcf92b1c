"""``greenchain node run`` and ``greenchain node init``: one aiohttp app per node.

The peer routes, the client API and the node runtime share one application and port.
SIGINT and SIGTERM stop the node cleanly (the store is closed, nothing half-written).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click
from aiohttp import web

from greenchain.api import ClientApi, add_client_routes, error_middleware
from greenchain.crypto.keys import load_key
from greenchain.errors import ConfigError
from greenchain.model.genesis import load_genesis
from greenchain.node.config import NodeConfig, load_config
from greenchain.node.runtime import NodeRuntime
from greenchain.node.signstate import init_sign_state
from greenchain.p2p.server import add_peer_routes
from greenchain.params import MAX_BODY_BYTES
from greenchain.store.chain import ChainStore
from greenchain.store.leveldb import LevelKV


def build_app(runtime: NodeRuntime) -> web.Application:
    """Return the aiohttp application serving peer routes and the client API."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[error_middleware])
    add_peer_routes(app, runtime)
    add_client_routes(app, ClientApi(runtime.service, runtime.status, runtime.relay_txs))
    return app


async def serve(config: NodeConfig, passphrase: str | None, recover: bool,
                test_equivocate: bool = False, test_crash_after_votes: int = 0) -> None:
    """Run a node until SIGINT or SIGTERM.

    `test_equivocate` is TEST ONLY (the chaos harness): the validator also signs a
    conflicting vote for every vote it casts (see `ConsensusDriver.test_equivocate`).
    `test_crash_after_votes` is TEST ONLY (fault tests): when above 0, the process
    SIGKILLs itself right after its N-th vote has left (see
    `ConsensusDriver.test_crash_after_votes`).
    """
    genesis = load_genesis(config.genesis)
    key = load_key(config.key_file, passphrase) if config.key_file else None
    store = ChainStore(LevelKV(config.data_dir))
    try:
        store.bind_genesis(genesis.genesis_hash, genesis.chain_id)
        runtime = NodeRuntime(config, genesis, key, store, recover)
    except BaseException:
        store.close()
        raise
    if test_equivocate:
        logging.getLogger("greenchain.node").warning("TEST ONLY: equivocating on every vote")
        runtime.driver.test_equivocate = True
    if test_crash_after_votes > 0:
        logging.getLogger("greenchain.node").warning(
            "TEST ONLY: crashing after vote %d", test_crash_after_votes)
        runtime.driver.test_crash_after_votes = test_crash_after_votes
    app = build_app(runtime)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await site.start()
        await runtime.start()
        logging.getLogger("greenchain.node").info(
            "%s listening on %s:%d at height %d", config.name, config.host, config.port,
            runtime.service.tip.height)
        await stop.wait()
    finally:
        await runner.cleanup()
        await runtime.stop()


@click.group("node")
def node_group() -> None:
    """Run and set up validator nodes."""


@node_group.command("run")
@click.option("--home", "home", required=True, type=click.Path(path_type=Path),
              help="Node folder holding config.toml (e.g. nodes/node0).")
@click.option("--passphrase", envvar="GREENCHAIN_KEY_PASSPHRASE", default=None,
              help="Passphrase of the validator key (or GREENCHAIN_KEY_PASSPHRASE).")
@click.option("--recover-sign-state", is_flag=True,
              help="Start without a sign-state file; stay silent until caught up.")
@click.option("--log-level", default="INFO", show_default=True)
@click.option("--test-equivocate", is_flag=True, hidden=True,
              help="TEST ONLY (fault injection): also sign a conflicting vote for every "
                   "vote, bypassing the sign-state. Never use on a real validator.")
@click.option("--test-crash-after-votes", type=click.IntRange(min=0), default=0,
              hidden=True, metavar="N",
              help="TEST ONLY (fault injection): SIGKILL the process right after its "
                   "N-th vote has been sent (0: never). Never use on a real validator.")
def node_run(home: Path, passphrase: str | None, recover_sign_state: bool,
             log_level: str, test_equivocate: bool, test_crash_after_votes: int) -> None:
    """Run a node in the foreground (SIGINT or SIGTERM stops it cleanly)."""
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(home)
    asyncio.run(serve(config, passphrase, recover_sign_state, test_equivocate,
                      test_crash_after_votes))


@node_group.command("init-sign-state")
@click.option("--home", "home", required=True, type=click.Path(path_type=Path))
def node_init_sign_state(home: Path) -> None:
    """Create the sign-state file of a new validator at height 0."""
    config = load_config(home)
    if config.sign_state_file.exists():
        raise ConfigError(f"{config.sign_state_file} already exists: this validator has "
                          "signed before; never reset it (that risks double signing)")
    init_sign_state(config.sign_state_file)
    click.echo(f"created {config.sign_state_file}")


def register(group: click.Group) -> None:
    """Attach the node commands to the top-level group."""
    group.add_command(node_group)

"""Client commands: keys, registration, attestation, transfers, retirements, proofs.

This module holds `register` and the options and output the commands share; each command
lives in its own module (keys, registry, txcmds, attest, certs).
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from greenchain.cli.client import COMMITTED, Answer, NodeClient
from greenchain.errors import NodeRefused
from greenchain.model.transactions import Tx

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_TIMEOUT_S = 30.0


def node_option(func: F) -> F:
    """Add ``--node URL`` (or GREENCHAIN_NODE)."""
    return click.option("--node", "node_url", required=True, envvar="GREENCHAIN_NODE",
                        metavar="URL", help="Base URL of a node, e.g. http://127.0.0.1:26600 "
                        "(or GREENCHAIN_NODE).")(func)


def wait_options(func: F) -> F:
    """Add ``--wait/--no-wait`` and ``--timeout SECONDS``."""
    func = click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.0),
                        default=DEFAULT_TIMEOUT_S, show_default=True,
                        help="Longest wait for the commit, seconds.")(func)
    return click.option("--wait/--no-wait", default=True, show_default=True,
                        help="Wait until the transaction is committed.")(func)


def json_option(func: F) -> F:
    """Add ``--json``: print one JSON object as the last line."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON object as the last line.")(func)


def nonce_option(func: F) -> F:
    """Add ``--nonce N`` (default: the clock in ns, so an intended repeat gets a new id)."""
    return click.option("--nonce", type=click.IntRange(0, 2**64 - 1), default=None,
                        help="Transaction nonce (default: the clock in ns). Reuse a nonce "
                        "to resend the very same transaction safely.")(func)


def submit_tx(client: NodeClient, tx: Tx, wait: bool, timeout_s: float) -> Answer:
    """Submit `tx`, then (with `wait`) poll until it is final.

    Returns
    -------
    Answer
        ``pending`` (no wait) or ``committed`` with height and position.

    Raises
    ------
    NodeRefused
        If the node refuses it at once or it is later rejected or evicted (its rule).
    CommitTimeout, PeerError
        If it is not final in time, or the node is unreachable.
    """
    answer = client.submit(tx.raw)
    if wait and answer["status"] != COMMITTED:
        answer = client.wait_for_tx(tx.tx_id, timeout_s)
    if answer["status"] not in (COMMITTED, "pending"):
        rule = str(answer.get("rule") or f"tx_{answer['status']}")
        raise NodeRefused(str(answer.get("message") or f"transaction {answer['status']}"),
                          node_rule=rule, tx_id=tx.tx_id.hex())
    return answer


def clock_nonce(nonce: int | None) -> int:
    """Return `nonce`, or the clock in ns (a new id for every intended repeat, DESIGN §3)."""
    return time.time_ns() if nonce is None else nonce


def run_tx(node_url: str, build: Callable[[str], Tx], wait: bool, timeout_s: float,
           as_json: bool) -> tuple[NodeClient, Answer]:
    """Build a transaction for the node's chain, submit it, wait, and print the outcome.

    Parameters
    ----------
    node_url:
        Base URL of the node.
    build:
        Returns the signed transaction for a chain id (read from ``GET /v1/status``).
    wait, timeout_s:
        Whether and how long (seconds) to wait for the commit.
    as_json:
        Print nothing: the caller prints one JSON object with more fields.

    Returns
    -------
    tuple[NodeClient, Answer]
        The client (for follow-up reads) and the final verdict (see `submit_tx`).
    """
    client = NodeClient(node_url)
    tx = build(client.status()["chain_id"])
    answer = submit_tx(client, tx, wait, timeout_s)
    if not as_json:
        click.echo(tx_line(answer))
    return client, answer


def tx_line(answer: Answer) -> str:
    """Return ``tx <id> committed at height H`` or ``tx <id> pending``."""
    if answer["status"] == COMMITTED:
        return f"tx {answer['tx_id']} committed at height {answer['height']}"
    return f"tx {answer['tx_id']} {answer['status']} (not waiting for the commit)"


def echo_json(doc: Any) -> None:
    """Print `doc` as one line of JSON with sorted keys."""
    click.echo(json.dumps(doc, sort_keys=True))


COMMANDS = {
    "keys": ("keys_group",),
    "registry": ("account_group", "device_group"),
    "attest": ("attest_command",),
    "txcmds": ("transfer_command", "retire_command"),
    "certs": ("cert_group", "provenance_command", "status_proof_command", "verify_command"),
    "queries": ("bundles_command", "balance_command"),
    "reports": ("report_group", "statement_command"),
    "export": ("export_group",),
}
"""Command objects by module of ``greenchain.cli``."""
SUBCOMMANDS = {
    "queries": (("device", "device_totals_command"),),
}
"""Commands added to a group another module defines: module -> (group name, command)."""


def register(group: click.Group) -> None:
    """Attach the client commands to the top-level group."""
    # Imported by name, not at the top: these modules import the shared options above.
    for module_name, names in COMMANDS.items():
        module = importlib.import_module(f"greenchain.cli.{module_name}")
        for name in names:
            group.add_command(getattr(module, name))
    for module_name, pairs in SUBCOMMANDS.items():
        module = importlib.import_module(f"greenchain.cli.{module_name}")
        for group_name, name in pairs:
            parent = group.commands[group_name]
            assert isinstance(parent, click.Group), group_name
            parent.add_command(getattr(module, name))

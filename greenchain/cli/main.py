"""The ``greenchain`` click group: maps every GreenChainError to one line and an exit code.

Exit codes: 0 success; 1 a rule refused the request (the rule is named); 2 usage error
(click); 3 bad input file or config; 4 a node could not be reached; 5 verification
failed. Tracebacks never reach the user.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from greenchain.cli import commands as client_commands
from greenchain.cli import lifecycle as lifecycle_commands
from greenchain.cli import node as node_commands
from greenchain.cli.demo import demo_command
from greenchain.errors import (
    ConfigError,
    DecodeError,
    GreenChainError,
    MeterError,
    PeerError,
    ProofError,
)

EXIT_RULE = 1
EXIT_INPUT = 3
EXIT_UNREACHABLE = 4
EXIT_VERIFY = 5


def exit_code_for(exc: GreenChainError) -> int:
    """Return the exit code for a typed error."""
    if isinstance(exc, (ProofError, DecodeError)):
        return EXIT_VERIFY
    if isinstance(exc, (ConfigError, MeterError)):
        return EXIT_INPUT
    if isinstance(exc, PeerError):
        return EXIT_UNREACHABLE
    return EXIT_RULE


class GreenChainGroup(click.Group):
    """A click group that turns typed errors into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, mapping GreenChainError to a message and exit code."""
        try:
            return super().invoke(ctx)
        except GreenChainError as exc:
            click.echo(f"error: {exc.rule}: {exc.message}", err=True)
            sys.exit(exit_code_for(exc))
        except OSError as exc:
            click.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
                       err=True)
            sys.exit(EXIT_INPUT)


@click.group(cls=GreenChainGroup)
@click.version_option(package_name="greenchain")
def cli() -> None:
    """GreenChain: a permissioned BFT ledger for hourly green electricity certificates."""


node_commands.register(cli)
client_commands.register(cli)
lifecycle_commands.register(cli)  # after: it extends the export group
cli.add_command(demo_command)


if __name__ == "__main__":
    cli()

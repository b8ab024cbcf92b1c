"""Client commands: keys, registration, attestation, transfers, retirements, proofs."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Attach the client commands to the top-level group."""

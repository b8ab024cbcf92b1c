"""The validator's sign-state file (DESIGN §6): last height/round/step/value signed.

It lives outside the chain data directory, so wiping chain data never wipes it, and it is
fsynced before any vote or proposal leaves the node.
"""

from __future__ import annotations

from pathlib import Path

from greenchain.consensus.safety import NOTHING_SIGNED, LastSigned, sign_state_from_bytes
from greenchain.consensus.safety import sign_state_to_bytes as _to_bytes
from greenchain.errors import ConfigError, DecodeError
from greenchain.node.files import write_durably


def init_sign_state(path: Path) -> None:
    """Create a sign-state file at height 0 (``node init``, demo and test configs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durably(path, _to_bytes(NOTHING_SIGNED))


def load_sign_state(path: Path, recover: bool = False) -> tuple[LastSigned, bool]:
    """Load the sign-state.

    Parameters
    ----------
    path:
        The sign-state file.
    recover:
        Operator's ``--recover-sign-state``: a missing file is then created, and the
        validator must stay silent until it has seen a full height committed.

    Returns
    -------
    tuple
        ``(last_signed, recovering)``.

    Raises
    ------
    ConfigError
        If the file is missing (without `recover`) or unreadable.
    """
    if not path.exists():
        if not recover:
            raise ConfigError(
                f"sign-state file {path} is missing; for a new validator create it with "
                "'greenchain node init-sign-state --home HOME'; if it was lost, start with "
                "--recover-sign-state (the node stays silent until caught up)")
        init_sign_state(path)
        return NOTHING_SIGNED, True
    try:
        return sign_state_from_bytes(path.read_bytes()), False
    except (OSError, DecodeError) as exc:
        raise ConfigError(f"cannot read sign-state file {path}: {exc}") from exc


def save_sign_state(path: Path, last: LastSigned) -> None:
    """Durably replace the sign-state file (before the signed message leaves)."""
    write_durably(path, _to_bytes(last))


def lost_blocks_warning(tip_height: int, last: LastSigned) -> str | None:
    """Return a warning if the chain data ends before what this validator signed.

    A validator signs at height h only after committing h - 1, so a tip below
    ``last.height - 1`` means blocks it once held are gone: a wiped or restored data
    directory, or a LevelDB log damaged by a crash (its last writes dropped). The node is
    safe (the sign-state still binds it) and catches up from peers, but the operator
    should know. None when the data is where the sign-state expects it.
    """
    if last.height <= tip_height + 1:
        return None
    return (f"chain data ends at height {tip_height} but this validator signed at height "
            f"{last.height}: blocks were lost (data directory wiped or restored, or its "
            "database damaged); catching up from peers")

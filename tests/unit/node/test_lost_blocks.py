"""A node whose chain data ends before what it signed says so (wiped, restored, damaged)."""

from greenchain.consensus.safety import NOTHING_SIGNED, STEP_PRECOMMIT, STEP_PREVOTE, LastSigned
from greenchain.node.signstate import lost_blocks_warning


def test_data_at_or_one_below_the_signed_height_is_normal() -> None:
    assert lost_blocks_warning(0, NOTHING_SIGNED) is None
    assert lost_blocks_warning(9, LastSigned(10, 0, STEP_PREVOTE, b"")) is None  # deciding 10
    assert lost_blocks_warning(12, LastSigned(10, 0, STEP_PRECOMMIT, b"")) is None


def test_data_behind_the_sign_state_is_reported_with_both_heights() -> None:
    warning = lost_blocks_warning(3, LastSigned(10, 1, STEP_PRECOMMIT, b""))
    assert warning is not None
    assert "ends at height 3" in warning and "signed at height 10" in warning

"""The serial-range invariant of DESIGN §2, checked by tests after every block.

For every device, the leaf bundles (every bundle whose status is not ``split``, whatever
else it is: active, retired, withdrawn, exported) are pairwise disjoint and their union is
exactly ``[0, issued_wh)``. So every Wh a device has certified has exactly one current
owner or claim, and no Wh is ever certified twice or lost in a split.

Pure: the checker takes bundles and issued counters, the readers take a `MemoryState`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping

from greenchain.codec import decode
from greenchain.errors import InvariantViolation
from greenchain.ledger.view import BUNDLE, DEVICE, MemoryState
from greenchain.model.certificates import SPLIT, Bundle, Device
from greenchain.model.fields import from_fields


def is_leaf_bundle(bundle: Bundle) -> bool:
    """Return True if `bundle` is a leaf of its split tree (its status is not ``split``)."""
    return bundle.status != SPLIT


def group_leaf_ranges(bundles: Iterable[Bundle]) -> dict[str, list[tuple[int, int]]]:
    """Return the sorted ``(serial_start, serial_end)`` ranges of leaf bundles, per device."""
    ranges: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for bundle in bundles:
        if is_leaf_bundle(bundle):
            ranges[bundle.device_id].append((bundle.serial_start, bundle.serial_end))
    return {device_id: sorted(found) for device_id, found in ranges.items()}


def validate_device_partition(device_id: str, ranges: list[tuple[int, int]],
                              issued_wh: int) -> None:
    """Check that sorted half-open serial ranges tile ``[0, issued_wh)`` exactly.

    Parameters
    ----------
    device_id:
        The device the ranges belong to (for the error only).
    ranges:
        Leaf ``(serial_start, serial_end)`` pairs in serials (Wh), sorted by start.
    issued_wh:
        The device's cumulative issued Wh (its next serial).

    Raises
    ------
    InvariantViolation
        With ``kind`` ``"empty"``, ``"overlap"`` or ``"gap"`` and the serial ``at`` which
        the tiling breaks.
    """
    cursor = 0
    for start, end in ranges:
        if end <= start:
            raise InvariantViolation(f"device {device_id}: empty range [{start}, {end})",
                                     device_id=device_id, kind="empty", at=start)
        if start < cursor:
            raise InvariantViolation(f"device {device_id}: serials overlap at {start}",
                                     device_id=device_id, kind="overlap", at=start)
        if start > cursor:
            raise InvariantViolation(f"device {device_id}: serials [{cursor}, {start}) missing",
                                     device_id=device_id, kind="gap", at=cursor)
        cursor = end
    # The leaves must reach issued_wh exactly: short is a gap, beyond is an over-issue.
    if cursor < issued_wh:
        raise InvariantViolation(f"device {device_id}: serials [{cursor}, {issued_wh}) missing",
                                 device_id=device_id, kind="gap", at=cursor)
    if cursor > issued_wh:
        raise InvariantViolation(f"device {device_id}: leaves reach {cursor} > issued {issued_wh}",
                                 device_id=device_id, kind="overlap", at=issued_wh)


def check_serial_partition(bundles: Iterable[Bundle],
                           issued_wh_by_device: Mapping[str, int]) -> None:
    """Check the serial-range invariant of DESIGN §2 for every device.

    Parameters
    ----------
    bundles:
        Every stored bundle (split parents included; they are skipped).
    issued_wh_by_device:
        Device id -> cumulative issued Wh, for every registered device.

    Raises
    ------
    InvariantViolation
        If a bundle names an unknown device, or the leaf bundles of a device overlap,
        leave a gap, or do not end exactly at its ``issued_wh``.
    """
    ranges = group_leaf_ranges(bundles)
    strays = sorted(set(ranges) - set(issued_wh_by_device))
    if strays:
        raise InvariantViolation(f"bundles of unknown device {strays[0]!r}",
                                 device_id=strays[0], kind="unknown_device", at=0)
    for device_id in sorted(issued_wh_by_device):
        validate_device_partition(device_id, ranges.get(device_id, []),
                                  issued_wh_by_device[device_id])


def iterate_state_bundles(state: MemoryState) -> Iterator[Bundle]:
    """Yield every bundle stored in `state` (split parents included), in key order."""
    for key in sorted(state.data):
        if key.startswith(BUNDLE):
            yield from_fields(Bundle, decode(state.data[key]))


def iterate_state_devices(state: MemoryState) -> Iterator[Device]:
    """Yield every device stored in `state`, in key order."""
    for key in sorted(state.data):
        if key.startswith(DEVICE):
            yield from_fields(Device, decode(state.data[key]))


def compute_issued_wh_by_device(state: MemoryState) -> dict[str, int]:
    """Return device id -> cumulative issued Wh for every device in `state`."""
    return {device.device_id: device.issued_wh for device in iterate_state_devices(state)}


def check_state_serial_partition(state: MemoryState) -> None:
    """Run `check_serial_partition` over everything stored in `state`.

    Raises
    ------
    InvariantViolation
        As `check_serial_partition`.
    """
    check_serial_partition(iterate_state_bundles(state), compute_issued_wh_by_device(state))

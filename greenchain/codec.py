"""Canonical, strict msgpack (DESIGN §4).

Every consensus structure is an array in a fixed field order; bytes are `bin`, text is
UTF-8 `str`, numbers are integers. `decode` refuses anything that would not re-encode to
the very same bytes, so one value has exactly one encoding and hashes are stable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import msgpack

from greenchain.errors import GreenChainError, Malformed, NonCanonical, TooLarge
from greenchain.params import MAX_ARRAY_LEN, MAX_BODY_BYTES

T = TypeVar("T")
_INT_MIN = -(2**63)
_UINT_MAX = 2**64 - 1


_LEAF_TYPES = frozenset({bytes, str, bool, type(None)})
"""Exact types of values with nothing to check inside (the fast path of the walk)."""


def _check_value(value: Any, allow_maps: bool, depth: int = 0) -> None:
    if depth > 32:
        raise Malformed("nesting deeper than 32 levels")
    if isinstance(value, bool) or value is None or isinstance(value, (bytes, str)):
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _UINT_MAX:
            raise Malformed("integer out of 64-bit range", value=str(value))
        return
    if isinstance(value, float):
        raise Malformed("floats are not allowed in canonical data")
    if isinstance(value, (list, tuple)):
        _check_items(value, allow_maps, depth + 1)
        return
    if isinstance(value, dict):
        _check_map(value, allow_maps, depth)
        return
    raise Malformed(f"type {type(value).__name__} cannot be encoded")


def _check_items(items: list[Any] | tuple[Any, ...], allow_maps: bool, depth: int) -> None:
    # Arrays of blocks and pages hold thousands of bytes items: skip the call for leaves
    # that sit within the depth limit (a leaf below it still raises in `_check_value`).
    for item in items:
        if depth <= 32 and type(item) in _LEAF_TYPES:
            continue
        _check_value(item, allow_maps, depth)


def _check_map(value: dict[Any, Any], allow_maps: bool, depth: int) -> None:
    if not allow_maps:
        raise Malformed("maps are not allowed here")
    keys = list(value)
    # Canonical maps: keys all text or all bytes, in ascending order, so one map has
    # exactly one encoding.
    if not (all(type(k) is str for k in keys) or all(type(k) is bytes for k in keys)):
        raise Malformed("map keys must be all text or all bytes")
    if keys != sorted(keys):
        raise NonCanonical("map keys must be in ascending order")
    for key, item in value.items():
        _check_value(key, allow_maps, depth + 1)
        _check_value(item, allow_maps, depth + 1)


_PACKERS = threading.local()
"""One reusable msgpack Packer per thread: `msgpack.packb` builds a new Packer (and its
buffer) per call, which cost more than packing the small records of the hot path."""


_KEEP_PACKER_BYTES = 256 * 1024
"""A Packer whose buffer grew past this (a block, a page) is dropped, not kept."""


def _pack(value: Any) -> bytes:
    """Return ``msgpack.packb(value, use_bin_type=True)`` through this thread's Packer."""
    packer = getattr(_PACKERS, "packer", None)
    if packer is None:
        packer = _PACKERS.packer = msgpack.Packer(use_bin_type=True)
    out: bytes = packer.pack(value)  # autoreset: the buffer is reused, even after errors
    if len(out) > _KEEP_PACKER_BYTES:
        # Its buffer is now as large as `out`; a new Packer starts small again.
        _PACKERS.packer = None
    return out


def encode(value: Any, *, allow_maps: bool = False) -> bytes:
    """Encode `value` canonically.

    Parameters
    ----------
    value:
        Nested lists/tuples of int, bytes, str, bool and None (dicts only with
        `allow_maps`).
    allow_maps:
        Permit maps whose keys are all text or all bytes, in ascending order.

    Returns
    -------
    bytes
        The canonical msgpack encoding.

    Raises
    ------
    Malformed
        On floats, out-of-range integers or unsupported types.
    """
    _check_value(value, allow_maps)
    return _pack(value)


def encode_trusted(value: Any) -> bytes:
    """Encode a value this package built from typed records, without the type walk.

    For hot paths only (state records, app_hash writes, sign bytes): the values there
    come from frozen dataclasses whose fields `from_fields` checked, so they hold only
    ints, bytes, str, None and arrays. Gives the same bytes as `encode`.
    """
    return _pack(value)


def decode_trusted(data: bytes) -> Any:
    """Decode bytes this node wrote itself (its own state records), without the checks.

    Only for the node's own store on hot paths; anything from a peer, a client or a file
    goes through `decode`.
    """
    return msgpack.unpackb(data, raw=False, use_list=True)


def _no_ext(code: int, data: bytes) -> Any:
    raise Malformed("extension types are not allowed", ext_code=code)


def _unpack(data: bytes, max_bytes: int, allow_maps: bool) -> Any:
    """Parse `data` under every limit of `decode` (size, lengths, no ext, no trailing bytes)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise Malformed("input is not bytes")
    if len(data) > max_bytes:
        raise TooLarge("input too large", size=len(data), limit=max_bytes)
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_no_ext,
            max_array_len=MAX_ARRAY_LEN,
            max_map_len=MAX_ARRAY_LEN if allow_maps else 0,
            max_str_len=max_bytes,
            max_bin_len=max_bytes,
        )
    except Malformed:
        raise
    except msgpack.ExtraData as exc:
        raise Malformed("trailing bytes after the value") from exc
    except (ValueError, TypeError, msgpack.UnpackException, UnicodeDecodeError) as exc:
        raise Malformed(f"invalid msgpack: {exc}") from exc
    except RecursionError as exc:
        raise Malformed("nesting too deep") from exc


def decode(data: bytes, *, max_bytes: int = MAX_BODY_BYTES, allow_maps: bool = False) -> Any:
    """Decode canonical msgpack strictly.

    Parameters
    ----------
    data:
        The encoded bytes.
    max_bytes:
        Refuse inputs longer than this many bytes.
    allow_maps:
        Accept maps whose keys are all text or all bytes, in ascending order.

    Returns
    -------
    Any
        Lists, ints, bytes, str, bool or None (dicts only with `allow_maps`).

    Raises
    ------
    TooLarge
        If `data` is longer than `max_bytes`.
    Malformed
        On invalid msgpack, trailing bytes, extension types, floats or maps.
    NonCanonical
        If re-encoding the value does not give `data` back byte for byte.
    """
    value = _unpack(data, max_bytes, allow_maps)
    _check_value(value, allow_maps)
    if _pack(value) != bytes(data):
        raise NonCanonical("input is not in canonical encoding")
    return value


def decode_typed(data: bytes, build: Callable[[Any], T], *, max_bytes: int) -> T:
    """Return ``build(decode(data, max_bytes=max_bytes))``, with the same verdicts, faster.

    For typed decoders on hot paths (every transaction of every block). `build` must
    accept only arrays whose leaves are int, bytes, str or None at a bounded depth (so
    never a float, a map, or nesting past 32 levels) and refuse anything else with a
    `GreenChainError`: then the generic type walk of `decode` can only agree with it, and
    runs only on failure, so that errors come in `decode`'s order (DESIGN §4 rules first,
    then the rules of `build`).

    Parameters
    ----------
    data:
        The encoded bytes.
    build:
        Builds the typed value from the parsed array; raises a `GreenChainError` (e.g.
        `Malformed`) on a wrong shape or value.
    max_bytes:
        Refuse inputs longer than this many bytes.

    Raises
    ------
    TooLarge, Malformed, NonCanonical
        As `decode` would, before anything `build` raises.
    GreenChainError
        What `build` raises, when `decode` accepts the bytes.
    """
    value = _unpack(data, max_bytes, allow_maps=False)
    try:
        built = build(value)
    except GreenChainError:
        decode(data, max_bytes=max_bytes)  # raises first if a generic rule refuses
        raise
    if _pack(value) != bytes(data):
        decode(data, max_bytes=max_bytes)  # Malformed if the walk refuses, as in `decode`
        raise NonCanonical("input is not in canonical encoding")
    return built

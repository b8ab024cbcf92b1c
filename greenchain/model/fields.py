"""Typed field lists: turn decoded msgpack arrays into dataclasses, strictly.

Every consensus structure is an array in the field order of its frozen dataclass
(DESIGN §4). `from_fields` checks the count and the type of each item, so a value of the
wrong type is a `DecodeError`, never a crash deeper down.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from greenchain.errors import Malformed
from greenchain.params import MAX_STR_LEN

T = TypeVar("T")

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _coerce(value: Any, hint: Any, name: str) -> Any:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], name)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise Malformed(f"field {name} must be an array")
        (item_hint, _) = get_args(hint)
        return tuple(_coerce(v, item_hint, name) for v in value)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return from_fields(hint, value)
    base = getattr(hint, "__supertype__", hint)
    if base is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Malformed(f"field {name} must be an integer")
        return value
    if base is bytes:
        if not isinstance(value, bytes):
            raise Malformed(f"field {name} must be bytes")
        return value
    if base is str:
        if not isinstance(value, str) or len(value) > MAX_STR_LEN:
            raise Malformed(f"field {name} must be a string of at most {MAX_STR_LEN} chars")
        return value
    raise Malformed(f"field {name} has an unsupported type")  # pragma: no cover


def from_fields(cls: type[T], values: Any) -> T:
    """Build dataclass `cls` from an array of field values in declaration order.

    Raises
    ------
    Malformed
        If `values` is not an array of the right length or a value has the wrong type.
    """
    if not isinstance(values, (list, tuple)):
        raise Malformed(f"{cls.__name__} must be an array")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if len(values) != len(fields):
        raise Malformed(f"{cls.__name__} needs {len(fields)} fields, got {len(values)}")
    hints = _hints(cls)
    args = [_coerce(v, hints[f.name], f.name) for f, v in zip(fields, values, strict=True)]
    return cls(*args)


def to_fields(obj: Any) -> list[Any]:
    """Return the field values of dataclass `obj` as an array (nested dataclasses too)."""
    out: list[Any] = []
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        out.append(_plain(value))
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_fields(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value

"""Typed field lists: turn decoded msgpack arrays into dataclasses, strictly.

Every consensus structure is an array in the field order of its frozen dataclass
(DESIGN §4). `from_fields` checks the count and the type of each item, so a value of the
wrong type is a `DecodeError`, never a crash deeper down. Converters are built once per
class (this is on the hot path of every block).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from greenchain.errors import Malformed
from greenchain.params import MAX_STR_LEN

T = TypeVar("T")
Converter = Callable[[Any], Any]


def _int(name: str) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is not int:
            raise Malformed(f"field {name} must be an integer")
        return value
    return convert


def _bytes(name: str) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is not bytes:
            raise Malformed(f"field {name} must be bytes")
        return value
    return convert


def _str(name: str) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is not str or len(value) > MAX_STR_LEN:
            raise Malformed(f"field {name} must be a string of at most {MAX_STR_LEN} chars")
        return value
    return convert


def _optional(inner: Converter) -> Converter:
    def convert(value: Any) -> Any:
        return None if value is None else inner(value)
    return convert


def _tuple_of(inner: Converter, name: str) -> Converter:
    def convert(value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise Malformed(f"field {name} must be an array")
        return tuple(inner(v) for v in value)
    return convert


def _nested(cls: type[Any]) -> Converter:
    def convert(value: Any) -> Any:
        return from_fields(cls, value)
    return convert


def _converter(hint: Any, name: str) -> Converter:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        return _optional(_converter(inner[0], name))
    if origin is tuple:
        return _tuple_of(_converter(get_args(hint)[0], name), name)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _nested(hint)
    base = getattr(hint, "__supertype__", hint)
    simple = {int: _int, bytes: _bytes, str: _str}.get(base)
    if simple is None:  # pragma: no cover - a schema bug, not an input error
        raise TypeError(f"field {name} has an unsupported type {hint!r}")
    return simple(name)


_CONVERTERS: dict[type, tuple[Converter, ...]] = {}
_PLAIN: dict[type, tuple[tuple[str, bool], ...]] = {}


def _converters(cls: type) -> tuple[Converter, ...]:
    found = _CONVERTERS.get(cls)
    if found is None:
        hints = get_type_hints(cls)
        fields = dataclasses.fields(cls)
        found = tuple(_converter(hints[f.name], f.name) for f in fields)
        _CONVERTERS[cls] = found
    return found


def from_fields(cls: type[T], values: Any) -> T:
    """Build dataclass `cls` from an array of field values in declaration order.

    Raises
    ------
    Malformed
        If `values` is not an array of the right length or a value has the wrong type.
    """
    if not isinstance(values, (list, tuple)):
        raise Malformed(f"{cls.__name__} must be an array")
    converters = _converters(cls)
    if len(values) != len(converters):
        raise Malformed(f"{cls.__name__} needs {len(converters)} fields, got {len(values)}")
    return cls(*[convert(v) for convert, v in zip(converters, values, strict=True)])


def _plain_spec(cls: type) -> tuple[tuple[str, bool], ...]:
    spec = _PLAIN.get(cls)
    if spec is None:
        hints = get_type_hints(cls)
        spec = tuple((f.name, _needs_plain(hints[f.name])) for f in dataclasses.fields(cls))
        _PLAIN[cls] = spec
    return spec


def _needs_plain(hint: Any) -> bool:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_needs_plain(a) for a in get_args(hint) if a is not type(None))
    return origin is tuple or (dataclasses.is_dataclass(hint) and isinstance(hint, type))


def to_fields(obj: Any) -> list[Any]:
    """Return the field values of dataclass `obj` as an array (nested dataclasses too)."""
    return [_plain(getattr(obj, name)) if nested else getattr(obj, name)
            for name, nested in _plain_spec(type(obj))]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_fields(value)
    return value

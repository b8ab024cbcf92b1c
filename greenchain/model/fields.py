"""Typed field lists: turn decoded msgpack arrays into dataclasses, strictly.

Every consensus structure is an array in the field order of its frozen dataclass
(DESIGN §4). `from_fields` checks the count and the type of each item, so a value of the
wrong type is a `DecodeError`, never a crash deeper down. Converters are built once per
class (this is on the hot path of every block).
"""

from __future__ import annotations

import dataclasses
import operator
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


@dataclasses.dataclass(frozen=True, slots=True)
class _Layout:
    """How one dataclass maps to and from its field array (built once per class)."""

    getter: Callable[[Any], tuple[Any, ...]]
    """Returns every field value, in declaration order, as a tuple (C speed)."""
    index: dict[str, int]
    """Field name -> position."""
    plain: tuple[int, ...]
    """Positions holding a tuple or a nested record (converted to arrays by `to_fields`)."""
    trusted: tuple[tuple[int, Converter], ...]
    """Positions holding a tuple or a nested record, with the trusted converter back."""


_LAYOUTS: dict[type, _Layout] = {}


def _trusted_converter(hint: Any) -> Converter | None:
    """Return the converter from a trusted array value, or None if the value is kept."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = _trusted_converter(next(a for a in get_args(hint) if a is not type(None)))
        if inner is None:
            return None
        return lambda value: None if value is None else inner(value)
    if origin is tuple:
        item = _trusted_converter(get_args(hint)[0])
        if item is None:
            return tuple
        return lambda value: tuple(item(v) for v in value)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        record_class: type[Any] = hint
        return lambda value: from_trusted_fields(record_class, value)
    return None


def _one_field_getter(name: str) -> Callable[[Any], tuple[Any, ...]]:
    def get(obj: Any) -> tuple[Any, ...]:
        return (getattr(obj, name),)
    return get


def _layout(cls: type) -> _Layout:
    found = _LAYOUTS.get(cls)
    if found is None:
        hints = get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        getter: Callable[[Any], tuple[Any, ...]] = operator.attrgetter(*names)
        if len(names) == 1:  # attrgetter of one name returns the value, not a 1-tuple
            getter = _one_field_getter(names[0])
        trusted = tuple((i, conv) for i, name in enumerate(names)
                        if (conv := _trusted_converter(hints[name])) is not None)
        found = _Layout(getter, {name: i for i, name in enumerate(names)},
                        tuple(i for i, name in enumerate(names) if _needs_plain(hints[name])),
                        trusted)
        _LAYOUTS[cls] = found
    return found


def from_trusted_fields(cls: type[T], values: list[Any]) -> T:
    """Build dataclass `cls` from a field array this node encoded itself.

    For the node's own state records on the hot path (see `codec.decode_trusted`): the
    per-field type checks of `from_fields` are skipped, only tuples and nested records are
    rebuilt. Gives the same record as `from_fields` for any array `to_fields` produced.
    Anything from a peer, a client or a file goes through `from_fields`.

    Parameters
    ----------
    cls:
        The dataclass.
    values:
        Its field values in declaration order (a fresh list: it is changed in place).
    """
    for position, convert in _layout(cls).trusted:
        values[position] = convert(values[position])
    return cls(*values)


def _needs_plain(hint: Any) -> bool:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_needs_plain(a) for a in get_args(hint) if a is not type(None))
    return origin is tuple or (dataclasses.is_dataclass(hint) and isinstance(hint, type))


def to_fields(obj: Any) -> list[Any]:
    """Return the field values of dataclass `obj` as an array (nested dataclasses too)."""
    layout = _layout(type(obj))
    values = list(layout.getter(obj))
    for position in layout.plain:
        value = values[position]
        if value is not None:  # most nested records are optional and absent
            values[position] = _plain(value)
    return values


def replace_fields(obj: T, **changes: Any) -> T:
    """Return a copy of dataclass `obj` with `changes` applied (`dataclasses.replace`).

    The same result for the init-only field sets used here, built by one positional
    constructor call: `dataclasses.replace` walks the fields in Python, which showed at
    the top of the ledger's profile (several calls per transaction).

    Raises
    ------
    KeyError
        If a name in `changes` is not a field of `obj`.
    """
    layout = _layout(type(obj))
    values = list(layout.getter(obj))
    for name, value in changes.items():
        values[layout.index[name]] = value
    return type(obj)(*values)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_fields(value)
    return value

"""Records rebuilt from their stored JSON, so what a database holds prints as a live run does.

PostgreSQL's JSONB keeps an object's keys in its own order; rebuilding the
dataclass (nested ones included) and encoding it again gives back the field
order and form of the JSON Lines a live run writes.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from functools import cache
from typing import Any

__all__ = ["rebuild", "record_type_named"]

# Only record types of this package are looked up by the name a run table holds.
_PACKAGE = __name__.split(".", 1)[0]


def record_type_named(name: str | None) -> type | None:
    """The record type ``module:QualName`` names (None if unknown or not ours)."""
    if not name or ":" not in name:
        return None
    module, _, qualname = name.partition(":")
    if module.split(".", 1)[0] != _PACKAGE:
        return None
    try:
        found = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        return None
    return found if isinstance(found, type) and dataclasses.is_dataclass(found) else None


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _dataclass_in(hint: Any) -> tuple[type | None, bool]:
    """The dataclass ``hint`` holds (``X``, ``X | None`` or ``list[X]``) and whether in a list."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            found, many = _dataclass_in(arg)
            if found is not None:
                return found, many
        return None, False
    if origin is list:
        args = typing.get_args(hint)
        inner = args[0] if args else None
        ok = isinstance(inner, type) and dataclasses.is_dataclass(inner)
        return (inner if ok else None), True
    ok = isinstance(hint, type) and dataclasses.is_dataclass(hint)
    return (hint if ok else None), False


def rebuild(cls: type, data: Any) -> Any:
    """An instance of dataclass ``cls`` from its JSON object (unknown keys are dropped)."""
    if not isinstance(data, dict):
        return data
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        inner, many = _dataclass_in(hints.get(f.name))
        if inner is not None and value is not None:
            value = [rebuild(inner, v) for v in value] if many else rebuild(inner, value)
        kwargs[f.name] = value
    return cls(**kwargs)

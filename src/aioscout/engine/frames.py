"""What crosses between this process and its workers: pickles with fast records.

Records and targets are slotted dataclasses, whose own pickling calls
:func:`dataclasses.fields` per object on both ends; their field values in one
tuple cost a fraction of that. :func:`fast_pickle` registers a type for that
treatment: every dataclass of :mod:`aioscout._models` is registered here, and
a registered probe's record and target types are registered when its factory
builds it (see :mod:`aioscout.registry`), in each process, so the engine never
names a probe's types.
"""

from __future__ import annotations

import copyreg
import dataclasses
import io
import operator
import pickle
from collections.abc import Callable
from typing import Any

from .. import _models

__all__ = ["dumps", "fast_pickle"]


def _rebuild(cls: type[Any], values: tuple[Any, ...]) -> Any:
    """An object from its field values (see :func:`fast_pickle`), without ``__init__``."""
    make = _MAKERS.get(cls)
    if make is None:
        make = _MAKERS[cls] = _maker(cls)
    return make(values)


_MAKERS: dict[type[Any], Callable[[tuple[Any, ...]], Any]] = {}


def _maker(cls: type[Any]) -> Callable[[tuple[Any, ...]], Any]:
    """A function setting each slot of a new ``cls`` from a tuple, unrolled (as dataclasses
    writes ``__init__``): a third of the time of a loop over the fields."""
    ns: dict[str, Any] = {"new": object.__new__, "cls": cls}
    body = ["def make(v):", "    o = new(cls)"]
    for i, f in enumerate(dataclasses.fields(cls)):
        ns[f"set{i}"] = cls.__dict__[f.name].__set__  # the slot's descriptor: frozen or not
        body.append(f"    set{i}(o, v[{i}])")
    body.append("    return o")
    exec("\n".join(body), ns)
    make: Callable[[tuple[Any, ...]], Any] = ns["make"]
    return make


def _reducer(cls: type[Any]) -> Callable[[Any], tuple[Any, ...]]:
    get = operator.attrgetter(*(f.name for f in dataclasses.fields(cls)))
    return lambda obj: (_rebuild, (cls, get(obj)))


_DISPATCH = copyreg.dispatch_table.copy()


def fast_pickle(*classes: object) -> None:
    """Pickle these types as their field values (only slotted dataclasses of two or more
    fields gain from it; anything else is left to pickle's own way)."""
    for cls in classes:
        if (
            isinstance(cls, type)
            and cls not in _DISPATCH
            and dataclasses.is_dataclass(cls)
            and "__slots__" in cls.__dict__
            and len(dataclasses.fields(cls)) > 1
        ):
            _DISPATCH[cls] = _reducer(cls)


fast_pickle(*vars(_models).values())


def dumps(obj: object) -> bytes:
    """``obj`` pickled, registered types as their field values (see :func:`fast_pickle`)."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(obj)
    return buf.getvalue()

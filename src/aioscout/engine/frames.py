"""What crosses between this process and its workers: typed frames, pickled fast.

Both ends are this program, over a private socketpair: a frame is a 4-byte
big-endian length and a pickle of one of the frame types below.

Records and targets are slotted dataclasses, whose own pickling calls
:func:`dataclasses.fields` per object on both ends; their field values in one
tuple cost a fraction of that. :func:`fast_pickle` registers a type for that
treatment: every dataclass of :mod:`aioscout._models` is registered here, and
a registered probe's record and target types are registered when its factory
builds it (see :mod:`aioscout.registry`), in each process, so the engine never
names a probe's types.
"""

from __future__ import annotations

import asyncio
import copyreg
import dataclasses
import io
import operator
import pickle
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from .. import _models

__all__ = [
    "BlockFrame",
    "Dropped",
    "EncodedFrame",
    "End",
    "Items",
    "Results",
    "Retries",
    "Settled",
    "Stop",
    "ToParent",
    "ToWorker",
    "dumps",
    "fast_pickle",
    "receive",
    "send",
    "send_nowait",
]


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


# -- the frames between this process and a worker ------------------------------
#
# Each is a NamedTuple: one class reference and a tuple on the wire. Items and
# results inside them stay plain tuples ``(seq, line, target)`` and
# ``(seq, record)``, unpacked by name where they are read: a named type per
# item would cost every item a Python-level call at both ends.


class Items(NamedTuple):
    """Parent to worker: items of the ordinary path, ``(seq, line, target)`` each."""

    items: list[tuple[int, str, Any]]


class BlockFrame(NamedTuple):
    """Parent to worker: a block of items as three parallel lists (see ``items.Block``)."""

    seqs: list[int]
    lines: list[str]
    targets: list[Any]


class Stop(NamedTuple):
    """Parent to worker: a graceful stop; drop what has not started."""


class End(NamedTuple):
    """Parent to worker: no more items; finish and exit."""


class Results(NamedTuple):
    """Worker to parent: records, ``(seq, record)`` each."""

    results: list[tuple[int, Any]]


class EncodedFrame(NamedTuple):
    """Worker to parent: records encoded for the sinks, their error kinds beside them."""

    seqs: list[int]
    kinds: list[str | None]
    lines: list[bytes]


class Settled(NamedTuple):
    """Worker to parent: what the probe's own filter kept, and what it only counted.

    ``filtered`` lists ``(kind, seqs)``; ``kept`` lists ``(seq, record)``.
    """

    filtered: list[tuple[str | None, list[int]]]
    kept: list[tuple[int, Any]]


class Dropped(NamedTuple):
    """Worker to parent: items a graceful stop discarded before they started."""

    seqs: list[int]


class Retries(NamedTuple):
    """Worker to parent: how many retries it made since its last report."""

    added: int


ToWorker = Items | BlockFrame | Stop | End
ToParent = Results | EncodedFrame | Settled | Dropped | Retries

_LEN = struct.Struct(">I")


async def send(writer: asyncio.StreamWriter, frame: ToWorker | ToParent) -> None:
    """Write one frame: a 4-byte big-endian length and the pickle (see :func:`dumps`).

    Raises :class:`ConnectionResetError` once the other process has gone (its socket
    closed), on every event loop alike.
    """
    if writer.is_closing():
        raise ConnectionResetError("the other process closed its socket")
    blob = dumps(frame)
    writer.write(_LEN.pack(len(blob)) + blob)
    await writer.drain()


def send_nowait(writer: asyncio.StreamWriter, frame: ToWorker | ToParent) -> None:
    """Write one frame without waiting for the buffer to drain (a small control frame).

    A frame is written whole in one call, so it never interleaves with another.
    """
    if writer.is_closing():
        raise ConnectionResetError("the other process closed its socket")
    blob = dumps(frame)
    writer.write(_LEN.pack(len(blob)) + blob)


async def receive(reader: asyncio.StreamReader) -> ToWorker | ToParent:
    """Read one frame written by :func:`send`."""
    size = _LEN.unpack(await reader.readexactly(_LEN.size))[0]
    frame: ToWorker | ToParent = pickle.loads(await reader.readexactly(size))
    return frame

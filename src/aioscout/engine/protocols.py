"""The seams of the engine: what a probe, a sink and a source provide, in one place.

The engine knows only these protocols, never a concrete probe or sink. A
probe must follow :class:`Probe`; everything else here is an optional
capability, each with a default that asks nothing of the probe or sink:

=====================  ===========================================  =========================
capability             what it lets the engine do                   default
=====================  ===========================================  =========================
:class:`KeepsDeadline` skip the engine's deadline timer per item    a timer per item
:class:`OwnFilter`     apply the probe's own keep-filter where the  every record is kept
                       probe runs (in each worker process)
:class:`OpensLane`     start items in bulk, without a coroutine     a coroutine per item
                       each (see :mod:`._stream`)
:class:`Positioned`    (sink) checkpoint a byte offset, so a        no offset
                       resumed run cuts a torn tail
:class:`TakesEncoded`  (sink) take records workers encoded, as      records cross as objects
                       bytes
:class:`BatchedLines`  (source) hand the engine lines in lists      one line at a time
=====================  ===========================================  =========================

Use :func:`keeps_deadline` and :func:`own_filter` to read the first two
(they supply the defaults); the others are ``isinstance`` checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from .._models import ErrorInfo, Record
from .stats import Stats
from .stopper import Stopper

__all__ = [
    "BatchedLines",
    "Clock",
    "Executor",
    "KeepsDeadline",
    "Lane",
    "LaneItem",
    "OpensLane",
    "OwnFilter",
    "Positioned",
    "Probe",
    "Settle",
    "Sink",
    "TakesEncoded",
    "TakesItems",
    "keeps_deadline",
    "own_filter",
]

T = TypeVar("T")

Keep = Callable[[Record], bool]


class Probe(Protocol[T]):
    """A protocol plug-in: how a line becomes targets and a target becomes a record.

    ``expand`` is pure and deterministic (resume depends on it): the same line
    and options always give the same targets in the same order. It raises
    :class:`aioscout.InvalidTarget` for a line that is not a usable target.
    ``probe`` never raises for network trouble: it returns a record whose
    ``error`` carries the kind. The engine owns retries, limits and timeouts:
    it runs each ``probe`` call under a hard deadline (the total timeout and
    a margin) unless the probe keeps its own (:class:`KeepsDeadline`).
    """

    def expand(self, line: str) -> Iterable[T]: ...

    def host_of(self, target: T) -> str:
        """The key the per-host cap counts by (usually the host name or IP)."""
        ...

    def identity(self, target: T) -> str:
        """A string equal for two targets that are the same probe (for dedup)."""
        ...

    async def probe(self, line: str, target: T) -> Record: ...

    def failed(self, line: str, target: T | None, error: ErrorInfo) -> Record:
        """The record for a target the engine gave up on (invalid, timed out, ...)."""
        ...

    async def start(self) -> None:
        """Open sessions, sockets and resolvers, inside the running loop."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class KeepsDeadline(Protocol):
    """A probe whose ``probe`` always returns a record within ``timeouts.total``.

    Declared as a class attribute ``keeps_deadline = True``; the engine then
    spares it its own deadline, a timer per item.
    """

    keeps_deadline: bool


def keeps_deadline(probe: object) -> bool:
    """Whether ``probe`` keeps its own deadline (:class:`KeepsDeadline`; default False)."""
    return getattr(probe, "keeps_deadline", False) is True


@runtime_checkable
class OwnFilter(Protocol):
    """A probe whose options say which of its records are written (dns ``--only-found``).

    ``own_filter()`` returns the keep-filter (``None``: keep every record). The
    engine applies it wherever the probe runs — in each worker process, on the
    worker's own probe — so rejected records never cross between processes
    (only their error kind does, for the statistics). Since the probe knows
    its filter is applied, its lane may settle items whose records the filter
    would reject as only counted, without building them (see :data:`Settle`).
    """

    def own_filter(self) -> Keep | None: ...


def own_filter(probe: object) -> Keep | None:
    """``probe``'s own keep-filter (:class:`OwnFilter`), or ``None`` (keep everything)."""
    return probe.own_filter() if isinstance(probe, OwnFilter) else None


LaneItem = tuple[int, str, Any]
"""One item on a lane: ``(seq, line, target)``, unpacked by name where it is read."""

Settle = Callable[[list[tuple[LaneItem, Record | None]], tuple[str | None, list[int]] | None], None]
"""How a lane reports finished items: ``settle(done, counted)``.

- ``done`` lists ``(item, record)``, with ``record`` ``None`` when the item
  needs the ordinary path (``probe()``, with the engine's retries);
- ``counted`` is ``None`` or ``(kind, seqs)``: items whose records the
  probe's own filter rejects (:class:`OwnFilter`) and that only count, under
  error kind ``kind``.
"""


class Lane(Protocol):
    """Starts items in bulk and settles them through the ``settle`` it was opened with."""

    def start(self, items: Sequence[LaneItem]) -> tuple[int, float]:
        """Start the items in order; returns how many started and, when not all, the
        seconds to wait before offering the rest (0.0: give the next one to ``probe()``)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class OpensLane(Protocol):
    """A probe that starts items in bulk (see :mod:`aioscout.engine._stream`).

    ``open_lane`` returns ``None`` when the run's options rule the lane out;
    every item then takes ``probe()``. A probe offers a lane only when each of
    its targets is its own host: the per-host cap is not applied there.
    """

    def open_lane(self, settle: Settle) -> Lane | None: ...


class Sink(Protocol):
    """Where records go. ``write`` takes a batch in completion order."""

    async def write(self, records: Sequence[Record]) -> None: ...

    async def flush(self) -> None:
        """Make what was written durable (fsync, commit)."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Positioned(Protocol):
    """A sink that knows how many bytes of complete records it has written."""

    def position(self) -> int: ...


@runtime_checkable
class TakesItems(Protocol):
    """A sink that stores each record under its item number (idempotent upserts).

    ``write_items(records, items)`` gets the item number of each record beside
    it (the records of one item, an ``--all-ips`` group, are consecutive and
    share it), so writing the same batch twice stores it once.
    """

    async def write_items(self, records: Sequence[Record], items: Sequence[int]) -> None: ...


@runtime_checkable
class TakesEncoded(Protocol):
    """A sink that also takes records already encoded, by its ``encode_lines``.

    ``encode_lines(records) -> [bytes, ...]`` must be a picklable function:
    process workers encode their records with it, and this process hands the
    joined bytes to ``write_encoded`` instead of decoding and re-encoding them.
    """

    @property
    def encode_lines(self) -> Callable[[Sequence[Record]], list[bytes]]: ...

    async def write_encoded(self, data: bytes, count: int) -> None: ...


@runtime_checkable
class BatchedLines(Protocol):
    """A source of lines that also gives them in lists (see ``targets.LineStream``)."""

    def batches(self) -> AsyncIterator[list[str]]: ...


class Executor(Protocol):
    """Runs work items somewhere else (other processes) and returns their records.

    ``takes_blocks``: its work queue carries blocks of items (``items.Block``),
    not one item at a time.
    """

    takes_blocks: bool

    async def run(
        self,
        work: asyncio.Queue[Any],
        results: asyncio.Queue[Any],
        stopper: Stopper,
        stats: Stats,
    ) -> None: ...


class Clock(Protocol):
    """Monotonic time, injectable so rate limits are tested without sleeping."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

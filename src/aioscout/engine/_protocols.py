"""The seams of the engine: what a probe and a sink must provide.

The engine knows only these protocols, never a concrete probe or sink.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from .._models import ErrorInfo, Record

__all__ = ["Clock", "Probe", "Sink"]

T = TypeVar("T")


class Probe(Protocol[T]):
    """A protocol plug-in: how a line becomes targets and a target becomes a record.

    ``expand`` is pure and deterministic (resume depends on it): the same line
    and options always give the same targets in the same order. It raises
    :class:`aioscout.InvalidTarget` for a line that is not a usable target.
    ``probe`` never raises for network trouble: it returns a record whose
    ``error`` carries the kind. The engine owns retries, limits and timeouts.

    The engine runs each ``probe`` call under a hard deadline (the total
    timeout and a margin). A probe that keeps its own (a class attribute
    ``keeps_deadline = True``: ``probe`` always returns a record within the
    total timeout) is spared the second one, a timer per target.
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


class Sink(Protocol):
    """Where records go. ``write`` takes a batch in completion order."""

    async def write(self, records: Sequence[Record]) -> None: ...

    async def flush(self) -> None:
        """Make what was written durable (fsync, commit)."""
        ...

    async def aclose(self) -> None: ...


class Clock(Protocol):
    """Monotonic time, injectable so rate limits are tested without sleeping."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

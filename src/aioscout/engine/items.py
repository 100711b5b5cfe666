"""What travels on the engine's queues: items, blocks of items, and results.

An *item* is one numbered target: its number (``seq``, what checkpoints
record), the input line and the target ``expand`` made of it. Items go to
the consumers one by one (:class:`Item`) or, for an executor or a lane that
takes them in bulk, as a :class:`Block` of three parallel lists. A *result*
is ``(seq, record)``; a worker process may send instead a :class:`Filtered`
stand-in (records its own filter dropped: only their kind crosses) or an
:class:`Encoded` run of records already encoded for the sinks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .._models import Record

__all__ = [
    "BLOCK",
    "Block",
    "Encoded",
    "Filtered",
    "Item",
    "LoopQueue",
    "Result",
    "Written",
    "take_ready",
]

T = TypeVar("T")

BLOCK = 1024  # items per block when the consumer takes blocks


@dataclass(slots=True)
class Item(Generic[T]):
    """One numbered target, on the ordinary path."""

    seq: int
    line: str
    target: T


class Block:
    """Numbered items shipped together: three parallel lists (cheap to pickle).

    An executor or lane that takes blocks gets these on its work queue
    instead of one item at a time, so the producer pays a list append per
    item rather than a queue hop.
    """

    __slots__ = ("lines", "seqs", "targets")

    def __init__(
        self,
        seqs: list[int] | None = None,
        lines: list[str] | None = None,
        targets: list[Any] | None = None,
    ) -> None:
        self.seqs: list[int] = [] if seqs is None else seqs
        self.lines: list[str] = [] if lines is None else lines
        self.targets: list[Any] = [] if targets is None else targets

    def __len__(self) -> int:
        return len(self.seqs)


class Filtered:
    """Stands for records of items ``seqs`` a probe's own filter dropped in a worker process.

    Only their error kind (``None`` for successes) crosses back, for the
    statistics; the checkpoint still records the items as done.
    """

    __slots__ = ("kind", "seqs")

    def __init__(self, kind: str | None, seqs: list[int]) -> None:
        self.kind = kind
        self.seqs = seqs


class Encoded:
    """Records of items ``seqs`` a worker process encoded (see ``protocols.TakesEncoded``).

    ``kinds`` holds each record's error kind (``None`` for a success), for the
    statistics; ``data`` the records' joined lines.
    """

    __slots__ = ("data", "kinds", "seqs")

    def __init__(self, seqs: list[int], kinds: list[str | None], data: bytes) -> None:
        self.seqs = seqs
        self.kinds = kinds
        self.data = data


Result = tuple[int, Record | Filtered]
"""``(seq, record)``: what the consumers put on the results queue (unpacked by name)."""

Written = tuple[int, Record | Filtered | Encoded]
"""What the writer takes: a result, or an :class:`Encoded` run from a worker."""


class LoopQueue(asyncio.Queue[T]):
    """An :class:`asyncio.Queue` given its loop up front.

    On Python 3.11 a queue looks the running loop up each time a ``get`` or
    ``put`` has to wait, and each look-up asks the kernel for the process id:
    a worker's item queue is waited on by hundreds of tasks.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self._bound = loop

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        return self._bound


def take_ready(queue: asyncio.Queue[Any], batch: list[Any], limit: int) -> bool:
    """Move what ``queue`` holds now onto ``batch``, up to ``limit`` entries; True at the
    end marker (``None``). An entry is one result or a list of them (a lane's batches)."""
    while len(batch) < limit and not queue.empty():
        nxt = queue.get_nowait()
        if nxt is None:
            return True
        if isinstance(nxt, list):
            batch += nxt
        else:
            batch.append(nxt)
    return False

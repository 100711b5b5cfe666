"""The engine's fast path for probes that can start an item without a coroutine.

Why: with a coroutine per item, a brute force of millions of cheap items (a
DNS query each, most answered NXDOMAIN) spends most of its time in the
engine — a queue hop, a deadline timer, a per-host slot and a task wake-up
per item — not in the probe. A probe that offers
``submit(line, target, done) -> bool`` starts an item at once and calls
``done(record)`` from the event loop when it has finished it, or
``done(None)`` when the item needs the ordinary path (``probe()``, with the
engine's retries). Only those items get a coroutine.

The guarantees are the ordinary path's: one record per item; at most
``concurrency`` items started and not yet handed to the writer (a credit per
item, returned when its record is queued); a record with a retryable error
kind goes through the ordinary path with its retries; every item has the same
hard deadline (a FIFO of deadlines swept by the one drain task, so no timer
per item; a late ``done`` is ignored); a graceful stop drops the items not
started. The per-host cap is not applied here: a probe offers ``submit`` only
when each of its targets is its own host (a name to resolve).
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._models import ErrorInfo, ErrorKind, Record

if TYPE_CHECKING:
    from .runner import _Item, _Run

__all__ = ["AcceptsFilter", "Submitting", "stream_work"]

_TICK = 0.25  # seconds between deadline sweeps when nothing lands
_UNSEEN = object()


@runtime_checkable
class Submitting(Protocol):
    """A probe that can start one item without a coroutine (see the module docstring)."""

    def submit(self, line: str, target: Any, done: Any) -> bool: ...


@runtime_checkable
class AcceptsFilter(Protocol):
    """A probe told which of its records are only counted, never written.

    The engine calls ``accept_filter(keep)`` (``keep`` one of the probe's own
    methods) before the run; the probe may then hand the engine a shared
    stand-in carrying only the error kind for any record ``keep`` rejects.
    """

    def accept_filter(self, keep: Callable[[Record], bool]) -> None: ...


_Entry = tuple[int, str, Any]  # an item in flight: (seq, line, target)


class _State:
    __slots__ = ("free", "inflight", "landed", "room", "waiter")

    def __init__(self, credits: int) -> None:
        self.free = credits
        self.inflight: dict[int, _Entry] = {}
        self.landed: collections.deque[tuple[_Entry, Record | None]] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None  # the drain task, asleep
        self.room = asyncio.Event()

    def land(self, item: _Entry, record: Record | None) -> None:
        if self.inflight.pop(item[0], None) is None:
            return  # its deadline passed: the record was made already
        self.landed.append((item, record))
        if self.waiter is not None:  # an attribute test per item, not an Event.set() call
            self.wake()

    def wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def give_back(self, n: int) -> None:
        self.free += n
        self.room.set()


async def stream_work(run: _Run[Any], submit: Any) -> None:
    """Consume ``run.work`` through ``submit`` until its end marker; see the module docstring.

    An entry of ``run.work`` is one item or a block: a tuple of three parallel
    lists (numbers, lines, targets). Finished records go to ``run.results`` as
    lists, one per sweep of the drain task.
    """
    from .runner import _Item

    conc = run.config.concurrency
    st = _State(conc)
    slow: asyncio.Queue[_Item[Any] | None] = asyncio.Queue(conc)
    expiry: collections.deque[tuple[float, _Entry]] = collections.deque()
    loop = asyncio.get_running_loop()
    stats, stopper, results = run.stats, run.stopper, run.results
    fed_all = False

    async def drain() -> None:
        retry_on = run.retry_on if run.config.retries > 0 else frozenset()
        while True:
            if not st.landed:
                st.waiter = loop.create_future()
                try:
                    async with asyncio.timeout(_TICK):
                        await st.waiter
                except TimeoutError:
                    pass
            now = loop.time()
            while expiry and expiry[0][0] <= now:
                item = expiry.popleft()[1]
                if st.inflight.pop(item[0], None) is not None:
                    err = ErrorInfo(ErrorKind.TIMEOUT, f"no result within {run.deadline:g}s")
                    st.landed.append((item, run.probe.failed(item[1], item[2], err)))
            out: list[Any] = []
            landed = st.landed
            final: object = _UNSEEN  # the last record seen to be final: a shared stand-in repeats
            while landed:
                item, record = landed.popleft()
                if record is not final:
                    if record is None or (
                        record.error is not None and record.error.kind in retry_on
                    ):
                        stats.in_flight -= 1
                        await slow.put(_Item(*item))  # keeps its credit until that path is done
                        continue
                    final = record
                out.append((item[0], record))
            if out:
                stats.in_flight -= len(out)
                await results.put(out)
                st.give_back(len(out))
            while expiry and expiry[0][1][0] not in st.inflight:
                expiry.popleft()  # finished: no deadline to watch
            if fed_all and not st.inflight and not st.landed:
                return

    async def ordinary() -> None:
        while (item := await slow.get()) is not None:
            record = await run._attempts(item)
            await results.put((item.seq, record))
            st.give_back(1)

    async with asyncio.TaskGroup() as tg:
        drainer = tg.create_task(drain())
        for _ in range(conc):
            tg.create_task(ordinary())
        bucket, deadline = run.bucket, run.deadline
        inflight, land, partial = st.inflight, st.land, functools.partial
        while (entry := await run.work.get()) is not None:
            block: Any = (
                zip(*entry, strict=True)
                if type(entry) is tuple
                else ((entry.seq, entry.line, entry.target),)
            )
            expires = loop.time() + deadline
            for item in block:  # each (seq, line, target): kept as the item in flight
                seq, line, target = item
                if stopper.stopping:
                    if run.on_drop is not None:
                        run.on_drop(seq)
                    continue  # not started: a resumed run will do it
                if st.free <= 0:
                    while st.free <= 0:
                        st.room.clear()
                        await st.room.wait()
                    expires = loop.time() + deadline
                st.free -= 1
                if bucket is not None:
                    await bucket.acquire()
                    expires = loop.time() + deadline
                stats.in_flight += 1
                inflight[seq] = item
                expiry.append((expires, item))
                if not submit(line, target, partial(land, item)):
                    land(item, None)
        fed_all = True
        st.wake()
        await drainer
        for _ in range(conc):
            await slow.put(None)

"""The engine's fast path for probes that start items in bulk, without a coroutine each.

Why: with a coroutine per item, a brute force of millions of cheap items (a
DNS query each, most answered NXDOMAIN) spends most of its time in the
engine — a queue hop, a deadline timer, a per-host slot and a task wake-up
per item — not in the probe. Even a callback object per item costs more than
the query. A probe that offers ``open_lane(settle)`` returns a *lane*: the
engine hands it items in runs (``lane.start(items)``), and the lane reports
what finished, many items per call, through ``settle(done, counted)``:

- ``done`` lists ``(item, record)``, with ``record`` ``None`` when the item
  needs the ordinary path (``probe()``, with the engine's retries);
- ``counted`` is ``None`` or ``(kind, seqs)``: items whose records the
  engine's keep-filter rejects (see :class:`AcceptsFilter`) and that only
  count, under error kind ``kind``. The bulk of a brute force travels so, as
  one list of numbers.

Only items sent to ``probe()`` get a coroutine. The guarantees are the
ordinary path's: one record per item; at most ``concurrency`` items started
and not yet handed to the writer (a credit per item, returned when its
record is queued); a record with a retryable error kind goes through the
ordinary path with its retries; every item has the same hard deadline (a
FIFO of started runs, swept by the drain task: no timer per item; a late
settlement is ignored); a graceful stop drops the items not started.
The per-host cap is not applied here: a probe offers a lane only when each
of its targets is its own host (a name to resolve).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._models import ErrorInfo, ErrorKind, Record

if TYPE_CHECKING:
    from .runner import _Run

__all__ = ["AcceptsFilter", "Lane", "OpensLane", "Settle", "stream_work"]

_TICK = 0.25  # seconds the drain task sleeps when nothing lands

_Entry = tuple[int, str, Any]  # an item: (seq, line, target)
Settle = Callable[[list[tuple[_Entry, Record | None]], tuple[str | None, list[int]] | None], None]


class Lane(Protocol):
    """Starts items in bulk and settles them through the ``settle`` it was opened with."""

    def start(self, items: Sequence[_Entry]) -> tuple[int, float]:
        """Start the items in order; returns how many started and, when not all, the
        seconds to wait before offering the rest (0.0: give the next one to ``probe()``)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class OpensLane(Protocol):
    """A probe that starts items in bulk (see the module docstring).

    ``open_lane`` returns ``None`` when the run's options rule the lane out;
    every item then takes ``probe()``.
    """

    def open_lane(self, settle: Settle) -> Lane | None: ...


@runtime_checkable
class AcceptsFilter(Protocol):
    """A probe told which of its records are only counted, never written.

    The engine calls ``accept_filter(keep)`` (``keep`` one of the probe's own
    methods) before the run; the probe may then settle items whose records
    ``keep`` rejects as ``counted`` (see the module docstring) instead of
    building a record for each.
    """

    def accept_filter(self, keep: Callable[[Record], bool]) -> None: ...


class _State:
    __slots__ = ("free", "inflight", "landed", "room", "waiter")

    def __init__(self, credits: int) -> None:
        self.free = credits
        self.inflight: set[int] = set()  # numbers of the items the lane has and has not settled
        self.landed: collections.deque[
            tuple[list[tuple[_Entry, Record | None]], tuple[str | None, list[int]] | None]
        ] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None  # the drain task, asleep
        self.room = asyncio.Event()

    def settle(
        self,
        done: list[tuple[_Entry, Record | None]],
        counted: tuple[str | None, list[int]] | None,
    ) -> None:
        self.landed.append((done, counted))
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def give_back(self, n: int) -> None:
        self.free += n
        self.room.set()


async def stream_work(run: _Run[Any], probe: OpensLane) -> None:
    """Consume ``run.work`` through the probe's lane until its end marker.

    An entry of ``run.work`` is one item, a :class:`~.runner.Block` or (from a
    worker's socket) a tuple of three parallel lists: numbers, lines, targets.
    Finished records go to ``run.results`` as lists, one per settled batch.
    """
    from .runner import Block, Filtered, _Item

    conc = run.config.concurrency
    st = _State(conc)
    inflight = st.inflight
    slow: asyncio.Queue[_Item[Any] | None] = asyncio.Queue(conc)
    expiry: collections.deque[tuple[float, list[_Entry]]] = collections.deque()
    loop = asyncio.get_running_loop()
    stats, stopper, results = run.stats, run.stopper, run.results
    retry_on = run.retry_on if run.config.retries > 0 else frozenset()
    lane = probe.open_lane(st.settle)
    fed_all = False

    def expired(now: float) -> list[tuple[int, Any]]:
        """Timeout records for items past the deadline; forget runs that are all done."""
        out: list[tuple[int, Any]] = []
        while expiry:
            deadline, items = expiry[0]
            if deadline <= now:
                for item in items:
                    if item[0] in inflight:
                        inflight.discard(item[0])
                        err = ErrorInfo(ErrorKind.TIMEOUT, f"no result within {run.deadline:g}s")
                        out.append((item[0], run.probe.failed(item[1], item[2], err)))
            elif any(item[0] in inflight for item in items):
                break
            expiry.popleft()
        return out

    async def drain() -> None:
        while True:
            if not st.landed:
                if fed_all and not inflight:
                    return
                st.waiter = loop.create_future()
                try:
                    async with asyncio.timeout(_TICK):
                        await st.waiter
                except TimeoutError:
                    pass
            out = expired(loop.time())
            while st.landed:
                done, counted = st.landed.popleft()
                for item, record in done:
                    if item[0] not in inflight:
                        continue  # past its deadline: its record was made already
                    inflight.discard(item[0])
                    if record is None or (
                        record.error is not None and record.error.kind in retry_on
                    ):
                        stats.in_flight -= 1
                        await slow.put(_Item(*item))  # keeps its credit until that path is done
                    else:
                        out.append((item[0], record))
                if counted is not None and counted[1]:
                    seqs = counted[1]
                    if not inflight.issuperset(seqs):
                        seqs = [seq for seq in seqs if seq in inflight]
                    if seqs:
                        inflight.difference_update(seqs)
                        out.append((seqs[0], Filtered(counted[0], seqs)))
            if out:
                n = sum(len(r.seqs) if isinstance(r, Filtered) else 1 for _, r in out)
                stats.in_flight -= n
                await results.put(out)
                st.give_back(n)

    async def ordinary() -> None:
        while (item := await slow.get()) is not None:
            record = await run._attempts(item)
            await results.put((item.seq, record))
            st.give_back(1)

    async def to_probe(item: _Entry) -> None:
        st.free -= 1
        await slow.put(_Item(*item))

    try:
        async with asyncio.TaskGroup() as tg:
            drainer = tg.create_task(drain())
            for _ in range(conc):
                tg.create_task(ordinary())
            bucket, deadline = run.bucket, run.deadline
            while (entry := await run.work.get()) is not None:
                seqs: list[int]
                items: list[_Entry]
                if type(entry) is tuple:
                    seqs = entry[0]
                    items = list(zip(*entry, strict=True))
                elif isinstance(entry, Block):
                    seqs = entry.seqs
                    items = list(zip(seqs, entry.lines, entry.targets, strict=True))
                else:
                    seqs = [entry.seq]
                    items = [(entry.seq, entry.line, entry.target)]
                i, end = 0, len(items)
                while i < end:
                    if stopper.stopping:
                        if run.on_drop is not None:
                            for item in items[i:]:
                                run.on_drop(item[0])
                        break  # not started: a resumed run will do them
                    while st.free <= 0:
                        st.room.clear()
                        await st.room.wait()
                    n = min(st.free, end - i)
                    if bucket is not None:
                        await bucket.acquire()
                        n = 1
                    if lane is None:
                        await to_probe(items[i])
                        i += 1
                        continue
                    run_items = items[i : i + n] if i or n < end else items
                    started, wait = lane.start(run_items)
                    if started:
                        if started < len(run_items):
                            run_items = run_items[:started]
                        inflight.update(seqs[i : i + started])
                        expiry.append((loop.time() + deadline, run_items))
                        st.free -= started
                        stats.in_flight += started
                        i += started
                    if started < n:
                        if wait > 0:
                            await asyncio.sleep(wait)
                        else:
                            await to_probe(items[i])
                            i += 1
            fed_all = True
            st.settle([], None)  # wake the drain task: it ends once the lane is empty
            await drainer
            for _ in range(conc):
                await slow.put(None)
    finally:
        if lane is not None:
            lane.close()

"""The engine's fast path for probes that start items in bulk, without a coroutine each.

Why: with a coroutine per item, a brute force of millions of cheap items (a
DNS query each, most answered NXDOMAIN) spends most of its time in the
engine — a queue hop, a deadline timer, a per-host slot and a task wake-up
per item — not in the probe. Even a callback object per item costs more than
the query. A probe that offers ``open_lane(settle)`` (``protocols.OpensLane``)
returns a *lane*: the engine hands it items in runs (``lane.start(items)``),
and the lane reports what finished, many items per call, through ``settle``
(``protocols.Settle``). The bulk of a brute force travels as ``counted``: one
list of numbers of items the probe's own filter rejects.

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
from collections.abc import Callable
from typing import Any, Protocol

from .._config import ScanConfig
from .._models import ErrorInfo, ErrorKind, Record
from .items import Block, Filtered, Item, Result
from .limits import TokenBucket
from .protocols import LaneItem, OpensLane, Probe
from .stats import Stats
from .stopper import Stopper

__all__ = ["LaneHost", "stream_work"]

_TICK = 0.25  # seconds the drain task sleeps when nothing lands

_Landed = tuple[list[tuple[LaneItem, Record | None]], tuple[str | None, list[int]] | None]


class LaneHost(Protocol):
    """What the lane uses of the run it serves (:class:`~.runner.Run` is one).

    ``work`` carries items, blocks, or (from a worker's socket) blocks; the
    lane puts lists of results on ``results``. ``attempts(item)`` is the
    ordinary path (host slot, rate, retries, deadline) for items the lane
    hands back; ``on_drop`` is told of items a graceful stop discards.
    """

    config: ScanConfig
    probe: Probe[Any]
    stats: Stats
    stopper: Stopper
    work: asyncio.Queue[Any]
    results: asyncio.Queue[Any]
    bucket: TokenBucket | None
    deadline: float
    retry_on: frozenset[ErrorKind]
    on_drop: Callable[[int], None] | None

    async def attempts(self, item: Item[Any]) -> Record | None: ...


class _State:
    __slots__ = ("free", "inflight", "landed", "room", "waiter")

    def __init__(self, credits: int) -> None:
        self.free = credits
        self.inflight: set[int] = set()  # numbers of the items the lane has and has not settled
        self.landed: collections.deque[_Landed] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None  # the drain task, asleep
        self.room = asyncio.Event()

    def settle(
        self,
        done: list[tuple[LaneItem, Record | None]],
        counted: tuple[str | None, list[int]] | None,
    ) -> None:
        self.landed.append((done, counted))
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def give_back(self, n: int) -> None:
        self.free += n
        self.room.set()


async def stream_work(run: LaneHost, probe: OpensLane) -> None:
    """Consume ``run.work`` through the probe's lane until its end marker.

    An entry of ``run.work`` is one :class:`~.items.Item` or a
    :class:`~.items.Block`. Finished records go to ``run.results`` as lists,
    one per settled batch.
    """
    conc = run.config.concurrency
    st = _State(conc)
    inflight = st.inflight
    slow: asyncio.Queue[Item[Any] | None] = asyncio.Queue(conc)
    expiry: collections.deque[tuple[float, list[LaneItem]]] = collections.deque()
    loop = asyncio.get_running_loop()
    stats, stopper, results = run.stats, run.stopper, run.results
    retry_on = run.retry_on if run.config.retries > 0 else frozenset()
    lane = probe.open_lane(st.settle)
    fed_all = False

    def expired(now: float) -> list[Result]:
        """Timeout records for items past the deadline; forget runs that are all done."""
        out: list[Result] = []
        while expiry:
            deadline, items = expiry[0]
            if deadline <= now:
                for seq, line, target in items:
                    if seq in inflight:
                        inflight.discard(seq)
                        err = ErrorInfo(ErrorKind.TIMEOUT, f"no result within {run.deadline:g}s")
                        out.append((seq, run.probe.failed(line, target, err)))
            elif any(seq in inflight for seq, _, _ in items):
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
                for (seq, line, target), record in done:
                    if seq not in inflight:
                        continue  # past its deadline: its record was made already
                    inflight.discard(seq)
                    if record is None or (
                        record.error is not None and record.error.kind in retry_on
                    ):
                        stats.in_flight -= 1
                        # It keeps its credit until that path is done.
                        await slow.put(Item(seq, line, target))
                    else:
                        out.append((seq, record))
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
            record = await run.attempts(item)
            if record is not None:  # None: a stop came before it started
                await results.put((item.seq, record))
            st.give_back(1)

    async def to_probe(item: LaneItem) -> None:
        st.free -= 1
        await slow.put(Item(*item))

    try:
        async with asyncio.TaskGroup() as tg:
            drainer = tg.create_task(drain())
            for _ in range(conc):
                tg.create_task(ordinary())
            bucket, deadline = run.bucket, run.deadline
            while (entry := await run.work.get()) is not None:
                seqs: list[int]
                items: list[LaneItem]
                if isinstance(entry, Block):
                    seqs = entry.seqs
                    items = list(zip(seqs, entry.lines, entry.targets, strict=True))
                else:
                    seqs = [entry.seq]
                    items = [(entry.seq, entry.line, entry.target)]
                i, end = 0, len(items)
                while i < end:
                    if stopper.stopping:
                        if run.on_drop is not None:
                            for seq in seqs[i:]:
                                run.on_drop(seq)
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

"""The pipeline: lines -> targets -> bounded queue -> workers -> writer -> sinks.

One producer reads lines lazily, expands each into targets, numbers them (the
numbers are what checkpoints record), drops duplicates and feeds a bounded
queue. ``concurrency`` workers take targets, wait for the host's slot and the
rate limiter, run the probe under a hard deadline and retry retryable errors
with exponential backoff. One writer batches finished records, applies the
keep-filter, hands batches to every sink and then commits them to the
checkpoint. Every item yields exactly one record: a result, or an error record
(invalid input, duplicate, timeout, internal error) made by the probe's
``failed``.

Stopping is two-stage (see :class:`Stopper`): the first request stops
reading, discards queued items that have not started (a resumed run does
them) and lets in-flight ones finish; the second cancels in-flight work at
once. In both cases the writer drains and flushes what finished.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterable, Sequence
from typing import Any, Generic, TypeVar, cast

from .._config import ScanConfig
from .._deadline import deadline
from .._exceptions import InvalidTarget
from .._models import ErrorInfo, ErrorKind, Record, records_of
from .._redact import redact
from ._stream import stream_work
from .checkpoint import Checkpoint
from .dedup import Deduper
from .items import BLOCK, Block, Encoded, Filtered, Item, LoopQueue, Result, Written, take_ready
from .limits import HostLimiter, MonotonicClock, TokenBucket
from .protocols import (
    BatchedLines,
    Clock,
    Executor,
    OpensLane,
    Positioned,
    Probe,
    Sink,
    TakesEncoded,
    TakesItems,
    keeps_deadline,
)
from .stats import Stats
from .stopper import Stopper

__all__ = ["DEFAULT_RETRY_ON", "Run", "shared_encoder"]

T = TypeVar("T")

DEFAULT_RETRY_ON: frozenset[ErrorKind] = frozenset({ErrorKind.RESET})
_DEADLINE_MARGIN = 1.0  # seconds the engine allows past timeouts.total before it steps in
_BATCH = 512
_FLUSH_EVERY = 1.0  # seconds between fsyncs of sinks and checkpoint
_BLOCK_AGE = 0.05  # seconds a partial block may wait for more input before it is shipped


def shared_encoder(sinks: Sequence[Sink]) -> Callable[[Sequence[Record]], list[bytes]] | None:
    """The encoder every sink takes (``None`` unless all take the same one)."""
    if not sinks or not all(isinstance(s, TakesEncoded) for s in sinks):
        return None
    encoders = {cast(TakesEncoded, s).encode_lines for s in sinks}
    return encoders.pop() if len(encoders) == 1 else None


def batches(lines: AsyncIterable[str] | Iterable[str]) -> AsyncIterator[list[str]]:
    """The input as lists of lines: a source's own batches (:class:`BatchedLines`)
    when it has them, else a line per list (an async source) or chunks (a sync one)."""
    if isinstance(lines, BatchedLines):
        return lines.batches()
    if isinstance(lines, AsyncIterable):
        return _one_by_one(lines)
    return _from_iterable(lines)


async def _one_by_one(lines: AsyncIterable[str]) -> AsyncIterator[list[str]]:
    async for line in lines:
        yield [line]


async def _from_iterable(lines: Iterable[str]) -> AsyncIterator[list[str]]:
    it = iter(lines)
    while batch := list(itertools.islice(it, 1024)):
        yield batch
        await asyncio.sleep(0)


class Run(Generic[T]):
    """One run of the pipeline: the producer, the consumers and the writer.

    :func:`aioscout.engine.run_scan` builds one per scan; a worker process
    builds one with no sinks and runs only its consumers
    (:meth:`start_consumers`), feeding ``work`` and draining ``results`` itself.
    ``keep`` drops records at the writer (still counted); ``on_drop`` is told
    the number of each item a graceful stop discards before it started.
    """

    def __init__(
        self,
        probe: Probe[T],
        config: ScanConfig,
        *,
        sinks: Sequence[Sink] = (),
        keep: Callable[[Record], bool] | None = None,
        checkpoint: Checkpoint | None = None,
        stopper: Stopper | None = None,
        stats: Stats | None = None,
        clock: Clock | None = None,
        retry_on: Collection[ErrorKind] = DEFAULT_RETRY_ON,
        executor: Executor | None = None,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.probe = probe
        self.loop = asyncio.get_running_loop()
        self.executor = executor
        self.on_drop = on_drop
        self.sinks = sinks
        self.config = config
        self.keep = keep
        self.checkpoint = checkpoint
        self.stopper = stopper or Stopper()
        self.stats = stats or Stats()
        self.clock = clock or MonotonicClock()
        self.retry_on = frozenset(retry_on)
        self.hosts = HostLimiter(config.per_host)
        self.bucket = (
            TokenBucket(config.rate, burst=max(1, int(config.rate // 10)), clock=self.clock)
            if config.rate > 0
            else None
        )
        self.deadline = config.timeouts.total + _DEADLINE_MARGIN
        self.probe_deadline = keeps_deadline(probe)
        qsize = config.queue_size or max(64, config.concurrency * 2)
        # Items travel in blocks to an executor that takes them, and to a probe
        # with a lane (see _stream): a list append per item instead of a queue hop.
        self.blocks = (
            executor.takes_blocks if executor is not None else isinstance(probe, OpensLane)
        )
        self._block = Block()
        self._block_timer: asyncio.TimerHandle | None = None
        self.work: asyncio.Queue[Any] = LoopQueue(self.loop, 4 if self.blocks else qsize)
        self.results: asyncio.Queue[Result | list[Result] | None] = LoopQueue(self.loop, qsize)
        self.positioned = next((s for s in sinks if isinstance(s, Positioned)), None)
        self.keyed = any(isinstance(s, TakesItems) for s in sinks)

    async def run(self, lines: AsyncIterator[list[str]]) -> None:
        async with asyncio.TaskGroup() as outer:
            writer = outer.create_task(self._write())
            pipeline = outer.create_task(self._pipeline(lines))
            try:
                with self.stopper.on_abort(pipeline.cancel):
                    await pipeline
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # we are being cancelled ourselves
                self.stats.interrupted = True  # the abort stage cancelled the pipeline
            finally:
                # A writer that failed (a sink gave up) no longer drains the queue:
                # waiting for room there would hang the run instead of reporting it.
                if not writer.done():
                    await self.results.put(None)
        if self.stopper.stopping:
            self.stats.interrupted = True

    async def _pipeline(self, lines: AsyncIterator[list[str]]) -> None:
        async with asyncio.TaskGroup() as tg:
            if self.executor is not None:
                consumers = 1
                tg.create_task(self.executor.run(self.work, self.results, self.stopper, self.stats))
            else:
                consumers = self.start_consumers(tg)
            producer = tg.create_task(self._produce(lines))
            # A graceful stop cancels the producer even when it waits on a quiet stdin.
            with self.stopper.on_stop(producer.cancel):
                await asyncio.wait([producer])
            for _ in range(consumers):
                await self.work.put(None)

    async def _produce(self, lines: AsyncIterator[list[str]]) -> None:
        try:
            await self._produce_items(lines)
            if self._block and not self.stopper.stopping:
                await self._ship()
        finally:
            if self._block_timer is not None:
                self._block_timer.cancel()

    async def _ship(self) -> None:
        block, self._block = self._block, Block()
        if self._block_timer is not None:
            self._block_timer.cancel()
            self._block_timer = None
        await self.work.put(block)

    def _ship_stale(self, block: Block) -> None:
        """A partial block waited long enough (slow input): ship it if there is room."""
        self._block_timer = None
        if block is not self._block or not block:
            return
        try:
            self.work.put_nowait(block)
        except asyncio.QueueFull:
            loop = asyncio.get_running_loop()
            self._block_timer = loop.call_later(_BLOCK_AGE, self._ship_stale, block)
            return
        self._block = Block()

    async def _add_to_block_edge(self) -> None:
        """The block just got its first item (start its age timer) or is full (ship it)."""
        block = self._block
        if len(block.seqs) >= BLOCK:
            await self._ship()
        elif self._block_timer is None:
            loop = asyncio.get_running_loop()
            self._block_timer = loop.call_later(_BLOCK_AGE, self._ship_stale, block)

    async def _produce_items(self, lines: AsyncIterator[list[str]]) -> None:
        seq = 0
        probe, stats, stopper = self.probe, self.stats, self.stopper
        expand, identity = probe.expand, probe.identity
        # Made here, not with the run: a worker process or a cluster chunk runs the
        # engine without producing, and its 16 MB table would be allocated for nothing.
        seen = Deduper(self.config.dedup_window).seen if self.config.dedup else None
        # A fresh checkpoint has nothing done yet: no look-up per item.
        ckpt = self.checkpoint if self.checkpoint is not None and self.checkpoint.resumed else None
        blocks = self.blocks
        block = self._block
        async for batch in lines:
            for line in batch:
                if stopper.stopping:
                    return
                stats.read += 1
                try:
                    for target in expand(line):
                        s, seq = seq, seq + 1
                        if seq & 127 == 0:
                            # Let the router, the writer and signals in: at the start the
                            # first items reach the workers while the next are parsed, and
                            # long skips of a resumed run stay responsive.
                            await asyncio.sleep(0)
                        repeat = seen is not None and seen(identity(target))
                        if ckpt is not None and ckpt.is_done(s):
                            stats.skipped += 1
                        elif repeat:
                            detail = "same target as an earlier input"
                            err = ErrorInfo(ErrorKind.DUPLICATE, detail)
                            await self.results.put((s, probe.failed(line, target, err)))
                        elif blocks:
                            if block is not self._block:  # shipped meanwhile (its age ran out)
                                block = self._block
                            block.seqs.append(s)
                            block.lines.append(line)
                            block.targets.append(target)
                            if len(block.seqs) >= BLOCK or len(block.seqs) == 1:
                                await self._add_to_block_edge()
                                block = self._block
                        else:
                            await self.work.put(Item(s, line, target))
                except InvalidTarget as exc:
                    s, seq = seq, seq + 1
                    if ckpt is not None and ckpt.is_done(s):
                        stats.skipped += 1
                    else:
                        err = ErrorInfo(ErrorKind.INVALID_INPUT, redact(str(exc)))
                        await self.results.put((s, probe.failed(redact(line), None, err)))

    def start_consumers(self, tg: asyncio.TaskGroup) -> int:
        """Start what takes items off ``work``; returns how many end markers it needs.

        A probe with a lane (``open_lane``) gets the fast path (:mod:`._stream`): one
        consumer and a coroutine only for items that need ``probe()``.
        """
        if isinstance(self.probe, OpensLane):
            tg.create_task(stream_work(self, self.probe))
            return 1
        for _ in range(self.config.concurrency):
            tg.create_task(self._work())
        return self.config.concurrency

    async def _work(self) -> None:
        while (item := await self.work.get()) is not None:
            if self.stopper.stopping:
                if self.on_drop is not None:
                    self.on_drop(item.seq)
                continue  # not started: a resumed run will do it
            record = await self.attempts(item)
            if record is not None:
                await self.results.put((item.seq, record))

    async def attempts(self, item: Item[T]) -> Record | None:
        """``item``'s record: its host's slot, the rate limiter, then attempts with retries.

        ``None`` when a stop was requested while it waited for its slot or a token:
        it never started (``on_drop`` is told; a resumed run does it). Only items
        past those waits count as in flight.
        """
        probe, stats = self.probe, self.stats
        host = probe.host_of(item.target)
        await self.hosts.acquire(host)
        started = False
        try:
            attempt = 0
            while True:
                if self.bucket is not None:
                    await self.bucket.acquire()
                if not started:
                    if self.stopper.stopping:
                        if self.on_drop is not None:
                            self.on_drop(item.seq)
                        return None
                    started = True
                    stats.in_flight += 1
                record = await self._attempt(item)
                err = record.error
                if (
                    err is None
                    or err.kind not in self.retry_on
                    or attempt >= self.config.retries
                    or self.stopper.stopping
                ):
                    return record
                attempt += 1
                stats.retries += 1
                delay = self.config.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
                await self.clock.sleep(delay)
        finally:
            if started:
                stats.in_flight -= 1
            self.hosts.release(host)

    async def _attempt(self, item: Item[T]) -> Record:
        try:
            if self.probe_deadline:
                return await self.probe.probe(item.line, item.target)
            async with deadline(self.loop, self.deadline):
                return await self.probe.probe(item.line, item.target)
        except TimeoutError:
            err = ErrorInfo(ErrorKind.TIMEOUT, f"no result within {self.deadline:g}s")
        except Exception as exc:  # a probe bug must not take the run down
            err = ErrorInfo(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}"[:500])
        return self.probe.failed(item.line, item.target, err)

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        last_sync = loop.time()
        finished = False
        while not finished:
            first = await self.results.get()
            batch: list[Written] = []
            if first is None:
                finished = True
            else:
                batch += first if isinstance(first, list) else [first]
                finished = take_ready(self.results, batch, _BATCH)
            if batch:
                await self._commit(batch)
            if finished or loop.time() - last_sync >= _FLUSH_EVERY:
                await self._sync()
                last_sync = loop.time()

    async def _commit(self, batch: list[Written]) -> None:
        stats, keep = self.stats, self.keep
        out: list[Record] = []
        items: list[int] = []  # the item number of each record of ``out``
        seqs: list[int] = []
        encoded: list[bytes] = []
        n_encoded = 0
        for seq, record in batch:
            if isinstance(record, Encoded):
                n = len(record.seqs)
                stats.done += n
                kinds = record.kinds
                ok = kinds.count(None)
                stats.ok += ok
                if ok != n:
                    stats.errors.update(k for k in kinds if k is not None)
                encoded.append(record.data)
                n_encoded += n
                seqs += record.seqs
                continue
            if isinstance(record, Filtered):
                n = len(record.seqs)
                stats.done += n
                if record.kind is None:
                    stats.ok += n
                else:
                    stats.errors[record.kind] += n
                stats.filtered += n
                seqs += record.seqs
                continue
            seqs.append(seq)
            for rec in records_of(record):
                stats.done += 1
                err = rec.error
                if err is None:
                    stats.ok += 1
                else:
                    stats.errors[str(err.kind)] += 1
                if keep is None or keep(rec):
                    out.append(rec)
                    items.append(seq)
                else:
                    stats.filtered += 1
        if out:
            for sink in self.sinks:
                if self.keyed and isinstance(sink, TakesItems):
                    await sink.write_items(out, items)
                else:
                    await sink.write(out)
            stats.written += len(out)
        if encoded:
            data = b"".join(encoded)
            for sink in self.sinks:
                await cast(TakesEncoded, sink).write_encoded(data, n_encoded)
            stats.written += n_encoded
        if self.checkpoint is not None:
            pos = self.positioned.position() if self.positioned is not None else None
            self.checkpoint.commit(seqs, pos)

    async def _sync(self) -> None:
        for sink in self.sinks:
            await sink.flush()
        if self.checkpoint is not None:
            await asyncio.to_thread(self.checkpoint.sync)

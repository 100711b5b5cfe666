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
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast, runtime_checkable

from .._config import ScanConfig
from .._deadline import deadline
from .._exceptions import InvalidTarget
from .._models import ErrorInfo, ErrorKind, Record, records_of
from .._redact import redact
from ._protocols import Clock, Probe, Sink
from ._stream import AcceptsFilter, OpensLane, stream_work
from .checkpoint import Checkpoint
from .dedup import Deduper
from .limits import HostLimiter, MonotonicClock, TokenBucket
from .stats import Stats

__all__ = ["DEFAULT_RETRY_ON", "Positioned", "Stopper", "TakesEncoded", "run_scan"]

T = TypeVar("T")

DEFAULT_RETRY_ON: frozenset[ErrorKind] = frozenset({ErrorKind.RESET})
_DEADLINE_MARGIN = 1.0  # seconds the engine allows past timeouts.total before it steps in
_BATCH = 512
_FLUSH_EVERY = 1.0  # seconds between fsyncs of sinks and checkpoint


@runtime_checkable
class Positioned(Protocol):
    """A sink that knows how many bytes of complete records it has written."""

    def position(self) -> int: ...


class Stopper:
    """Two-stage stop request shared by the signal handlers and the engine.

    ``request()`` once: stop gracefully; twice: abort. ``stop()`` and
    ``abort()`` name the stages directly.
    """

    def __init__(self) -> None:
        self.stopping = False
        self.aborting = False
        self._on_stop: Callable[[], object] | None = None
        self._on_abort: Callable[[], object] | None = None

    def request(self) -> None:
        if self.stopping:
            self.abort()
        else:
            self.stop()

    def stop(self) -> None:
        self.stopping = True
        if self._on_stop is not None:
            self._on_stop()

    def abort(self) -> None:
        self.stop()
        self.aborting = True
        if self._on_abort is not None:
            self._on_abort()


@runtime_checkable
class _ProbeLike(Protocol):
    def expand(self, line: str) -> Iterable[object]: ...


class Executor(Protocol):
    """Runs work items somewhere else (other processes) and returns their records."""

    async def run(
        self,
        work: asyncio.Queue[Any],
        results: asyncio.Queue[Any],
        stopper: Stopper,
        stats: Stats,
    ) -> None: ...


@dataclass(slots=True)
class _Item(Generic[T]):
    seq: int
    line: str
    target: T


class Filtered:
    """Stands for records of items ``seqs`` the keep-filter dropped in a worker process.

    Only their error kind (``None`` for successes) crosses back, for the
    statistics; the checkpoint still records the items as done.
    """

    __slots__ = ("kind", "seqs")

    def __init__(self, kind: str | None, seqs: list[int]) -> None:
        self.kind = kind
        self.seqs = seqs


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


class Encoded:
    """Records of items ``seqs`` a worker process encoded (see :class:`TakesEncoded`).

    ``kinds`` holds each record's error kind (``None`` for a success), for the
    statistics; ``data`` the records' joined lines.
    """

    __slots__ = ("data", "kinds", "seqs")

    def __init__(self, seqs: list[int], kinds: list[str | None], data: bytes) -> None:
        self.seqs = seqs
        self.kinds = kinds
        self.data = data


def shared_encoder(sinks: Sequence[Sink]) -> Callable[[Sequence[Record]], list[bytes]] | None:
    """The encoder every sink takes (``None`` unless all take the same one)."""
    if not sinks or not all(isinstance(s, TakesEncoded) for s in sinks):
        return None
    encoders = {cast(TakesEncoded, s).encode_lines for s in sinks}
    return encoders.pop() if len(encoders) == 1 else None


_Result = tuple[int, Record | Filtered]
_Written = tuple[int, Record | Filtered | Encoded]  # what the writer takes
_BLOCK = 1024  # items per block when the executor takes blocks
_BLOCK_AGE = 0.05  # seconds a partial block may wait for more input before it is shipped


class Block:
    """Numbered items shipped together: three parallel lists (cheap to pickle).

    An executor whose ``takes_blocks`` is true gets these on its work queue
    instead of one item at a time, so the producer pays a list append per
    item rather than a queue hop.
    """

    __slots__ = ("lines", "seqs", "targets")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.lines: list[str] = []
        self.targets: list[Any] = []

    def __len__(self) -> int:
        return len(self.seqs)


class LoopQueue(asyncio.Queue[T]):
    """An :class:`asyncio.Queue` given its loop up front.

    On Python 3.11 a queue looks the running loop up each time a ``get`` or
    ``put`` has to wait, and each look-up asks the kernel for the process id: a
    worker's item queue, which hundreds of tasks wait on, spent 3% of the
    worker there.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self._bound = loop

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        return self._bound


def take_ready(queue: asyncio.Queue[Any], batch: list[Any], limit: int) -> bool:
    """Move what ``queue`` holds now onto ``batch``, up to ``limit`` entries; True at the
    end marker (``None``). An entry is one (seq, record) or a list of them (the fast
    path's batches)."""
    while len(batch) < limit and not queue.empty():
        nxt = queue.get_nowait()
        if nxt is None:
            return True
        if isinstance(nxt, list):
            batch += nxt
        else:
            batch.append(nxt)
    return False


def _batches(lines: AsyncIterable[str] | Iterable[str]) -> AsyncIterator[list[str]]:
    """The input as lists of lines: a source's own batches (see targets.LineStream)
    when it has them, else a line per list (an async source) or chunks (a sync one)."""
    batches = getattr(lines, "batches", None)
    if callable(batches):
        return cast(AsyncIterator[list[str]], batches())
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


ProbeFactory = Callable[[ScanConfig], Probe[T]]


async def run_scan(
    probe: Probe[T] | ProbeFactory[T],
    lines: AsyncIterable[str] | Iterable[str],
    sinks: Sequence[Sink],
    config: ScanConfig,
    *,
    keep: Callable[[Record], bool] | None = None,
    checkpoint: Checkpoint | None = None,
    stopper: Stopper | None = None,
    stats: Stats | None = None,
    clock: Clock | None = None,
    retry_on: Collection[ErrorKind] = DEFAULT_RETRY_ON,
    started: bool = False,
) -> Stats:
    """Probe every target of ``lines`` and write one record per item to ``sinks``.

    ``probe`` is a probe, or a picklable factory ``f(config) -> probe``; with
    ``config.workers > 1`` it must be a factory: each worker process builds its
    own probe from its share of the config, and this process keeps one
    (never started) for expanding lines. Returns the run's statistics. Raises
    :class:`aioscout.SinkError` when a sink gives up (the checkpoint then holds
    exactly what was written).

    ``started``: ``probe`` is a probe its owner already started and will close
    (one probe shared by several runs): this run neither starts nor closes it.

    Example::

        probe = HttpProbe(HttpOptions(), Timeouts(), Limits(), concurrency=100, per_host=4)
        stats = await run_scan(probe, ["127.0.0.1:8080"], [JsonlSink("out.jsonl")], ScanConfig())
    """
    executor = None
    if isinstance(probe, _ProbeLike):
        if config.workers > 1:
            raise TypeError("with workers > 1, pass a picklable probe factory, not a probe")
        instance: Probe[T] = probe
    else:
        instance = probe(config)
        # A keep-filter that is a method of a probe of the factory's type (built
        # from the same factory) runs in the workers, on their own probes, so
        # dropped records never cross between processes (only their kind does).
        owner = getattr(keep, "__self__", None)
        method = (
            keep.__name__
            if keep is not None and owner is not None and type(owner) is type(instance)
            else None
        )
        if config.workers > 1:
            from .workers import ProcessPool

            blocks = isinstance(instance, OpensLane)
            # Records cross back already encoded when the writer would only encode
            # them: every sink takes the same encoding and no filter runs here.
            encoder = (
                None if blocks or (keep is not None and method is None) else shared_encoder(sinks)
            )
            executor = ProcessPool(
                probe,
                instance.host_of,
                config,
                retry_on,
                keep_method=method,
                takes_blocks=blocks,
                encoder=encoder,
            )
    run = _Run(
        instance,
        sinks,
        config,
        keep,
        checkpoint,
        stopper or Stopper(),
        stats or Stats(),
        clock or MonotonicClock(),
        frozenset(retry_on),
        executor,
    )
    owned = executor is None and not started
    if executor is None:
        _tell_filter(instance, keep)
    if owned:
        await instance.start()
    try:
        await run.run(_batches(lines))
    finally:
        run.stats.finished = time.monotonic()
        if owned:
            await instance.aclose()
    return run.stats


def _tell_filter(instance: object, keep: Callable[[Record], bool] | None) -> None:
    """Tell a probe its keep-filter when that is one of its type's methods (see AcceptsFilter)."""
    owner = getattr(keep, "__self__", None)
    if keep is None or type(owner) is not type(instance) or not isinstance(instance, AcceptsFilter):
        return
    instance.accept_filter(getattr(instance, keep.__name__))


class _Run(Generic[T]):
    """State of one run; split out of :func:`run_scan` to keep each stage short."""

    def __init__(
        self,
        probe: Probe[T],
        sinks: Sequence[Sink],
        config: ScanConfig,
        keep: Callable[[Record], bool] | None,
        checkpoint: Checkpoint | None,
        stopper: Stopper,
        stats: Stats,
        clock: Clock,
        retry_on: frozenset[ErrorKind],
        executor: Executor | None = None,
    ) -> None:
        self.probe = probe
        self.loop = asyncio.get_running_loop()
        self.executor = executor
        self.on_drop: Callable[[int], None] | None = None  # told of items a stop discards
        self.sinks = sinks
        self.config = config
        self.keep = keep
        self.checkpoint = checkpoint
        self.stopper = stopper
        self.stats = stats
        self.clock = clock
        self.retry_on = retry_on
        self.hosts = HostLimiter(config.per_host)
        self.bucket = (
            TokenBucket(config.rate, burst=max(1, int(config.rate // 10)), clock=clock)
            if config.rate > 0
            else None
        )
        self.dedup = Deduper(config.dedup_window) if config.dedup else None
        self.deadline = config.timeouts.total + _DEADLINE_MARGIN
        self.probe_deadline = getattr(probe, "keeps_deadline", False) is True  # see Probe
        qsize = config.queue_size or max(64, config.concurrency * 2)
        # Items travel in blocks to an executor that takes them, and to a probe
        # with a lane (see _stream): a list append per item instead of a queue hop.
        self.blocks = bool(
            getattr(executor, "takes_blocks", False)
            if executor is not None
            else isinstance(probe, OpensLane)
        )
        self._block = Block()
        self._block_timer: asyncio.TimerHandle | None = None
        self.work: asyncio.Queue[Any] = LoopQueue(self.loop, 4 if self.blocks else qsize)
        self.results: asyncio.Queue[_Result | list[_Result] | None] = LoopQueue(self.loop, qsize)
        self.positioned = next((s for s in sinks if isinstance(s, Positioned)), None)

    async def run(self, lines: AsyncIterator[list[str]]) -> None:
        async with asyncio.TaskGroup() as outer:
            writer = outer.create_task(self._write())
            pipeline = outer.create_task(self._pipeline(lines))
            self.stopper._on_abort = pipeline.cancel
            if self.stopper.aborting:
                pipeline.cancel()
            try:
                await pipeline
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # we are being cancelled ourselves
                self.stats.interrupted = True  # the abort stage cancelled the pipeline
            finally:
                self.stopper._on_abort = None
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
            self.stopper._on_stop = producer.cancel
            if self.stopper.stopping:
                producer.cancel()
            try:
                await asyncio.wait([producer])
            finally:
                self.stopper._on_stop = None
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
        if len(block.seqs) >= _BLOCK:
            await self._ship()
        elif self._block_timer is None:
            loop = asyncio.get_running_loop()
            self._block_timer = loop.call_later(_BLOCK_AGE, self._ship_stale, block)

    async def _produce_items(self, lines: AsyncIterator[list[str]]) -> None:
        seq = 0
        probe, stats, stopper = self.probe, self.stats, self.stopper
        expand, identity = probe.expand, probe.identity
        seen = self.dedup.seen if self.dedup is not None else None
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
                            # first items reach the workers while the next are parsed (by
                            # 1,024 the first frame left 25-30 ms later), and long skips
                            # of a resumed run stay responsive.
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
                            if len(block.seqs) >= _BLOCK or len(block.seqs) == 1:
                                await self._add_to_block_edge()
                                block = self._block
                        else:
                            await self.work.put(_Item(s, line, target))
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
            record = await self._attempts(item)
            await self.results.put((item.seq, record))

    async def _attempts(self, item: _Item[T]) -> Record:
        probe, stats = self.probe, self.stats
        host = probe.host_of(item.target)
        await self.hosts.acquire(host)
        stats.in_flight += 1
        try:
            attempt = 0
            while True:
                if self.bucket is not None:
                    await self.bucket.acquire()
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
            stats.in_flight -= 1
            self.hosts.release(host)

    async def _attempt(self, item: _Item[T]) -> Record:
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
            batch: list[_Written] = []
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

    async def _commit(self, batch: list[_Written]) -> None:
        stats, keep = self.stats, self.keep
        out: list[Record] = []
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
                else:
                    stats.filtered += 1
        if out:
            for sink in self.sinks:
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

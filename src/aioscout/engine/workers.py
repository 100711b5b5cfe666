"""Process workers: one event loop per core, fed from this process's pipeline.

Why it is built this way: this process keeps everything that must be global
and ordered — reading the input, numbering, deduplication, checkpoints and the
single writer — and hands finished-numbered items to N worker processes over
socket pairs. Items are routed by host (crc32 of the host key), so the
per-host cap and keep-alive reuse hold across processes, and each worker gets
its share of the concurrency and rate budget. A worker runs the ordinary
engine workers (limits, retries, deadlines) and streams records back.

Nothing is lost or duplicated: this process remembers every item it sent and
forgets it only when its record comes back. When a worker dies, its
outstanding items go to the surviving workers (or to a replacement when none
survive), so each item yields exactly one record. Backpressure is end to end:
a busy worker stops reading its socket, the send buffer fills, the router
waits, the producer waits.

For a probe on the fast path (a lane: every target its own host, such as
a DNS name) items travel in blocks instead (:class:`~.items.Block`,
a thousand numbered items in one frame): there is no host to route by, so a
block goes to the worker holding the fewest items, each worker enforces its
share of the concurrency and rate, and this process only caps what a worker
holds. Its cost per item is then a few list and dict operations, not a queue
hop, a credit and a pickled tuple each. The bookkeeping (every item remembered
until its record or its drop comes back, re-routed when its worker dies) is
the same.

When every sink takes the same encoding (:class:`~.protocols.TakesEncoded`, the
JSON Lines sink) and no keep-filter must run here, a worker sends its records
already encoded, with only their error kinds beside them for the statistics:
this process then joins and writes bytes instead of unpickling and encoding
each record.

A command forks its workers before its event loop starts (see
:func:`._spawn.prefork`) and this pool hands those copies out first; a
replacement for a worker that died is a new interpreter.

A probe's own filter (:class:`~.protocols.OwnFilter`) runs in the worker, on
the worker's probe: what it drops never crosses back, only its error kind.

Frames are typed (:mod:`.frames`). A small frame waits a moment for company
(``_LINGER``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import signal
import socket
import subprocess
import sys
import zlib
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .._config import ScanConfig
from .._models import ErrorKind, Record, Records
from ._spawn import Forked, forked_ready, spawn
from .frames import (
    BlockFrame,
    Dropped,
    EncodedFrame,
    End,
    Items,
    Results,
    Retries,
    Settled,
    Stop,
    receive,
    send,
    send_nowait,
)
from .items import Block, Encoded, Filtered, Item, Result, take_ready
from .limits import TokenBucket
from .protocols import OpensLane, Probe, own_filter
from .runner import Run
from .stats import Stats
from .stopper import Stopper

__all__ = ["ProcessPool"]

_BATCH = 1024
_FRAME = 1024  # records at most in one frame back to the parent
_FAST_LINGER = 0.01  # seconds a fast-path worker lets records gather before a small frame
_MAX_RESPAWNS = 8
# A frame of fewer entries than _SMALL waits _LINGER seconds for more: a frame (a
# pickle, a syscall and a wake-up at each end) per item or record would be a large
# share of both processes' work when items trickle in as credits come back. Each
# item waits out one linger on its way in and one on its way back: a shorter one
# sends more frames of one or two records, a longer one delays every item.
_SMALL = _BATCH // 8
_LINGER = 0.002


def block_child_config(config: ScanConfig) -> ScanConfig:
    """A worker's config when items go out in blocks: its share of the budget.

    Every target of a probe on the fast path is its own host, so no host needs
    the whole budget: each worker enforces its share of the concurrency and
    rate itself, and this process only bounds what each worker holds.
    """
    n = config.workers
    return dataclasses.replace(
        config,
        concurrency=max(1, -(-config.concurrency // n)),
        rate=config.rate / n,
        workers=1,
    )


def child_config(config: ScanConfig) -> ScanConfig:
    """A worker's config: the whole budget, since this process hands out the credits.

    The global concurrency and rate are enforced here, at dispatch (a credit per
    item in flight, a token per item sent), so that one busy host — routed to a
    single worker — may still use the whole budget.
    """
    return dataclasses.replace(config, rate=0.0, workers=1)


def _stopping(stopper: Stopper) -> bool:
    """``stopper.stopping``, read afresh (after an ``await``, for the type checker too)."""
    return stopper.stopping


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.queue: asyncio.Queue[Any] = asyncio.Queue(_BATCH * 4)
        self.inflight: dict[int, Any] = {}
        self.process: subprocess.Popen[bytes] | Forked | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.alive = False


class ProcessPool:
    """Runs items in ``config.workers`` processes, each with its own loop and probe."""

    def __init__(
        self,
        factory: Callable[[ScanConfig], Probe[Any]],
        host_of: Callable[[Any], str],
        config: ScanConfig,
        retry_on: Collection[ErrorKind],
        *,
        takes_blocks: bool = False,
        encoder: Callable[[Sequence[Record]], list[bytes]] | None = None,
    ) -> None:
        """``takes_blocks``: the work queue carries :class:`Block` entries (see ``runner``).

        Then items are not routed by host, and the budget is split between the workers.
        ``encoder`` (a picklable function): the workers send their records back
        encoded with it, as :class:`Encoded` entries for sinks that take them.
        """
        self.factory = factory
        self.encoder = encoder
        self.host_of = host_of
        self.config = config
        self.takes_blocks = takes_blocks
        self.child_config = block_child_config(config) if takes_blocks else child_config(config)
        # A worker holds at most its share of the concurrency plus a few blocks waiting.
        self.hold = self.child_config.concurrency + 4 * _BATCH
        self._room = asyncio.Event()
        self.credits = asyncio.Semaphore(config.concurrency)
        self.bucket = (
            TokenBucket(config.rate, burst=max(1, int(config.rate // 10)))
            if config.rate > 0
            else None
        )
        self.retry_on = frozenset(retry_on)
        self.workers = [_Worker(i) for i in range(config.workers)]
        self.respawns = 0
        self._settled = asyncio.Event()
        self._routing_done = False
        self._results: asyncio.Queue[Any] | None = None
        self._stats: Stats | None = None

    # -- this process's side -------------------------------------------------

    async def run(
        self,
        work: asyncio.Queue[Any],
        results: asyncio.Queue[Any],
        stopper: Stopper,
        stats: Stats,
    ) -> None:
        self._results, self._stats = results, stats
        clean = False
        try:
            async with asyncio.TaskGroup() as tg:
                for w in self.workers:
                    await self._spawn(w, tg)
                with stopper.on_stop(self._tell_stop):
                    await self._route(work, stopper, tg)
                self._routing_done = True
                self._check_settled()
                await self._settled.wait()
                for w in self.workers:
                    if w.alive and w.writer is not None:
                        with contextlib.suppress(ConnectionError):
                            await send(w.writer, End())
            clean = True
        finally:
            self._reap(wait=clean)

    def _tell_stop(self) -> None:
        """A stop request: every worker hears it now, not once routing has ended, so
        that nothing waiting there for its host's slot starts meanwhile."""
        for w in self.workers:
            if w.alive and w.writer is not None:
                with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                    send_nowait(w.writer, Stop())

    async def _spawn(self, w: _Worker, tg: asyncio.TaskGroup) -> None:
        args = (self.factory, self.child_config, self.retry_on, self.encoder)
        name = f"aioscout-worker-{w.index}"
        if forked_ready():
            # A copy waiting for work: handing it out is one short write, done here
            # rather than through a thread (a thread's start and lock hand-overs).
            proc, ours = spawn(_child_main, *args, name=name)
        else:  # a new interpreter: Popen blocks
            proc, ours = await asyncio.to_thread(spawn, _child_main, *args, name=name)
        w.process = proc
        w.reader, w.writer = await asyncio.open_connection(sock=ours)
        w.alive = True
        if not self.takes_blocks:  # blocks are sent by the router itself
            tg.create_task(self._feed(w, tg))
        tg.create_task(self._collect(w, tg))

    async def _route(
        self, work: asyncio.Queue[Any], stopper: Stopper, tg: asyncio.TaskGroup
    ) -> None:
        while (item := await work.get()) is not None:
            if stopper.stopping:
                continue
            if self.takes_blocks:
                await self._dispatch_block(item.seqs, item.lines, item.targets, tg)
                continue
            await self.credits.acquire()  # released when its record (or drop) comes back
            if self.bucket is not None:
                await self.bucket.acquire()
            if _stopping(stopper):  # while it waited for a credit or a token
                self.credits.release()
                continue
            await self._dispatch(item, tg)
        if stopper.stopping:
            for w in self.workers:
                for _ in self._drain(w):  # never sent: a resumed run does them
                    self.credits.release()
                if w.alive and w.writer is not None:
                    with contextlib.suppress(ConnectionError):
                        await send(w.writer, Stop())

    async def _dispatch(self, item: Any, tg: asyncio.TaskGroup) -> None:
        """Queue ``item`` for the live worker that owns its host; respawn if none lives."""
        key = zlib.crc32(self.host_of(item.target).encode("utf-8", "surrogatepass"))
        while True:
            alive = [w for w in self.workers if w.alive]
            if not alive:
                await self._respawn(tg)
                continue
            w = alive[key % len(alive)]
            await w.queue.put(item)
            if w.alive:
                return
            # It died while we waited for room: take back what it still held.
            for orphan in self._drain(w):
                await self._dispatch(orphan, tg)
            return

    async def _dispatch_block(
        self, seqs: list[int], lines: list[str], targets: list[Any], tg: asyncio.TaskGroup
    ) -> None:
        """Send a block to the live worker holding the fewest items, once it has room."""
        while True:
            alive = [w for w in self.workers if w.alive]
            if not alive:
                await self._respawn(tg)
                continue
            w = min(alive, key=lambda x: len(x.inflight))
            if len(w.inflight) < self.hold:
                break
            self._room.clear()
            await self._room.wait()
        assert w.writer is not None
        w.inflight.update(zip(seqs, zip(lines, targets, strict=True), strict=True))
        # On a send error (uvloop: a closed transport is RuntimeError), _collect notices
        # the death and re-routes what the worker held.
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            await send(w.writer, BlockFrame(seqs, lines, targets))
        if not w.alive:
            # _lost already re-routed what it saw; this block may have come after it.
            await self._redispatch([(s, w.inflight.pop(s)) for s in seqs if s in w.inflight], tg)

    async def _redispatch(self, held: list[tuple[int, Any]], tg: asyncio.TaskGroup) -> None:
        if held:
            seqs = [s for s, _ in held]
            lines = [p[0] for _, p in held]
            targets = [p[1] for _, p in held]
            await self._dispatch_block(seqs, lines, targets, tg)

    @staticmethod
    def _drain(w: _Worker) -> list[Any]:
        out = []
        while not w.queue.empty():
            item = w.queue.get_nowait()
            if item is not None:
                out.append(item)
        return out

    async def _respawn(self, tg: asyncio.TaskGroup) -> None:
        if self.respawns >= _MAX_RESPAWNS:
            raise RuntimeError("worker processes keep dying; giving up (see their errors above)")
        self.respawns += 1
        w = next(x for x in self.workers if not x.alive)
        w.queue = asyncio.Queue(_BATCH * 4)
        await self._spawn(w, tg)

    async def _feed(self, w: _Worker, tg: asyncio.TaskGroup) -> None:
        assert w.writer is not None
        queue = w.queue
        while (first := await queue.get()) is not None:
            # Held from the moment it leaves the queue: an item lingering here is in
            # neither the queue nor the worker, and the run must not settle without it.
            w.inflight[first.seq] = first
            if queue.qsize() < _SMALL:
                await asyncio.sleep(_LINGER)
            batch = [first]
            while len(batch) < _BATCH and not queue.empty():
                nxt = queue.get_nowait()
                if nxt is None:
                    break
                batch.append(nxt)
                w.inflight[nxt.seq] = nxt
            failed = False
            try:
                await send(w.writer, Items([(i.seq, i.line, i.target) for i in batch]))
            except (ConnectionError, OSError, RuntimeError):  # uvloop: closed transport
                failed = True
            if not w.alive:
                # _lost already re-routed what it saw; this batch came after it.
                orphans = [w.inflight.pop(i.seq) for i in batch if i.seq in w.inflight]
                for item in orphans:
                    await self._dispatch(item, tg)
                return
            if failed:
                return  # _collect notices the death and re-routes the batch

    async def _collect(self, w: _Worker, tg: asyncio.TaskGroup) -> None:
        assert w.reader is not None and self._results is not None and self._stats is not None
        try:
            while True:
                frame = await receive(w.reader)
                if type(frame) is Retries:
                    self._stats.retries += frame.added
                    continue
                if type(frame) is Results:
                    out = self._mine(w, frame.results)
                    n = len(out)
                elif type(frame) is EncodedFrame:
                    out, n = self._mine_encoded(w, frame)
                elif type(frame) is Settled:
                    out, n = self._mine_settled(w, frame)
                elif type(frame) is Dropped:
                    pop = w.inflight.pop
                    out, n = [], sum(1 for seq in frame.seqs if pop(seq, None) is not None)
                else:
                    raise RuntimeError(f"unexpected frame from a worker: {type(frame).__name__}")
                self._give_back(n)
                if out:
                    await self._results.put(out)
                self._stats.in_flight = sum(len(x.inflight) for x in self.workers)
                self._check_settled()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        await self._lost(w, tg)

    @staticmethod
    def _mine(w: _Worker, results: list[Result]) -> list[Result]:
        """The results of items ``w`` still holds (others were re-routed meanwhile)."""
        pop = w.inflight.pop
        return [(seq, record) for seq, record in results if pop(seq, None) is not None]

    @staticmethod
    def _mine_encoded(w: _Worker, frame: EncodedFrame) -> tuple[list[Any], int]:
        pop = w.inflight.pop
        seqs, kinds, lines = frame
        ours = [pop(seq, None) is not None for seq in seqs]
        if not all(ours):  # records of items re-routed meanwhile: not ours
            seqs = [s for s, m in zip(seqs, ours, strict=True) if m]
            kinds = [k for k, m in zip(kinds, ours, strict=True) if m]
            lines = [x for x, m in zip(lines, ours, strict=True) if m]
        if not seqs:
            return [], 0
        return [(seqs[0], Encoded(seqs, kinds, b"".join(lines)))], len(seqs)

    @staticmethod
    def _mine_settled(w: _Worker, frame: Settled) -> tuple[list[Any], int]:
        pop = w.inflight.pop
        out: list[Any] = [(seq, record) for seq, record in frame.kept if pop(seq, None) is not None]
        n = len(out)
        for kind, seqs in frame.filtered:
            done = [seq for seq in seqs if pop(seq, None) is not None]
            if done:
                out.append((done[0], Filtered(kind, done)))
                n += len(done)
        return out, n

    def _give_back(self, n: int) -> None:
        """``n`` items finished: their credits (item mode) or room in their worker (blocks)."""
        if self.takes_blocks:
            self._room.set()
            return
        for _ in range(n):
            self.credits.release()

    async def _lost(self, w: _Worker, tg: asyncio.TaskGroup) -> None:
        """A worker's socket closed: re-route whatever it still owed."""
        w.alive = False
        if w.writer is not None:
            w.writer.close()
        if self.takes_blocks:
            held = list(w.inflight.items())
            w.inflight.clear()
            self._room.set()
            await self._redispatch(held, tg)
            self._check_settled()
            return
        orphans = [*w.inflight.values(), *self._drain(w)]
        w.inflight.clear()
        w.queue.put_nowait(None)  # wake its feeder so it ends
        for item in orphans:
            await self._dispatch(item, tg)
        self._check_settled()

    def _check_settled(self) -> None:
        if self._routing_done and all(
            not w.inflight and (not w.alive or w.queue.empty()) for w in self.workers
        ):
            self._settled.set()

    def _reap(self, *, wait: bool) -> None:
        """End the worker processes: let them exit after ``end``, or kill them at once."""
        for w in self.workers:
            if w.writer is not None:
                w.writer.close()
            proc = w.process
            if proc is None:
                continue
            if wait:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)


# -- the worker process's side -------------------------------------------------

Encoder = Callable[[Sequence[Record]], list[bytes]]


def _child_main(
    sock: socket.socket,
    factory: Callable[[ScanConfig], Probe[Any]],
    config: ScanConfig,
    retry_on: frozenset[ErrorKind],
    encoder: Encoder | None = None,
) -> None:
    # The terminal's Ctrl-C reaches the whole process group; the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from .._loop import run_loop

    # The parent going away (closed socket) ends the worker quietly.
    gone = (KeyboardInterrupt, ConnectionError, asyncio.IncompleteReadError)
    try:
        run_loop(_serve(sock, factory, config, retry_on, encoder), config.loop)
    except gone:
        pass
    except BaseExceptionGroup as group:
        _, rest = group.split(gone)
        if rest is not None:
            raise rest from None
    os._exit(0)


async def _serve(
    sock: socket.socket,
    factory: Callable[[ScanConfig], Probe[Any]],
    config: ScanConfig,
    retry_on: frozenset[ErrorKind],
    encoder: Encoder | None = None,
) -> None:
    reader, writer = await asyncio.open_connection(sock=sock)
    probe = factory(config)
    await probe.start()
    gc.freeze()  # the probe's modules and tables: out of the collector's sight, as at start-up
    if isinstance(probe, OpensLane):
        # The fast path allocates a few short-lived objects per item, thousands in
        # flight: with the default young generation they survive into the older ones
        # and full collections walk them over and over. A larger young generation
        # lets them die young; full passes still run.
        gc.set_threshold(100_000, 10, 10)
    server = _Server(probe, config, retry_on, encoder, reader, writer)
    try:
        await server.serve()
    except BaseException:
        await probe.aclose()
        writer.close()
        raise
    # Every record is with the parent. It waits for this process to end, so end now:
    # the kernel closes the pooled connections (the probe's aclose() only closes
    # sockets), without a callback per connection and the loop's teardown.
    writer.close()
    await writer.wait_closed()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class _Server:
    """A worker's side of the socket: items in, to the engine's consumers; records out."""

    def __init__(
        self,
        probe: Probe[Any],
        config: ScanConfig,
        retry_on: frozenset[ErrorKind],
        encoder: Encoder | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.dropped: list[int] = []
        self.run: Run[Any] = Run(probe, config, retry_on=retry_on, on_drop=self.drop)
        self.reader, self.writer = reader, writer
        self.encoder = encoder
        self.keep = own_filter(probe)
        # Records of the fast path wait a moment to travel together (see emit); an item
        # of the ordinary path holds one of the parent's credits until its record is back.
        self.linger = isinstance(probe, OpensLane)
        self.consumers = 0

    async def serve(self) -> None:
        run = self.run
        async with asyncio.TaskGroup() as tg:
            emitter = tg.create_task(self.emit())
            async with asyncio.TaskGroup() as inner:
                inner.create_task(self.feed())
                self.consumers = run.start_consumers(inner)
            await run.results.put(None)
            await emitter

    def drop(self, seq: int) -> None:
        """A stop discarded item ``seq`` before it started: tell the parent soon."""
        self.dropped.append(seq)
        if len(self.dropped) == 1:
            # Wake the emitter, which reports drops, even when no record is coming.
            with contextlib.suppress(asyncio.QueueFull):
                self.run.results.put_nowait([])

    async def send_dropped(self) -> None:
        if self.dropped:
            await send(self.writer, Dropped(self.dropped[:]))
            self.dropped.clear()

    async def feed(self) -> None:
        run, stopper, dropped = self.run, self.run.stopper, self.dropped
        while True:
            frame = await receive(self.reader)
            if type(frame) is Items:
                for seq, line, target in frame.items:
                    if stopper.stopping:
                        dropped.append(seq)
                    else:
                        await run.work.put(Item(seq, line, target))
                await self.send_dropped()
            elif type(frame) is BlockFrame:
                if stopper.stopping:
                    dropped.extend(frame.seqs)
                    await self.send_dropped()
                else:
                    await run.work.put(Block(*frame))
            elif type(frame) is Stop:
                stopper.stop()
                while not run.work.empty():
                    entry = run.work.get_nowait()
                    if isinstance(entry, Block):
                        dropped.extend(entry.seqs)
                    elif entry is not None:
                        dropped.append(entry.seq)
                await send(self.writer, Dropped(dropped[:]))
                dropped.clear()
            elif type(frame) is End:
                for _ in range(self.consumers):
                    await run.work.put(None)
                return

    async def emit(self) -> None:
        retries = 0
        results, stats, linger = self.run.results, self.run.stats, self.linger
        while True:
            first = await results.get()
            if first is None:
                return
            if not linger and results.qsize() < _SMALL:
                await asyncio.sleep(_LINGER)
            # An entry is one result or a list of them (the fast path's batches).
            batch: list[Result] = list(first) if isinstance(first, list) else [first]
            if linger and len(batch) < _BATCH and results.empty():
                # Let a frame's worth gather: the fast path's records land a few dozen
                # per loop turn, and each frame costs a pickle, a write and a wake-up
                # of the parent. Its credits are back already (see _stream).
                await asyncio.sleep(_FAST_LINGER)
            end = take_ready(results, batch, _FRAME)
            await self.send_dropped()
            if stats.retries != retries:
                await send(self.writer, Retries(stats.retries - retries))
                retries = stats.retries
            if batch:
                await self.send_results(batch)
            if end:
                return

    async def send_results(self, batch: list[Result]) -> None:
        keep = self.keep
        if keep is None:
            await self.send_kept(batch)
            return
        kept: list[Result] = []
        filtered: dict[str | None, list[int]] = {}
        shared: object = None  # a record seen last that the filter dropped, and its seqs
        shared_seqs: list[int] = []
        for seq, record in batch:
            if record is shared:
                shared_seqs.append(seq)
            elif isinstance(record, Filtered):  # items the lane settled as only counted
                filtered.setdefault(record.kind, []).extend(record.seqs)
                shared = None
            # A group of records goes back whole: the writer filters and counts its members.
            elif isinstance(record, Records) or keep(record):
                kept.append((seq, record))
            else:
                err = record.error
                shared_seqs = filtered.setdefault(None if err is None else str(err.kind), [])
                shared_seqs.append(seq)
                shared = record
        # One frame for both: the parent settles them in one wake-up.
        await send(self.writer, Settled(list(filtered.items()), kept))

    async def send_kept(self, batch: list[Result]) -> None:
        encoder = self.encoder
        if encoder is None:
            await send(self.writer, Results(batch))
            return
        # Plain records go back encoded; groups and stand-ins as they are.
        plain = [(seq, r) for seq, r in batch if not isinstance(r, Filtered | Records)]
        if len(plain) != len(batch):
            others = [(seq, r) for seq, r in batch if isinstance(r, Filtered | Records)]
            await send(self.writer, Results(others))
        if plain:
            seqs = [seq for seq, _ in plain]
            records = [r for _, r in plain]
            kinds = [None if r.error is None else str(r.error.kind) for r in records]
            await send(self.writer, EncodedFrame(seqs, kinds, encoder(records)))

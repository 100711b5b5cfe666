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
a DNS name) items travel in blocks instead (:class:`aioscout.engine.runner.Block`,
a thousand numbered items in one frame): there is no host to route by, so a
block goes to the worker holding the fewest items, each worker enforces its
share of the concurrency and rate, and this process only caps what a worker
holds. Its cost per item is then a few list and dict operations, not a queue
hop, a credit and a pickled tuple each. The bookkeeping (every item remembered
until its record or its drop comes back, re-routed when its worker dies) is
the same.

When every sink takes the same encoding (:class:`~.runner.TakesEncoded`, the
JSON Lines sink) and no keep-filter must run here, a worker sends its records
already encoded, with only their error kinds beside them for the statistics:
this process then joins and writes bytes instead of unpickling and encoding
each record.

A command forks its workers before its event loop starts (see
:func:`._spawn.prefork`) and this pool hands those copies out first; a
replacement for a worker that died is a new interpreter.

Frames are a 4-byte big-endian length and a pickle of ``(tag, payload)``;
both ends are this program, over a private socketpair. A small frame waits a
moment for company (``_LINGER``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .._config import ScanConfig
from .._models import ErrorKind, Record, Records
from ._protocols import Probe
from ._spawn import Forked, forked_ready, spawn
from ._stream import AcceptsFilter, OpensLane
from .frames import dumps
from .limits import TokenBucket
from .runner import Encoded, Filtered, take_ready
from .stats import Stats

__all__ = ["ProcessPool"]

_LEN = struct.Struct(">I")
_BATCH = 1024
_FRAME = 1024  # records at most in one frame back to the parent
_FAST_LINGER = 0.01  # seconds a fast-path worker lets records gather before a small frame
_MAX_RESPAWNS = 8
# A frame of fewer entries than _SMALL waits _LINGER seconds for more: a frame (a
# pickle, a syscall and a wake-up at each end) per item or record was a large
# share of both processes' work when items trickle in as credits come back. Each
# item waits out one linger on its way in and one on its way back. 1 ms took 2-4%
# less wall time under 100 ms latency (20,000 URLs, 4,000 hosts, -c 1000 -w 2) but
# about 10% more on 10,240 hosts without latency, where frames of one or two
# records cost both processes a wake-up each; no wait at all was slower on both.
_SMALL = _BATCH // 8
_LINGER = 0.002


async def _send(writer: asyncio.StreamWriter, tag: str, payload: object) -> None:
    blob = dumps((tag, payload))
    writer.write(_LEN.pack(len(blob)) + blob)
    await writer.drain()


async def _recv(reader: asyncio.StreamReader) -> tuple[str, Any]:
    size = _LEN.unpack(await reader.readexactly(_LEN.size))[0]
    tag, payload = pickle.loads(await reader.readexactly(size))
    return str(tag), payload


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
        keep_method: str | None = None,
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
        self.keep_method = keep_method
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
        stopper: Any,
        stats: Stats,
    ) -> None:
        self._results, self._stats = results, stats
        clean = False
        try:
            async with asyncio.TaskGroup() as tg:
                for w in self.workers:
                    await self._spawn(w, tg)
                await self._route(work, stopper, tg)
                self._routing_done = True
                self._check_settled()
                await self._settled.wait()
                for w in self.workers:
                    if w.alive and w.writer is not None:
                        with contextlib.suppress(ConnectionError):
                            await _send(w.writer, "end", None)
            clean = True
        finally:
            self._reap(wait=clean)

    async def _spawn(self, w: _Worker, tg: asyncio.TaskGroup) -> None:
        args = (self.factory, self.child_config, self.retry_on, self.keep_method, self.encoder)
        name = f"aioscout-worker-{w.index}"
        if forked_ready():
            # A copy waiting for work: handing it out is one short write. Through a
            # thread it took 30-40 ms (the thread's start and the lock's hand-overs).
            proc, ours = spawn(_child_main, *args, name=name)
        else:  # a new interpreter: Popen blocks
            proc, ours = await asyncio.to_thread(spawn, _child_main, *args, name=name)
        w.process = proc
        w.reader, w.writer = await asyncio.open_connection(sock=ours)
        w.alive = True
        if not self.takes_blocks:  # blocks are sent by the router itself
            tg.create_task(self._feed(w, tg))
        tg.create_task(self._collect(w, tg))

    async def _route(self, work: asyncio.Queue[Any], stopper: Any, tg: asyncio.TaskGroup) -> None:
        while (item := await work.get()) is not None:
            if stopper.stopping:
                continue
            if self.takes_blocks:
                await self._dispatch_block(item.seqs, item.lines, item.targets, tg)
                continue
            await self.credits.acquire()  # released when its record (or drop) comes back
            if self.bucket is not None:
                await self.bucket.acquire()
            await self._dispatch(item, tg)
        if stopper.stopping:
            for w in self.workers:
                for _ in self._drain(w):  # never sent: a resumed run does them
                    self.credits.release()
                if w.alive and w.writer is not None:
                    with contextlib.suppress(ConnectionError):
                        await _send(w.writer, "stop", None)

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
            await _send(w.writer, "block", (seqs, lines, targets))
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
                await _send(w.writer, "items", [(i.seq, i.line, i.target) for i in batch])
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
                tag, payload = await _recv(w.reader)
                if tag == "results":
                    pop = w.inflight.pop
                    mine = [(seq, record) for seq, record in payload if pop(seq, None) is not None]
                    self._give_back(len(mine))
                    if mine:
                        await self._results.put(mine)
                    self._stats.in_flight = sum(len(x.inflight) for x in self.workers)
                    self._check_settled()
                elif tag == "encoded":
                    seqs, kinds, lines = payload
                    pop = w.inflight.pop
                    ours = [pop(seq, None) is not None for seq in seqs]
                    if not all(ours):  # records of items re-routed meanwhile: not ours
                        seqs = [s for s, m in zip(seqs, ours, strict=True) if m]
                        kinds = [k for k, m in zip(kinds, ours, strict=True) if m]
                        lines = [x for x, m in zip(lines, ours, strict=True) if m]
                    self._give_back(len(seqs))
                    if seqs:
                        await self._results.put((seqs[0], Encoded(seqs, kinds, b"".join(lines))))
                    self._stats.in_flight = sum(len(x.inflight) for x in self.workers)
                    self._check_settled()
                elif tag == "settled":
                    pop = w.inflight.pop
                    filtered, kept = payload
                    out = [(seq, record) for seq, record in kept if pop(seq, None) is not None]
                    n = len(out)
                    for kind, seqs in filtered:
                        done = [seq for seq in seqs if pop(seq, None) is not None]
                        if done:
                            out.append((done[0], Filtered(kind, done)))
                            n += len(done)
                    self._give_back(n)
                    if out:
                        await self._results.put(out)
                    self._stats.in_flight = sum(len(x.inflight) for x in self.workers)
                    self._check_settled()
                elif tag == "dropped":
                    pop = w.inflight.pop
                    self._give_back(sum(1 for seq in payload if pop(seq, None) is not None))
                    self._check_settled()
                elif tag == "retries":
                    self._stats.retries += int(payload)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        await self._lost(w, tg)

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


def _child_main(
    sock: socket.socket,
    factory: Callable[[ScanConfig], Probe[Any]],
    config: ScanConfig,
    retry_on: frozenset[ErrorKind],
    keep_method: str | None = None,
    encoder: Callable[[Sequence[Record]], list[bytes]] | None = None,
) -> None:
    # The terminal's Ctrl-C reaches the whole process group; the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from .._loop import run_loop

    # The parent going away (closed socket) ends the worker quietly.
    gone = (KeyboardInterrupt, ConnectionError, asyncio.IncompleteReadError)
    try:
        run_loop(_serve(sock, factory, config, retry_on, keep_method, encoder), config.loop)
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
    keep_method: str | None = None,
    encoder: Callable[[Sequence[Record]], list[bytes]] | None = None,
) -> None:
    from .limits import MonotonicClock
    from .runner import Stopper, _Item, _Run

    reader, writer = await asyncio.open_connection(sock=sock)
    probe = factory(config)
    stats = Stats()
    stopper = Stopper()
    run: _Run[Any] = _Run(probe, [], config, None, None, stopper, stats, MonotonicClock(), retry_on)
    dropped: list[int] = []
    run.on_drop = dropped.append
    consumers = 0
    await probe.start()
    gc.freeze()  # the probe's modules and tables: out of the collector's sight, as at start-up
    if isinstance(probe, OpensLane):
        # The fast path allocates a few short-lived objects per item, thousands in
        # flight: with the default young generation they survive into the older ones
        # and full collections walk them over and over (a quarter of a DNS worker's
        # time). A larger young generation lets them die young; full passes still run.
        gc.set_threshold(100_000, 10, 10)
    # Records of the fast path wait a moment to travel together (see emit); an item
    # of the ordinary path holds one of the parent's credits until its record is back.
    linger = isinstance(probe, OpensLane)
    keep: Callable[[Record], bool] | None = getattr(probe, keep_method) if keep_method else None
    if keep is not None and isinstance(probe, AcceptsFilter):
        probe.accept_filter(keep)

    async def send_kept(batch: list[tuple[int, Record | Filtered]]) -> None:
        if encoder is None:
            await _send(writer, "results", batch)
            return
        # Plain records go back encoded; groups and stand-ins as they are.
        plain = [(seq, r) for seq, r in batch if not isinstance(r, Filtered | Records)]
        if len(plain) != len(batch):
            await _send(
                writer, "results", [x for x in batch if isinstance(x[1], Filtered | Records)]
            )
        if plain:
            seqs = [seq for seq, _ in plain]
            records = [r for _, r in plain]
            kinds = [None if r.error is None else str(r.error.kind) for r in records]
            await _send(writer, "encoded", (seqs, kinds, encoder(records)))

    async def send_results(batch: list[tuple[int, Record | Filtered]]) -> None:
        if keep is None:
            await send_kept(batch)
            return
        kept: list[tuple[int, Record | Filtered]] = []
        filtered: dict[str | None, list[int]] = {}
        shared: object = None  # a stand-in record seen last (see AcceptsFilter), and its seqs
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
        await _send(writer, "settled", (list(filtered.items()), kept))

    async def feed() -> None:
        while True:
            tag, payload = await _recv(reader)
            if tag == "items":
                for seq, line, target in payload:
                    if stopper.stopping:
                        dropped.append(seq)
                    else:
                        await run.work.put(_Item(seq, line, target))
                if dropped:
                    await _send(writer, "dropped", dropped[:])
                    dropped.clear()
            elif tag == "block":
                if stopper.stopping:
                    dropped.extend(payload[0])
                    await _send(writer, "dropped", dropped[:])
                    dropped.clear()
                else:
                    await run.work.put(tuple(payload))
            elif tag == "stop":
                stopper.stop()
                while not run.work.empty():
                    item = run.work.get_nowait()
                    if type(item) is tuple:
                        dropped.extend(item[0])
                    elif item is not None:
                        dropped.append(item.seq)
                await _send(writer, "dropped", dropped[:])
                dropped.clear()
            elif tag == "end":
                for _ in range(consumers):
                    await run.work.put(None)
                return

    async def emit() -> None:
        retries = 0
        results = run.results
        while True:
            first = await results.get()
            if first is None:
                return
            if not linger and results.qsize() < _SMALL:
                await asyncio.sleep(_LINGER)
            # An entry is one (seq, record) or a list of them (the fast path's batches).
            batch: list[tuple[int, Record | Filtered]] = (
                list(first) if isinstance(first, list) else [first]
            )
            if linger and len(batch) < _BATCH and results.empty():
                # Let a frame's worth gather: the fast path's records land a few dozen
                # per loop turn, and each frame costs a pickle, a write and a wake-up
                # of the parent. Its credits are back already (see _stream).
                await asyncio.sleep(_FAST_LINGER)
            end = take_ready(results, batch, _FRAME)
            if dropped:
                await _send(writer, "dropped", dropped[:])
                dropped.clear()
            if stats.retries != retries:
                await _send(writer, "retries", stats.retries - retries)
                retries = stats.retries
            await send_results(batch)
            if end:
                return

    try:
        async with asyncio.TaskGroup() as tg:
            emitter = tg.create_task(emit())
            async with asyncio.TaskGroup() as inner:
                inner.create_task(feed())
                consumers = run.start_consumers(inner)
            await run.results.put(None)
            await emitter
    except BaseException:
        await probe.aclose()
        writer.close()
        raise
    # Every record is with the parent. It waits for this process to end, so end now:
    # the kernel closes the pooled connections (the probe's aclose() only closes
    # sockets), without a callback per connection and the loop's teardown (40-80 ms
    # with a few thousand idle connections).
    writer.close()
    await writer.wait_closed()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

"""The library for code without an event loop: scripts, notebooks, threads.

``for rec in aioscout.sync.scan_http(targets, ...)`` takes the same
arguments as :func:`aioscout.scan_http` (and likewise ``scan_dns``,
``fetch`` and every registered probe's ``scan_<name>``) and yields the same
records, one by one, in this thread.

How: each scan gets its own event loop in a background thread, which runs
the async generator and hands records over through a small bounded bridge
(a deque under a ``threading.Condition`` on this side, an
``asyncio.Semaphore`` of ``buffer`` slots on the loop's side). When the
consumer falls behind, the semaphore runs out and the loop's side waits:
the engine's own queues fill and it stops reading targets (backpressure all
the way to the input). Nothing ever calls ``asyncio.run`` in the calling
thread, so it works where a loop is already running there (Jupyter).

Stopping: ``close()`` (or ``with``, or dropping the iterator, or
``break`` in a ``for`` that owns it, or ``KeyboardInterrupt`` while waiting
for a record) cancels the run on its loop and joins the thread; the loop is
closed and no thread is left behind.

Example::

    import aioscout.sync

    opts = aioscout.HttpOptions(resolvers=("127.0.0.1:5353",))
    for rec in aioscout.sync.scan_http(["lab.test:8080"], options=opts):
        print(rec.url, rec.status, rec.title)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import weakref
from collections.abc import AsyncGenerator, Callable, Iterator
from types import TracebackType
from typing import Any, Generic, ParamSpec, Self, TypeVar, cast

from . import api, registry
from ._config import ScanConfig
from ._loop import loop_factory
from ._models import Record
from .engine import Stats

__all__ = ["SyncScan", "fetch", "scan", "scan_dns", "scan_http", "scan_ports", "wrap"]

P = ParamSpec("P")
R = TypeVar("R")

_BUFFER = 256


class _End:
    """The bridge's last item: the run ended, with ``error`` or without."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _Bridge:
    """The thread-safe bounded hand-over between the loop thread and the consumer."""

    def __init__(self, buffer: int) -> None:
        self.items: collections.deque[Record | _End] = collections.deque()
        self.cond = threading.Condition()
        self.buffer = buffer
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.slots: asyncio.Semaphore | None = None
        self.cancelled = False

    def run(self, make: Callable[[], AsyncGenerator[Record, None]], loop_name: str) -> None:
        """The background thread's body: a loop of its own until the run ends."""
        with (
            contextlib.suppress(asyncio.CancelledError),
            asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner,
        ):
            runner.run(self._pump(make))

    async def _pump(self, make: Callable[[], AsyncGenerator[Record, None]]) -> None:
        error: BaseException | None = None
        with self.cond:
            self.loop = asyncio.get_running_loop()
            self.task = asyncio.current_task()
            self.slots = asyncio.Semaphore(self.buffer)
            if self.cancelled:
                self._push(_End(None))
                return
        try:
            async with contextlib.aclosing(make()) as records:
                async for record in records:
                    await self.slots.acquire()
                    with self.cond:
                        self._push(record)
        except asyncio.CancelledError:
            with self.cond:  # the consumer closed the iterator
                self._push(_End(None))
            raise
        except BaseException as exc:
            error = exc
        with self.cond:
            self._push(_End(error))

    def _push(self, item: Record | _End) -> None:
        self.items.append(item)
        self.cond.notify()

    def take(self) -> Record | _End:
        """The next item, waiting for it (interruptible by Ctrl-C)."""
        with self.cond:
            while not self.items:
                self.cond.wait()
            item = self.items.popleft()
        if not isinstance(item, _End) and self.loop is not None and self.slots is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(self.slots.release)
        return item

    def cancel(self) -> None:
        """Cancel the run on its loop (from any thread)."""
        with self.cond:
            self.cancelled = True
            loop, task = self.loop, self.task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)


def _shutdown(bridge: _Bridge, thread: threading.Thread) -> None:
    """Cancel the run and wait for its thread (not when called from that thread)."""
    bridge.cancel()
    if thread.is_alive() and thread is not threading.current_thread():
        thread.join()


class SyncScan(Iterator[R], Generic[R]):
    """An iterator over one scan's records, run on a loop in a background thread.

    Also a context manager (``with``: closed on exit). :attr:`stats` holds
    the run's counters (final once the iterator is exhausted); :meth:`run`
    consumes every record (for a scan driven by callbacks).
    """

    def __init__(
        self,
        make: Callable[[Stats], AsyncGenerator[R, None]],
        *,
        loop: str = "auto",
        buffer: int = _BUFFER,
        stats: Stats | None = None,
    ) -> None:
        if buffer < 1:
            raise ValueError("buffer must be at least 1")
        self.stats = stats if stats is not None else Stats()
        self._bridge = _Bridge(buffer)
        stats_ = self.stats
        self._thread = threading.Thread(
            target=self._bridge.run,
            args=(lambda: make(stats_), loop),
            name="aioscout-sync",
            daemon=True,
        )
        self._finalizer = weakref.finalize(self, _shutdown, self._bridge, self._thread)
        self._done = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> R:
        if self._done:
            raise StopIteration
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()
        try:
            item = self._bridge.take()
        except BaseException:  # KeyboardInterrupt while waiting: stop the run cleanly
            self.close()
            raise
        if isinstance(item, _End):
            self._done = True
            self._finalizer()
            if item.error is not None:
                raise item.error
            raise StopIteration
        return cast(R, item)

    def close(self) -> None:
        """Stop the run (what is in flight is cancelled) and wait for its thread to end."""
        self._done = True
        self._finalizer()

    def run(self) -> Stats:
        """Consume every record (for a scan driven by callbacks); return the statistics."""
        for _ in self:
            pass
        return self.stats

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def wrap(function: Callable[P, AsyncGenerator[R, None]]) -> Callable[P, SyncScan[R]]:
    """The synchronous form of a library function (same arguments, a :class:`SyncScan`).

    Its ``config.loop`` picks the background loop (uvloop where installed).
    """

    def run_sync(*args: P.args, **kwargs: P.kwargs) -> SyncScan[R]:
        config = kwargs.get("config")
        loop = config.loop if isinstance(config, ScanConfig) else "auto"
        stats = kwargs.pop("stats", None)

        def make(stats: Stats) -> AsyncGenerator[R, None]:
            return function(*args, **kwargs, stats=stats)  # type: ignore[arg-type]

        return SyncScan(make, loop=loop, stats=stats if isinstance(stats, Stats) else None)

    run_sync.__name__ = run_sync.__qualname__ = function.__name__
    run_sync.__doc__ = (
        f"Synchronous :func:`aioscout.{function.__name__}`: the same arguments, "
        "an iterator of records (a :class:`SyncScan`)."
    )
    return run_sync


scan = wrap(api.scan)
scan_http = wrap(api.scan_http)
scan_dns = wrap(api.scan_dns)
fetch = wrap(api.fetch)
scan_ports = wrap(api.scan_ports)


def __getattr__(name: str) -> Any:
    """The synchronous form of any registered probe's library function (``scan_ports``, …)."""
    function = api.library_function(name) if name in registry.function_names() else None
    if function is None:
        raise AttributeError(f"module 'aioscout.sync' has no attribute {name!r}")
    value = wrap(function)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *registry.function_names()})

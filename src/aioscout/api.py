"""The library's entry points: the commands of the CLI as async generators.

Each takes the targets (any iterable or async iterable of lines, read lazily)
and the same options the CLI's long flags set — the fields of
:class:`HttpOptions`, :class:`DnsOptions`, :class:`FetchOptions` and
:class:`ScanConfig` carry the flags' names (``follow_redirects``,
``all_ips``, ``include_headers``, ``concurrency``, ``workers``, …) — and
yields records in completion order as the run produces them, one per input
item (an ``all_ips`` host yields one per address). ``sinks`` also receive
every record (a JSON Lines file, SQLite, Redis…), ``keep`` drops records
from both the stream and the sinks (still counted in ``stats``).

Closing a generator early (``contextlib.aclosing``, or ``aclose()``) stops the
run: what is in flight is cancelled.

Example::

    import asyncio
    import aioscout

    async def main() -> None:
        opts = aioscout.HttpOptions(follow_redirects=True, resolvers=("127.0.0.1:5353",))
        async for rec in aioscout.scan_http(["127.0.0.1:8080", "lab.test:8080"], options=opts):
            print(rec.url, rec.status, rec.title)

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack, cast

from . import registry
from ._config import (
    DnsOptions,
    FetchOptions,
    HttpOptions,
    Limits,
    PortOptions,
    ScanConfig,
    SshOptions,
    Timeouts,
)
from ._models import DnsResult, FetchResult, HttpResult, PortResult, Record
from .engine import Sink, Stats, run_scan

__all__ = [
    "OnProgress",
    "OnRecord",
    "RunArgs",
    "fetch",
    "library_function",
    "scan",
    "scan_dns",
    "scan_http",
    "scan_ports",
    "scan_ssh",
    "stream",
]

Lines = Iterable[str] | AsyncIterable[str]


class _Handoff:
    """A sink that hands each written batch to the consuming generator (bounded)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Sequence[Record] | None] = asyncio.Queue(4)

    async def write(self, records: Sequence[Record]) -> None:
        await self.queue.put(list(records))

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def _check_lines(targets: object) -> None:
    if isinstance(targets, str | bytes | bytearray):
        raise TypeError(
            f"targets must be an iterable of lines, not one {type(targets).__name__}:"
            f" pass [{targets!r:.60}]"
        )


OnRecord = Callable[[Record], object]
"""``on_record``/``on_error``: a function of one record; a coroutine function is awaited
on the loop, a plain function runs in the loop's thread pool (it may block)."""
OnProgress = Callable[[Stats], object]
"""``on_progress``: a function of the run's :class:`Stats`, called every ``progress_every``
seconds and once at the end (a plain function runs in the thread pool)."""


class RunArgs(TypedDict, total=False):
    """What every library scan takes besides its targets, options and config: where
    records also go (``sinks``), which are yielded (``keep``), the counts (``stats``)
    and the callbacks (see :func:`stream`)."""

    sinks: Sequence[Sink]
    keep: Callable[[Record], bool] | None
    stats: Stats | None
    on_record: OnRecord | None
    on_error: OnRecord | None
    on_progress: OnProgress | None


async def _call(callback: Callable[[Any], object], arg: object) -> None:
    """Run a callback: awaited when it returns an awaitable, else in the thread pool."""
    if inspect.iscoroutinefunction(callback):
        await callback(arg)
        return
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(None, callback, arg)
    if inspect.isawaitable(result):
        await result


async def _report_progress(on_progress: OnProgress, stats: Stats, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await _call(on_progress, stats)


def _leaf(exc: BaseException) -> BaseException:
    """The one exception a group of one wraps (a callback's own), else the group."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def stream(
    probe: Any,
    targets: Lines,
    *,
    config: ScanConfig | None = None,
    sinks: Sequence[Sink] = (),
    keep: Callable[[Record], bool] | None = None,
    stats: Stats | None = None,
    on_record: OnRecord | None = None,
    on_error: OnRecord | None = None,
    on_progress: OnProgress | None = None,
    progress_every: float = 1.0,
    started: bool = False,
) -> AsyncGenerator[Record, None]:
    """Run ``probe`` (a probe or a ``factory(config)``) over ``targets``; yield its records.

    What :func:`scan` and the ``scan_<probe>`` functions share; ``started``
    says ``probe`` is a probe already started that the caller closes (a
    :class:`~aioscout.Scanner`'s). Callbacks run in the order records come;
    a callback that raises stops the run, flushes ``sinks`` and raises its
    exception here. Raises ``TypeError`` when ``targets`` is one string.
    """
    _check_lines(targets)
    return _records(
        probe,
        targets,
        config or ScanConfig(),
        sinks,
        keep,
        stats if stats is not None else Stats(),
        _Callbacks(on_record, on_error, on_progress, progress_every),
        started,
    )


@dataclass(frozen=True, slots=True)
class _Callbacks:
    on_record: OnRecord | None
    on_error: OnRecord | None
    on_progress: OnProgress | None
    progress_every: float


async def _records(
    probe: Any,
    targets: Lines,
    config: ScanConfig,
    sinks: Sequence[Sink],
    keep: Callable[[Record], bool] | None,
    stats: Stats,
    callbacks: _Callbacks,
    started: bool,
) -> AsyncGenerator[Record, None]:
    on_record, on_error, on_progress = (
        callbacks.on_record,
        callbacks.on_error,
        callbacks.on_progress,
    )
    handoff = _Handoff()

    async def run() -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                ticker = None
                if on_progress is not None:
                    every = callbacks.progress_every
                    ticker = tg.create_task(_report_progress(on_progress, stats, every))
                try:
                    await run_scan(
                        probe,
                        targets,
                        [*sinks, handoff],
                        config,
                        keep=keep,
                        stats=stats,
                        started=started,
                    )
                finally:
                    if ticker is not None:
                        ticker.cancel()
            if on_progress is not None:
                await _call(on_progress, stats)
        finally:
            await handoff.queue.put(None)

    # The run lives exactly as long as this generator: cancelled and awaited in
    # ``finally`` if the caller stops early, awaited (errors raised) at the end.
    task = asyncio.ensure_future(run())
    try:
        try:
            while (batch := await handoff.queue.get()) is not None:
                for record in batch:
                    if on_record is not None:
                        await _call(on_record, record)
                    if on_error is not None and record.error is not None:
                        await _call(on_error, record)
                    yield record
            await task
        except BaseExceptionGroup as group:
            raise _leaf(group) from None
    except Exception:
        await _stop(task, handoff)
        for sink in sinks:  # what the run wrote before it stopped is kept
            with contextlib.suppress(Exception):
                await sink.flush()
        raise
    finally:
        await _stop(task, handoff)


async def _stop(task: asyncio.Future[None], handoff: _Handoff) -> None:
    if task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        while not task.done():  # drain so the run is never stuck on a full handoff
            with contextlib.suppress(asyncio.QueueEmpty):
                handoff.queue.get_nowait()
            await asyncio.sleep(0)
        await task


def scan(
    factory: Callable[[ScanConfig], Any],
    targets: Lines,
    *,
    config: ScanConfig | None = None,
    **run: Unpack[RunArgs],
) -> AsyncGenerator[Record, None]:
    """Run any probe (a picklable ``factory(config)``) over ``targets``; yield its records.

    ``on_record`` is called with every record, ``on_error`` with every error
    record, ``on_progress`` with the :class:`Stats` every second and at the end;
    see :data:`OnRecord`. A callback that raises stops the run (the sinks are
    flushed first) and the exception comes out of the iteration.
    """
    return stream(factory, targets, config=config, **run)


def scan_http(
    targets: Lines,
    *,
    options: HttpOptions | None = None,
    limits: Limits | None = None,
    config: ScanConfig | None = None,
    **run: Unpack[RunArgs],
) -> AsyncGenerator[HttpResult, None]:
    """``aioscout http``: one :class:`HttpResult` per target (per address with ``all_ips``)."""
    factory = registry.factory("http", options or HttpOptions(), limits or Limits())
    return cast(
        AsyncGenerator[HttpResult, None],
        scan(factory, targets, config=config, **run),
    )


def scan_dns(
    targets: Lines,
    *,
    domains: Sequence[str] = (),
    options: DnsOptions | None = None,
    config: ScanConfig | None = None,
    **run: Unpack[RunArgs],
) -> AsyncGenerator[DnsResult, None]:
    """``aioscout dns``: names to resolve, or words to try under each of ``domains``.

    With ``options.only_found`` (the default, as for a brute force) only names
    that exist are yielded; ``stats`` counts every one.
    """
    from .probes.factories import share_resolver_rate

    opts = share_resolver_rate(options or DnsOptions(), (config or ScanConfig()).workers)
    factory = registry.factory("dns", opts, tuple(domains))
    return cast(
        AsyncGenerator[DnsResult, None],
        scan(factory, targets, config=config, **run),
    )


def fetch(
    urls: Lines,
    *,
    options: FetchOptions | None = None,
    http: HttpOptions | None = None,
    limits: Limits | None = None,
    config: ScanConfig | None = None,
    **run: Unpack[RunArgs],
) -> AsyncGenerator[FetchResult, None]:
    """``aioscout fetch``: download each URL to ``options.directory``; a record per URL."""
    factory = registry.factory(
        "fetch", options or FetchOptions(), http or HttpOptions(), limits or Limits()
    )
    return cast(
        AsyncGenerator[FetchResult, None],
        scan(factory, urls, config=config, **run),
    )


def scan_ports(
    targets: Lines,
    *,
    options: PortOptions | None = None,
    config: ScanConfig | None = None,
    **run: Unpack[RunArgs],
) -> AsyncGenerator[PortResult, None]:
    """``aioscout ports``: a :class:`PortResult` per open port of each host (one record
    for a host with none); ``config.concurrency`` is the hosts in flight,
    ``options.connections`` the sockets, split between ``config.workers``.

    Example::

        opts = aioscout.PortOptions(ports=("22,80,8000-8100",))
        async for rec in aioscout.scan_ports(["127.0.0.1"], options=opts):
            print(rec.host, rec.port, rec.state, rec.service)
    """
    from .probes.ports import share_budget

    cfg = config or ScanConfig()
    factory = registry.factory("ports", share_budget(options or PortOptions(), cfg.workers))
    return cast(
        AsyncGenerator[PortResult, None],
        scan(factory, targets, config=cfg, **run),
    )


def scan_ssh(
    targets: Lines,
    *,
    options: SshOptions,
    config: ScanConfig | None = None,
    **run: Unpack[RunArgs],
) -> AsyncGenerator[Record, None]:
    """``aioscout ssh``: one :class:`SshResult` per host (``user@host:port`` lines or records).

    Without ``config``: 50 hosts at a time, no retries (a retry runs the
    command again), and a total per host that the phases' time-outs add up to.

    For instance, with ``opts = aioscout.SshOptions(command="uname -r",
    username="admin", keys=("/home/me/.ssh/id_ed25519",))``, ``async for rec in
    aioscout.scan_ssh(["127.0.0.1:2222"], options=opts)`` gives each host's
    ``exit_status`` and ``stdout``.
    """
    if config is None:
        total = options.connect_timeout + options.auth_timeout
        if not options.scan:
            total += options.command_timeout + 1.0
        config = ScanConfig(concurrency=50, per_host=50, retries=0, timeouts=Timeouts(total=total))
    factory = registry.factory("ssh", options)
    return scan(factory, targets, config=config, **run)


def library_function(name: str) -> Callable[..., AsyncGenerator[Record, None]] | None:
    """The library function ``name`` of a registered probe (``scan_<probe>``), or ``None``.

    A probe registered without a hand-written function gets
    ``scan_<probe>(targets, *, options, config, sinks, keep, stats)``, which runs
    its factory as ``f(options, config)``.
    """
    for spec in map(registry.get, registry.names()):
        if spec is not None and spec.library_name == name:
            if spec.function:
                func: Callable[..., AsyncGenerator[Record, None]] = registry.load(spec.function)
                return func
            return _generated_function(spec)
    return None


def _generated_function(
    spec: registry.ProbeSpec,
) -> Callable[..., AsyncGenerator[Record, None]]:
    def scan_probe(
        targets: Lines,
        *,
        options: object = None,
        config: ScanConfig | None = None,
        **run: Unpack[RunArgs],
    ) -> AsyncGenerator[Record, None]:
        opts = registry.load(spec.options)() if options is None else options
        return scan(registry.ProbeFactory(spec, (opts,)), targets, config=config, **run)

    scan_probe.__name__ = scan_probe.__qualname__ = spec.library_name
    kind = spec.options.partition(":")[2]
    scan_probe.__doc__ = (
        f"``aioscout {spec.name}``: {spec.summary or 'run the probe.'} A record per target."
        f"\n\n``options`` is a ``{kind}`` (default: ``{kind}()``)."
    )
    return scan_probe

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
        async for rec in aioscout.scan_http(["127.0.0.1:8080", "lab.test"], options=opts):
            print(rec.url, rec.status, rec.title)

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Sequence
from typing import Any

from . import registry
from ._config import DnsOptions, FetchOptions, HttpOptions, Limits, PortOptions, ScanConfig
from ._models import Record
from .engine import Sink, Stats, run_scan

__all__ = ["fetch", "library_function", "scan", "scan_dns", "scan_http", "scan_ports"]

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


def scan(
    factory: Callable[[ScanConfig], Any],
    targets: Lines,
    *,
    config: ScanConfig | None = None,
    sinks: Sequence[Sink] = (),
    keep: Callable[[Record], bool] | None = None,
    stats: Stats | None = None,
) -> AsyncGenerator[Record, None]:
    """Run any probe (a picklable ``factory(config)``) over ``targets``; yield its records.

    Raises ``TypeError`` at once when ``targets`` is one string (or bytes), not an
    iterable of lines: ``["example.com"]``, not ``"example.com"``.
    """
    _check_lines(targets)
    return _records(factory, targets, config or ScanConfig(), sinks, keep, stats)


async def _records(
    factory: Callable[[ScanConfig], Any],
    targets: Lines,
    config: ScanConfig,
    sinks: Sequence[Sink],
    keep: Callable[[Record], bool] | None,
    stats: Stats | None,
) -> AsyncGenerator[Record, None]:
    handoff = _Handoff()

    async def run() -> None:
        try:
            await run_scan(factory, targets, [*sinks, handoff], config, keep=keep, stats=stats)
        finally:
            await handoff.queue.put(None)

    # The run lives exactly as long as this generator: cancelled and awaited in
    # ``finally`` if the caller stops early, awaited (errors raised) at the end.
    task = asyncio.ensure_future(run())
    try:
        while (batch := await handoff.queue.get()) is not None:
            for record in batch:
                yield record
        await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                while not task.done():  # drain so the run is never stuck on a full handoff
                    with contextlib.suppress(asyncio.QueueEmpty):
                        handoff.queue.get_nowait()
                    await asyncio.sleep(0)
                await task


def scan_http(
    targets: Lines,
    *,
    options: HttpOptions | None = None,
    limits: Limits | None = None,
    config: ScanConfig | None = None,
    sinks: Sequence[Sink] = (),
    keep: Callable[[Record], bool] | None = None,
    stats: Stats | None = None,
) -> AsyncGenerator[Record, None]:
    """``aioscout http``: one :class:`HttpResult` per target (per address with ``all_ips``)."""
    factory = registry.factory("http", options or HttpOptions(), limits or Limits())
    return scan(factory, targets, config=config, sinks=sinks, keep=keep, stats=stats)


def scan_dns(
    targets: Lines,
    *,
    domains: Sequence[str] = (),
    options: DnsOptions | None = None,
    config: ScanConfig | None = None,
    sinks: Sequence[Sink] = (),
    stats: Stats | None = None,
) -> AsyncGenerator[Record, None]:
    """``aioscout dns``: names to resolve, or words to try under each of ``domains``.

    With ``options.only_found`` (the default, as for a brute force) only names
    that exist are yielded; ``stats`` counts every one.
    """
    from .probes.factories import share_resolver_rate

    opts = share_resolver_rate(options or DnsOptions(), (config or ScanConfig()).workers)
    factory = registry.factory("dns", opts, tuple(domains))
    return scan(factory, targets, config=config, sinks=sinks, stats=stats)


def fetch(
    urls: Lines,
    *,
    options: FetchOptions | None = None,
    http: HttpOptions | None = None,
    limits: Limits | None = None,
    config: ScanConfig | None = None,
    sinks: Sequence[Sink] = (),
    stats: Stats | None = None,
) -> AsyncGenerator[Record, None]:
    """``aioscout fetch``: download each URL to ``options.directory``; a record per URL."""
    factory = registry.factory(
        "fetch", options or FetchOptions(), http or HttpOptions(), limits or Limits()
    )
    return scan(factory, urls, config=config, sinks=sinks, stats=stats)


def scan_ports(
    targets: Lines,
    *,
    options: PortOptions | None = None,
    config: ScanConfig | None = None,
    sinks: Sequence[Sink] = (),
    stats: Stats | None = None,
) -> AsyncGenerator[Record, None]:
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
    return scan(factory, targets, config=cfg, sinks=sinks, stats=stats)


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
        sinks: Sequence[Sink] = (),
        keep: Callable[[Record], bool] | None = None,
        stats: Stats | None = None,
    ) -> AsyncGenerator[Record, None]:
        opts = registry.load(spec.options)() if options is None else options
        factory = registry.ProbeFactory(spec, (opts,))
        return scan(factory, targets, config=config, sinks=sinks, keep=keep, stats=stats)

    scan_probe.__name__ = scan_probe.__qualname__ = spec.library_name
    kind = spec.options.partition(":")[2]
    scan_probe.__doc__ = (
        f"``aioscout {spec.name}``: {spec.summary or 'run the probe.'} A record per target."
        f"\n\n``options`` is a ``{kind}`` (default: ``{kind}()``)."
    )
    return scan_probe

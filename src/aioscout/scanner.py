"""A :class:`Scanner`: one set of probes shared by the many scans of a program.

Each ``aioscout.scan_<probe>`` call builds its probe, starts it (a
connection pool, DNS resolvers, a TLS context, per-host limits) and closes
it at the end. A program that runs many scans (a scan per request, a
follow-up scan of what the first found) pays that each time and keeps no
connection warm. A Scanner builds each probe once, on first use, keeps it
started, and lends it to every run of the same kind and options; it closes
them all on exit. Runs may overlap (``asyncio.gather`` over several
``s.http(...)``): they share the probe's pools and limits.

Example::

    import asyncio
    import aioscout

    async def main() -> None:
        opts = aioscout.HttpOptions(resolvers=("127.0.0.1:5353",))
        dns = aioscout.DnsOptions(resolvers=("127.0.0.1:5353",))
        async with aioscout.Scanner(http=opts, dns=dns) as s:
            async for rec in s.http(["lab.test:8080"]):
                print(rec.url, rec.status)
            found = [r.name async for r in s.dns(["www", "mail"], domains=["lab.test"])]
            one = await s.http_one("http://lab.test:8080/")
            print(found, one.title)

    asyncio.run(main())
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncGenerator, Callable, Sequence
from types import TracebackType
from typing import Any, Self, Unpack

from . import registry
from ._config import DnsOptions, FetchOptions, HttpOptions, Limits, ScanConfig
from ._models import DnsResult, FetchResult, HttpResult, Record
from .api import Lines, RunArgs, stream
from .engine import Probe

__all__ = ["Scanner"]


class Scanner:
    """Probes built once and shared by every scan run through this object.

    ``config`` applies to every run (``workers`` is always 1: the shared
    probes live in this process); ``http``, ``dns``, ``fetch`` and ``limits``
    are the default options of those methods, and each method may be given
    other ``options`` (a probe per distinct set of options is kept). Use it
    as ``async with Scanner(...) as s:``; every registered probe has a method
    of its name (``s.ports(targets, options=...)``) besides the explicit
    :meth:`http`, :meth:`dns` and :meth:`fetch`.
    """

    def __init__(
        self,
        config: ScanConfig | None = None,
        *,
        http: HttpOptions | None = None,
        dns: DnsOptions | None = None,
        fetch: FetchOptions | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.config = dataclasses.replace(config or ScanConfig(), workers=1)
        self.http_options = http or HttpOptions()
        self.dns_options = dns or DnsOptions()
        self.fetch_options = fetch or FetchOptions()
        self.limits = limits or Limits()
        self._probes: dict[tuple[str, tuple[Any, ...]], Probe[Any]] = {}
        self._open = False
        self._closed = False

    async def __aenter__(self) -> Self:
        if self._closed:
            raise RuntimeError("a Scanner cannot be reopened once closed")
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every probe this scanner started (idempotent)."""
        self._closed = True
        probes, self._probes = list(self._probes.values()), {}
        for probe in probes:
            with contextlib.suppress(Exception):
                await probe.aclose()

    async def probe(self, name: str, *args: Any) -> Probe[Any]:
        """The started probe ``name`` built from ``args`` (built and started on first use)."""
        if not self._open or self._closed:
            raise RuntimeError("use the Scanner inside 'async with Scanner(...) as s:'")
        key = (name, args)
        found = self._probes.get(key)
        if found is None:
            found = registry.factory(name, *args)(self.config)
            await found.start()
            self._probes[key] = found
        return found

    async def _run(
        self,
        name: str,
        args: tuple[Any, ...],
        targets: Lines,
        run: RunArgs,
    ) -> AsyncGenerator[Record, None]:
        probe = await self.probe(name, *args)
        async for record in stream(probe, targets, config=self.config, started=True, **run):
            yield record

    def http(
        self,
        targets: Lines,
        *,
        options: HttpOptions | None = None,
        limits: Limits | None = None,
        **run: Unpack[RunArgs],
    ) -> AsyncGenerator[HttpResult, None]:
        """:func:`aioscout.scan_http` on this scanner's shared HTTP probe."""
        args = (options or self.http_options, limits or self.limits)
        return self._run("http", args, targets, run)  # type: ignore[return-value]

    async def http_one(
        self, url: str, *, options: HttpOptions | None = None, limits: Limits | None = None
    ) -> HttpResult:
        """Probe one target over HTTP(S) and return its record (its first, with ``all_ips``)."""
        async with contextlib.aclosing(self.http([url], options=options, limits=limits)) as run:
            async for record in run:
                assert isinstance(record, HttpResult)
                return record
        raise AssertionError("the engine yields a record for every target")

    def dns(
        self,
        targets: Lines,
        *,
        domains: Sequence[str] = (),
        options: DnsOptions | None = None,
        **run: Unpack[RunArgs],
    ) -> AsyncGenerator[DnsResult, None]:
        """:func:`aioscout.scan_dns` on a shared DNS probe (one per options and domains)."""
        opts = options or self.dns_options
        return self._run("dns", (opts, tuple(domains)), targets, run)  # type: ignore[return-value]

    def fetch(
        self,
        urls: Lines,
        *,
        options: FetchOptions | None = None,
        http: HttpOptions | None = None,
        limits: Limits | None = None,
        **run: Unpack[RunArgs],
    ) -> AsyncGenerator[FetchResult, None]:
        """:func:`aioscout.fetch` on a shared download probe."""
        args = (options or self.fetch_options, http or self.http_options, limits or self.limits)
        return self._run("fetch", args, urls, run)  # type: ignore[return-value]

    def scan(
        self,
        name: str,
        targets: Lines,
        *,
        options: object = None,
        **run: Unpack[RunArgs],
    ) -> AsyncGenerator[Record, None]:
        """Run registered probe ``name`` (its factory called as ``f(options, config)``)."""
        spec = registry.get(name)
        if spec is None:
            raise KeyError(f"no probe named {name!r} (known: {', '.join(registry.names())})")
        opts = registry.load(spec.options)() if options is None else options
        return self._run(name, (opts,), targets, run)

    def __getattr__(self, name: str) -> Callable[..., AsyncGenerator[Record, None]]:
        if name.startswith("_") or registry.get(name) is None:
            raise AttributeError(f"'Scanner' object has no attribute {name!r}")

        def run_probe(targets: Lines, **kwargs: Any) -> AsyncGenerator[Record, None]:
            return self.scan(name, targets, **kwargs)

        run_probe.__name__ = name
        run_probe.__doc__ = f"Run the registered probe {name!r} (see :meth:`Scanner.scan`)."
        return run_probe

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *registry.names()})

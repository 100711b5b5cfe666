"""``--all-ips``: the HTTP probe run once per A/AAAA address of each host.

The engine numbers items before anything is resolved (resume depends on a
deterministic numbering), so the expansion to addresses happens inside the
item: :class:`AllAddressesProbe` looks the host up, probes every address at
once with the name pinned to it (see :mod:`._addresses`) and answers with a
:class:`~aioscout.Records` group, one record per address in lookup order
(IPv4 first). The engine writes a group whole and checkpoints it as one item,
so a resumed run neither repeats nor loses an address. An IP literal, a name
that does not resolve, or a lookup that runs out of time gives one record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from .._config import HttpOptions, Limits, Timeouts
from .._models import ErrorInfo, ErrorKind, HttpResult, Records
from ..targets._types import HttpTarget
from ._addresses import PINNED, AddressBook, is_ip
from ._errors import ProbeError
from .http import HttpProbe

__all__ = ["AllAddressesProbe"]


class AllAddressesProbe:
    """An :class:`HttpProbe` that gives one record per address of a host.

    Example::

        probe = AllAddressesProbe(HttpOptions(all_ips=True, resolvers=("127.0.0.1:5353",)),
                                  Timeouts(), Limits(), concurrency=100, per_host=4)
    """

    def __init__(
        self,
        options: HttpOptions,
        timeouts: Timeouts,
        limits: Limits,
        *,
        concurrency: int,
        per_host: int,
    ) -> None:
        self.inner = HttpProbe(
            options, timeouts, limits, concurrency=concurrency, per_host=per_host
        )
        self._total = timeouts.total
        self._book = AddressBook(options.resolvers, timeouts.connect)

    def expand(self, line: str) -> Iterable[HttpTarget]:
        return self.inner.expand(line)

    def host_of(self, target: HttpTarget) -> str:
        return self.inner.host_of(target)

    def identity(self, target: HttpTarget) -> str:
        return self.inner.identity(target)

    def failed(self, line: str, target: HttpTarget | None, error: ErrorInfo) -> HttpResult:
        return self.inner.failed(line, target, error)

    async def start(self) -> None:
        await self.inner.start()
        await self._book.start()

    async def aclose(self) -> None:
        await self._book.aclose()
        await self.inner.aclose()

    async def __aenter__(self) -> AllAddressesProbe:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def probe(self, line: str, target: HttpTarget) -> HttpResult | Records:
        """Every address of ``target``'s host, all within ``Timeouts.total``."""
        if is_ip(target.host):
            return await self.inner.probe(line, target)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._total):
                addresses = await self._book.lookup(target.host)
        except TimeoutError:
            detail = f"no address for {target.host} within {self._total:g}s"
            return self._failed(line, target, ErrorInfo(ErrorKind.TIMEOUT, detail), started)
        except ProbeError as exc:
            return self._failed(line, target, exc.info, started)
        budget = max(0.001, self._total - (time.perf_counter() - started))

        async def pinned(address: str) -> HttpResult:
            PINNED.set((target.host, address))  # in this task's own copy of the context
            result = await self.inner.probe_within(line, target, budget)
            if result.ip is None:  # no connection was made: say where it was tried
                result.ip = address
            return result

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(pinned(a)) for a in addresses]
        return Records(line, [t.result() for t in tasks])

    def _failed(
        self, line: str, target: HttpTarget, error: ErrorInfo, started: float
    ) -> HttpResult:
        result = self.inner.failed(line, target, error)
        result.time_ms = round((time.perf_counter() - started) * 1000, 1)
        return result

"""An aiohttp resolver that asks the DNS servers it is given, never the system's.

``--resolver IP[:port]`` sends every HTTP probe's name lookup to those servers
through the project's one DNS client,
:class:`~aioscout.dnsproto.resolver.FastResolver` (the brute force's, with its
retries on other servers and its health checks), plugged in where aiohttp takes
a resolver (:class:`aiohttp.abc.AbstractResolver`). IP literals never reach a
resolver: aiohttp connects to them directly.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult

from .._exceptions import ConfigError
from ..dnsproto.resolver import FastResolver, ResolveError
from ..dnsproto.servers import check_resolvers

__all__ = ["DnsServerResolver"]

_A, _AAAA = 1, 28


class DnsServerResolver(AbstractResolver):
    """Resolve names for aiohttp through the given DNS servers only.

    Example::

        connector = aiohttp.TCPConnector(resolver=DnsServerResolver(["127.0.0.53:5353"]))

    The sockets are opened by the first lookup (inside the running loop) and
    closed by :meth:`close`, which the connector calls when it closes if it
    owns the resolver (see ``_http_session.make_connector``).

    Args:
        nameservers: ``"ip[:port]"`` of each server (checked now: ConfigError if bad).
        timeout: seconds a lookup may take in all; one attempt waits at most 1 s.
    """

    def __init__(self, nameservers: Sequence[str], *, timeout: float = 3.0) -> None:
        if not nameservers:
            raise ConfigError("at least one resolver is needed")
        self._servers = check_resolvers(nameservers)
        self._timeout = max(0.05, timeout)
        self._fast: FastResolver | None = None
        self._opening = asyncio.Lock()

    async def _client(self) -> FastResolver:
        """The client, opened by the first lookup."""
        if self._fast is not None:
            return self._fast
        async with self._opening:
            if self._fast is None:
                attempt = min(self._timeout, 1.0)
                retries = max(0, min(5, int(self._timeout / attempt) - 1))
                fast = FastResolver(self._servers, timeout=attempt, retries=retries, sockets=1)
                try:
                    await fast.start()
                except BaseException:
                    await fast.aclose()
                    raise
                self._fast = fast
            return self._fast

    async def _query(self, fast: FastResolver, host: str, qtype: int) -> list[str]:
        try:
            async with asyncio.timeout(self._timeout):
                reply = await fast.resolve(host, qtype)
        except TimeoutError as exc:
            raise OSError(f"DNS timeout resolving {host}") from exc
        except ResolveError as exc:
            if exc.kind == "timeout":
                raise OSError(f"DNS timeout resolving {host}") from exc
            raise OSError(f"DNS failure resolving {host}: {exc.detail}") from exc
        return [data for _owner, rtype, _ttl, data in reply.answers if rtype == qtype]

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of ``host`` for aiohttp's connector (raises OSError if none)."""
        wanted: list[tuple[socket.AddressFamily, int]] = []
        if family in (socket.AF_INET, socket.AF_UNSPEC):
            wanted.append((socket.AF_INET, _A))
        if family in (socket.AF_INET6, socket.AF_UNSPEC):
            wanted.append((socket.AF_INET6, _AAAA))
        fast = await self._client()
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [(fam, tg.create_task(self._query(fast, host, q))) for fam, q in wanted]
        except* OSError as group:
            first = group.exceptions[0]
            raise OSError(str(first)) from first
        results: list[ResolveResult] = [
            ResolveResult(
                hostname=host,
                host=addr,
                port=port,
                family=fam,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for fam, task in tasks
            for addr in task.result()
        ]
        if not results:
            raise OSError(f"{host}: no address (NXDOMAIN or no A/AAAA record)")
        return results

    async def close(self) -> None:
        """Close the DNS sockets (a later lookup opens them again)."""
        fast, self._fast = self._fast, None
        if fast is not None:
            await fast.aclose()

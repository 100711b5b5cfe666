"""An aiohttp resolver that asks the DNS servers it is given, never the system's.

``--resolver IP[:port]`` sends every HTTP probe's name lookup to those servers
with dnspython's asyncio resolver (explicit nameservers, no
``/etc/resolv.conf``). IP literals never reach a resolver: aiohttp connects to
them directly.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
from aiohttp.abc import AbstractResolver, ResolveResult

from .._exceptions import ConfigError
from ..dnsproto.servers import parse_resolver

__all__ = ["DnsServerResolver"]


class DnsServerResolver(AbstractResolver):
    """Resolve names for aiohttp through the given DNS servers only.

    Example::

        connector = aiohttp.TCPConnector(resolver=DnsServerResolver(["127.0.0.53:5353"]))
    """

    def __init__(self, nameservers: Sequence[str], *, timeout: float = 3.0) -> None:
        if not nameservers:
            raise ConfigError("at least one resolver is needed")
        servers = [parse_resolver(s) for s in nameservers]
        self._resolver = dns.asyncresolver.Resolver(configure=False)
        self._resolver.nameservers = [
            dns.nameserver.Do53Nameserver(ip, port) for ip, port in servers
        ]
        self._resolver.lifetime = timeout
        self._resolver.timeout = min(timeout, 1.0)
        self._resolver.cache = None

    async def _query(self, host: str, rdtype: dns.rdatatype.RdataType) -> list[str]:
        try:
            answer = await self._resolver.resolve(host, rdtype, search=False)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            return []
        except dns.exception.Timeout as exc:
            raise OSError(f"DNS timeout resolving {host}") from exc
        except dns.exception.DNSException as exc:
            raise OSError(f"DNS failure resolving {host}: {exc}") from exc
        return [rr.to_text() for rr in answer]

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of ``host`` for aiohttp's connector (raises OSError if none)."""
        wanted: list[tuple[socket.AddressFamily, dns.rdatatype.RdataType]] = []
        if family in (socket.AF_INET, socket.AF_UNSPEC):
            wanted.append((socket.AF_INET, dns.rdatatype.A))
        if family in (socket.AF_INET6, socket.AF_UNSPEC):
            wanted.append((socket.AF_INET6, dns.rdatatype.AAAA))
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [(fam, tg.create_task(self._query(host, rdt))) for fam, rdt in wanted]
        except ExceptionGroup as group:
            first = group.exceptions[0]
            if isinstance(first, OSError):
                raise OSError(str(first)) from group
            raise
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
        """Nothing to release: dnspython opens a socket per query."""

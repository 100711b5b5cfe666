"""``--all-ips``: every A/AAAA address of a host, and probes pinned to one of them.

A host's addresses are looked up once (through the ``--resolver`` servers,
or the system's resolver when none are given); the prober then runs one
ordinary probe per address with the host *pinned* to that address through a
context variable. Both HTTP paths honour the pin when they resolve the
pinned host — the fast path in its own lookup, the aiohttp path through
``_http_session.PinnedResolver`` — so the request still carries the host's name (Host
header, SNI, cookies) while the connection goes to the chosen address.
Redirects to other hosts resolve normally.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from contextvars import ContextVar

from .._models import ErrorKind
from ..dnsproto.resolver import FastResolver, ResolveError
from ..targets.parse import CANONICAL_IPV4
from ._errors import ProbeError, no_address, resolve_failure

__all__ = ["PINNED", "AddressBook", "is_ip", "pinned_address"]

PINNED: ContextVar[tuple[str, str] | None] = ContextVar("aioscout_pinned", default=None)
_A, _AAAA = 1, 28


def pinned_address(host: str) -> str | None:
    """The address ``host`` is pinned to in the current context, if any."""
    pin = PINNED.get()
    return pin[1] if pin is not None and pin[0] == host else None


def is_ip(host: str) -> bool:
    """True for an IPv4 or IPv6 literal (once per request: names leave at the first test)."""
    if not (host[-1:].isdigit() or ":" in host):
        return False  # a name (IPv4 literals end in a digit; IPv6 ones hold a colon)
    if CANONICAL_IPV4.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class AddressBook:
    """Looks up every A and AAAA address of a host (IPv4 first, each family in order)."""

    def __init__(self, resolvers: tuple[str, ...], timeout: float) -> None:
        self._resolvers = resolvers
        self._timeout = timeout
        self._fast: FastResolver | None = None

    async def start(self) -> None:
        if self._resolvers and self._fast is None:
            self._fast = FastResolver(self._resolvers, timeout=min(self._timeout, 1.0), retries=2)
            await self._fast.start()

    async def aclose(self) -> None:
        fast, self._fast = self._fast, None
        if fast is not None:
            await fast.aclose()

    async def lookup(self, host: str) -> list[str]:
        """All addresses of ``host``; raises :class:`ProbeError` (kind ``dns``) when none."""
        if is_ip(host):
            return [host]
        if self._fast is not None:
            addrs = await self._lookup_fast(self._fast, host)
        else:
            addrs = await self._lookup_system(host)
        if not addrs:
            raise no_address(host)
        return addrs

    async def _lookup_fast(self, fast: FastResolver, host: str) -> list[str]:
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(fast.resolve(host, q)) for q in (_A, _AAAA)]
        except* ResolveError as group:
            exc = group.exceptions[0]
            raise resolve_failure(host, exc) from exc
        out: list[str] = []
        for qtype, task in zip((_A, _AAAA), tasks, strict=True):
            for _, rtype, _, data in task.result().answers:
                if rtype == qtype and data not in out:
                    out.append(data)
        return out

    async def _lookup_system(self, host: str) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, TimeoutError) as exc:
            raise ProbeError(ErrorKind.DNS, f"cannot resolve {host}: {str(exc)[:300]}") from exc
        v4 = [str(i[4][0]) for i in infos if i[0] == socket.AF_INET]
        v6 = [str(i[4][0]) for i in infos if i[0] == socket.AF_INET6]
        return list(dict.fromkeys([*v4, *v6]))

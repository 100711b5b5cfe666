"""Building the aiohttp session of the HTTP prober: TLS contexts, connector, proxy.

Certificates are reported, not trusted, by default: the default context does
not verify, yet the peer certificate is still available in binary form for
the record. ``verify`` switches to a verifying context (plus ``ca_file``).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_proto import ResponseHandler
from aiohttp.connector import Connection
from yarl import URL

from .._config import HttpOptions, Limits, Timeouts
from ._addresses import pinned_address
from ._errors import too_many_informational
from ._http_common import (
    DEFAULT_USER_AGENT,
    USER_AGENTS,
    ProxyPlan,
    make_ssl_context,
    pick_user_agent,
    plan_proxy,
)
from ._http_core import MAX_INFORMATIONAL
from .resolver import DnsServerResolver

__all__ = [
    "DEFAULT_USER_AGENT",
    "USER_AGENTS",
    "PeerResponse",
    "PinnedResolver",
    "ProxyPlan",
    "make_connector",
    "make_session",
    "make_ssl_context",
    "pick_user_agent",
    "plan_proxy",
]


def make_connector(
    options: HttpOptions,
    proxy: ProxyPlan,
    ssl_context: ssl.SSLContext,
    timeouts: Timeouts,
    *,
    concurrency: int,
    per_host: int,
) -> aiohttp.TCPConnector:
    """The pooled connector (keep-alive reuse, limits, resolver, SOCKS when asked)."""
    resolver: AbstractResolver | None = None
    if options.resolvers:
        resolver = DnsServerResolver(options.resolvers, timeout=timeouts.connect)
    common: dict[str, object] = {
        "limit": concurrency,
        "limit_per_host": per_host,
        "ssl": ssl_context,
        "ttl_dns_cache": 60,
        "enable_cleanup_closed": False,
    }
    if options.all_ips:
        # One probe per address: no cached answer or pooled connection may cross addresses.
        common["resolver"] = PinnedResolver(resolver or aiohttp.DefaultResolver())
        common["use_dns_cache"] = False
        common["force_close"] = True
    elif resolver is not None:
        common["resolver"] = resolver
    if proxy.socks is not None:
        from aiohttp_socks import ProxyConnector

        socks_url = URL(proxy.socks)
        rdns = socks_url.scheme.lower() in ("socks5h", "socks4a")
        base = {"socks5h": "socks5", "socks4a": "socks4"}.get(socks_url.scheme.lower())
        url_text = str(socks_url.with_scheme(base or socks_url.scheme.lower()))
        connector: aiohttp.TCPConnector = ProxyConnector.from_url(url_text, rdns=rdns, **common)
    else:
        connector = aiohttp.TCPConnector(**common)  # type: ignore[arg-type]
    if resolver is not None:
        connector._resolver_owner = True  # it closes the resolver made here, with its sockets
    return connector


_NUMERIC = socket.AI_NUMERICHOST


class PinnedResolver(AbstractResolver):
    """An aiohttp resolver that answers a pinned host with its pinned address.

    Every other name goes to ``inner``. Use it with the connector's DNS cache
    off and no keep-alive, so no cached answer or pooled connection crosses
    from one pinned address to another.
    """

    def __init__(self, inner: AbstractResolver) -> None:
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addr = pinned_address(host)
        if addr is None:
            return await self._inner.resolve(host, port, family)
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        return [
            ResolveResult(hostname=host, host=addr, port=port, family=fam, proto=0, flags=_NUMERIC)
        ]

    async def close(self) -> None:
        await self._inner.close()


class PeerResponse(aiohttp.ClientResponse):
    """A response that remembers its peer address and TLS object.

    aiohttp hands the connection back to the pool as soon as a short body is
    complete, so the transport must be read when the response starts.
    """

    peer_ip: str | None = None
    ssl_object: ssl.SSLObject | None = None

    async def start(self, connection: Connection) -> aiohttp.ClientResponse:
        transport = connection.transport
        if transport is not None:
            peer = transport.get_extra_info("peername")
            if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
                self.peer_ip = peer[0]
            sslobj = transport.get_extra_info("ssl_object")
            if isinstance(sslobj, ssl.SSLObject):
                self.ssl_object = sslobj
        protocol = connection.protocol
        if protocol is None:
            return await super().start(connection)
        # aiohttp skips interim (1xx) responses in an unbounded loop: its reads are
        # counted here, and past the cap the connection is dropped.
        protocol.read = _InterimCap(protocol, protocol.read)  # type: ignore[method-assign]
        try:
            return await super().start(connection)
        finally:
            del protocol.read  # the class's own method again


class _InterimCap:
    """A protocol's ``read`` that refuses more than MAX_INFORMATIONAL interim responses."""

    __slots__ = ("_count", "_protocol", "_read")

    def __init__(self, protocol: ResponseHandler, read: Callable[[], Awaitable[Any]]) -> None:
        self._protocol = protocol
        self._read = read
        self._count = 0

    async def __call__(self) -> Any:
        message, payload = await self._read()
        code = message.code
        if 100 <= code < 200 and code != 101:
            self._count += 1
            if self._count > MAX_INFORMATIONAL:
                transport = self._protocol.transport
                if transport is not None:
                    transport.abort()
                raise too_many_informational(MAX_INFORMATIONAL)
        return message, payload


def make_session(
    connector: aiohttp.TCPConnector,
    timeouts: Timeouts,
    limits: Limits,
    *,
    total: float | Literal["timeouts"] | None = "timeouts",
) -> aiohttp.ClientSession:
    """The session: no automatic decompression, redirects or cookies (done per probe).

    ``total`` bounds a whole request: ``Timeouts.total`` by default, ``None``
    for downloads, which may take hours (their reads stay bounded).
    """
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(
            total=timeouts.total if total == "timeouts" else total,
            sock_connect=timeouts.connect,
            sock_read=timeouts.read,
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        trust_env=False,
        max_line_size=limits.max_header_bytes,
        max_field_size=limits.max_header_bytes,
        max_headers=limits.max_headers,
        raise_for_status=False,
        response_class=PeerResponse,
    )

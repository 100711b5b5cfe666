"""Building the aiohttp session of the HTTP prober: TLS contexts, connector, proxy.

Certificates are reported, not trusted, by default: the default context does
not verify, yet the peer certificate is still available in binary form for
the record. ``verify`` switches to a verifying context (plus ``ca_file``).
"""

from __future__ import annotations

import ssl

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.connector import Connection
from yarl import URL

from .._config import HttpOptions, Limits, Timeouts
from ._http_common import (
    DEFAULT_USER_AGENT,
    USER_AGENTS,
    ProxyPlan,
    make_ssl_context,
    pick_user_agent,
    plan_proxy,
)
from .resolver import DnsServerResolver

__all__ = [
    "DEFAULT_USER_AGENT",
    "USER_AGENTS",
    "PeerResponse",
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
    if resolver is not None:
        common["resolver"] = resolver
    if proxy.socks is not None:
        from aiohttp_socks import ProxyConnector

        socks_url = URL(proxy.socks)
        rdns = socks_url.scheme.lower() in ("socks5h", "socks4a")
        base = {"socks5h": "socks5", "socks4a": "socks4"}.get(socks_url.scheme.lower())
        url_text = str(socks_url.with_scheme(base or socks_url.scheme.lower()))
        connector: aiohttp.TCPConnector = ProxyConnector.from_url(url_text, rdns=rdns, **common)
        return connector
    return aiohttp.TCPConnector(**common)  # type: ignore[arg-type]


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
        return await super().start(connection)


def make_session(
    connector: aiohttp.TCPConnector, timeouts: Timeouts, limits: Limits
) -> aiohttp.ClientSession:
    """The session: no automatic decompression, redirects or cookies (done per probe)."""
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(
            total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.read
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

"""The HTTP prober through a real HTTP proxy (proxy.py) and a loopback DNS server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from aiohttp import web

from aioscout._config import HttpOptions
from aioscout._models import ErrorKind
from tests._support.http_servers import (
    HOST,
    CertFiles,
    make_cert,
    open_probe,
    target,
    web_server,
)
from tests._support.proxies import PASSWORD, USER


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_cert(tmp_path_factory.mktemp("tls"))


def hello_app() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<title>via proxy</title>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    return app


@pytest.mark.slow
async def test_http_proxy_with_auth(http_proxy_port: int, cert: CertFiles) -> None:
    good = HttpOptions(proxy=f"http://{USER}:{PASSWORD}@{HOST}:{http_proxy_port}")
    split = HttpOptions(proxy=f"http://{HOST}:{http_proxy_port}", proxy_auth=f"{USER}:{PASSWORD}")
    bad = HttpOptions(proxy=f"http://{USER}:wrong-pw-123@{HOST}:{http_proxy_port}")
    async with (
        web_server(hello_app()) as port,
        web_server(hello_app(), cert.server_context()) as tls_port,
    ):
        async with open_probe(good) as probe:
            plain = await probe.probe("x", target(f"http://{HOST}:{port}/"))
            tunnel = await probe.probe("x", target(f"https://{HOST}:{tls_port}/"))
        async with open_probe(split) as probe:
            split_auth = await probe.probe("x", target(f"http://{HOST}:{port}/"))
        async with open_probe(bad) as probe:
            denied_plain = await probe.probe("x", target(f"http://{HOST}:{port}/"))
            denied_tunnel = await probe.probe("x", target(f"https://{HOST}:{tls_port}/"))
    assert (plain.error, plain.status, plain.title, plain.ip) == (None, 200, "via proxy", None)
    assert (tunnel.error, tunnel.status, tunnel.title) == (None, 200, "via proxy")
    assert tunnel.tls is not None and tunnel.tls.subject_cn == "aioscout.test"
    assert (split_auth.error, split_auth.status) == (None, 200)
    for record in (denied_plain, denied_tunnel):
        assert record.error is not None and record.error.kind == ErrorKind.PROXY, record.error
    for record in (plain, tunnel, split_auth, denied_plain, denied_tunnel):
        assert PASSWORD not in repr(record) and "wrong-pw-123" not in repr(record)


@asynccontextmanager
async def dns_server(zone: dict[str, str]) -> AsyncIterator[int]:
    """A minimal authoritative UDP server: A records from ``zone``, NXDOMAIN otherwise."""

    class Protocol(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.DatagramTransport, transport)

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text()
            if name in zone and question.rdtype == dns.rdatatype.A:
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", zone[name]))
            elif name not in zone:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self.transport.sendto(reply.to_wire(), addr)

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Protocol, local_addr=(HOST, 0))
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


async def test_resolver_option_uses_the_given_server() -> None:

    async with dns_server({"site.test.": HOST}) as dns_port, web_server(hello_app()) as port:
        opts = HttpOptions(resolvers=(f"{HOST}:{dns_port}",))
        async with open_probe(opts) as probe:
            ok = await probe.probe("x", target(f"http://site.test:{port}/"))
            missing = await probe.probe("x", target(f"http://nowhere.test:{port}/"))
    assert (ok.error, ok.status, ok.title, ok.host, ok.ip) == (
        None, 200, "via proxy", "site.test", HOST,
    )  # fmt: skip
    assert missing.error is not None and missing.error.kind == ErrorKind.DNS


def test_resolver_spec_parsing() -> None:
    from aioscout._exceptions import ConfigError
    from aioscout.dnsproto.servers import parse_resolver

    assert parse_resolver("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_resolver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_resolver("[::1]:5300") == ("::1", 5300)
    assert parse_resolver("::1") == ("::1", 53)
    for bad in ("dns.example", "127.0.0.1:x", "[::1", "127.0.0.1:70000"):
        with pytest.raises(ConfigError):
            parse_resolver(bad)

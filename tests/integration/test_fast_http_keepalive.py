"""Keep-alive on the fast path: an idle connection to the same address carries the
next request only when its last response was read to its end and not closing.

The server is a small asyncio server on 127.0.0.1 (port 0) that counts its
connections and answers each request with a scripted response.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aioscout._config import Limits
from aioscout.lab.certs import self_signed_certificate, write_pair
from tests._support.http_servers import open_probe, target

Answer = Callable[[int, int], bytes | None]  # (connection number, request number on it)


def page(body: bytes, *extra: str, version: str = "1.1") -> bytes:
    head = f"HTTP/{version} 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
    return (head + "".join(f"{h}\r\n" for h in extra) + "\r\n").encode() + body


TITLED = b"<html><head><title>kept</title></head></html>"


class Server:
    """Counts connections; ``answer`` gives the bytes for each request (None: close)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            for n in range(100):
                async with asyncio.timeout(5):
                    await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                reply = self.answer(number, n)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(answer: Answer, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server(answer)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


async def probe_twice(
    server: Server, limits: Limits | None = None, scheme: str = "http"
) -> list[object]:
    urls = [f"{scheme}://127.0.0.1:{server.port}/{p}" for p in ("a", "b")]
    async with open_probe(limits=limits) as probe:
        return [await probe.probe(u, target(u)) for u in urls]


async def test_a_finished_response_leaves_its_connection_for_the_next_request() -> None:
    async with serving(lambda c, n: page(TITLED)) as server:
        first, second = await probe_twice(server)
    assert (server.connections, server.requests) == (1, 2)
    for record in (first, second):
        assert getattr(record, "status", None) == 200
        assert getattr(record, "title", None) == "kept"
        assert getattr(record, "ip", None) == "127.0.0.1"


async def test_connection_close_is_not_reused() -> None:
    async with serving(lambda c, n: page(TITLED, "Connection: close")) as server:
        records = await probe_twice(server)
    assert server.connections == 2
    assert [getattr(r, "title", None) for r in records] == ["kept", "kept"]


async def test_http_1_0_is_not_reused() -> None:
    async with serving(lambda c, n: page(TITLED, version="1.0")) as server:
        await probe_twice(server)
    assert server.connections == 2


async def test_a_partly_read_body_is_not_reused() -> None:
    big = b"<title>big</title>" + b"x" * 100_000
    async with serving(lambda c, n: page(big)) as server:
        records = await probe_twice(server, Limits(max_body=4096))
    assert server.connections == 2
    assert [getattr(r, "title", None) for r in records] == ["big", "big"]


async def test_bytes_after_the_response_stop_reuse() -> None:
    async with serving(lambda c, n: page(TITLED) + page(b"extra")) as server:
        records = await probe_twice(server)
    assert server.connections == 2
    assert [getattr(r, "title", None) for r in records] == ["kept", "kept"]


async def test_an_idle_connection_the_server_dropped_is_replaced() -> None:
    # The first connection answers once, then closes on the next request unanswered:
    # the request is sent again on a new connection, and the record is a success.
    async with serving(lambda c, n: page(TITLED) if c > 1 or n == 0 else None) as server:
        first, second = await probe_twice(server)
    assert server.connections == 2
    assert getattr(first, "error", None) is None
    assert getattr(second, "error", None) is None
    assert getattr(second, "title", None) == "kept"


async def test_a_tls_connection_is_reused_with_its_certificate_facts(tmp_path: Path) -> None:
    pair = write_pair(tmp_path, "server", *self_signed_certificate(["lab.test"], ["127.0.0.1"]))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pair.cert, pair.key)
    async with serving(lambda c, n: page(TITLED), tls) as server:
        first, second = await probe_twice(server, scheme="https")
    assert (server.connections, server.requests) == (1, 2)
    assert getattr(second, "title", None) == "kept"
    assert getattr(second, "tls", None) == getattr(first, "tls", None) is not None


async def test_two_names_on_one_address_never_share_a_connection() -> None:
    from aioscout.probes._addresses import PINNED

    async with serving(lambda c, n: page(TITLED)) as server, open_probe() as probe:
        records = []
        for name in ("a.example", "b.example", "a.example"):
            url = f"http://{name}:{server.port}/"
            token = PINNED.set((name, "127.0.0.1"))  # resolves without any DNS
            try:
                records.append(await probe.probe(url, target(url)))
            finally:
                PINNED.reset(token)
    assert [getattr(r, "status", None) for r in records] == [200, 200, 200]
    assert (server.connections, server.requests) == (2, 3)  # a.example's second request reuses


async def test_tls_connections_wait_idle_no_more_than_requests_may_be_in_flight(
    tmp_path: Path,
) -> None:
    # Each idle TLS connection holds some 50 KB: a probe of concurrency 2 keeps the two
    # newest, so a.example's is gone when its second request comes. Plain connections
    # cost little and stay (a list interleaving hosts' paths finds them waiting).
    from aioscout._config import HttpOptions, Timeouts
    from aioscout.probes._addresses import PINNED
    from aioscout.probes.http import HttpProbe

    pair = write_pair(tmp_path, "server", *self_signed_certificate(["a.example"], ["127.0.0.1"]))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pair.cert, pair.key)
    names = ("a.example", "b.example", "c.example", "a.example")
    for scheme, concurrency, connections in (
        ("https", 2, 4),
        ("https", 16, 3),
        ("http", 2, 3),
    ):
        probe = HttpProbe(
            HttpOptions(),
            Timeouts(connect=2.0, read=2.0, total=4.0),
            Limits(),
            concurrency=concurrency,
            per_host=1,
        )
        await probe.start()
        try:
            async with serving(
                lambda c, n: page(TITLED), tls if scheme == "https" else None
            ) as server:
                for name in names:
                    url = f"{scheme}://{name}:{server.port}/"
                    token = PINNED.set((name, "127.0.0.1"))  # resolves without any DNS
                    try:
                        record = await probe.probe(url, target(url))
                    finally:
                        PINNED.reset(token)
                    assert getattr(record, "status", None) == 200, record
        finally:
            await probe.aclose()
        assert (server.connections, server.requests) == (connections, 4), (scheme, concurrency)

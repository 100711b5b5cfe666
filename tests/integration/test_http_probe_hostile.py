"""The HTTP prober against hostile peers: every case ends in time, bounded, classified."""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from pathlib import Path

import brotli
import pytest

from aioscout._config import HttpOptions, Limits, Timeouts
from aioscout._models import ErrorKind
from tests._support.http_servers import (
    HOST,
    CertFiles,
    make_cert,
    open_probe,
    raw_server,
    read_request_head,
    target,
)

TITLE_PAGE = b"<html><head><title>Behind the bomb</title></head><body>"
FAST = Timeouts(connect=1.0, read=1.0, total=2.0)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_cert(tmp_path_factory.mktemp("tls"))


def response(head: str, body: bytes = b"") -> bytes:
    return head.replace("\n", "\r\n").encode() + b"\r\n" + body


def canned(data: bytes, then_close: bool = True):  # type: ignore[no-untyped-def]
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(data)
        await writer.drain()
        if not then_close:
            await reader.read()

    return handler


async def test_huge_body_is_not_read() -> None:
    size = 50 * 1024 * 1024
    sent = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await read_request_head(reader)
        head = f"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: {size}\n"
        writer.write(response(head, TITLE_PAGE))
        sent = len(TITLE_PAGE)
        block = b"A" * 65536
        while sent < size:
            writer.write(block)
            sent += len(block)
            await writer.drain()

    limits = Limits(max_body=100_000)
    async with raw_server(handler) as port, open_probe(limits=limits, timeouts=FAST) as probe:
        started = time.perf_counter()
        r = await probe.probe("x", target(f"http://{HOST}:{port}/"))
        elapsed = time.perf_counter() - started
    assert r.error is None
    assert r.title == "Behind the bomb"
    assert r.content_length == size
    assert elapsed < 1.0
    assert sent < size // 4  # the prober closed the connection instead of draining


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate", "br"])
async def test_compression_bomb_gives_partial_body(coding: str) -> None:
    payload = TITLE_PAGE + b"\0" * (16 * 1024 * 1024)
    if coding == "gzip":
        body = gzip.compress(payload, 9)
    elif coding == "deflate":
        body = zlib.compress(payload, 9)
    elif coding == "raw-deflate":
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        body = c.compress(payload) + c.flush()
    else:
        body = brotli.compress(payload, quality=5)
    name = "deflate" if coding == "raw-deflate" else coding
    head = (
        "HTTP/1.1 200 OK\nContent-Type: text/html\n"
        f"Content-Encoding: {name}\nContent-Length: {len(body)}\n"
    )
    limits = Limits(max_body=200_000)
    async with raw_server(canned(response(head, body))) as port, open_probe(limits=limits) as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/"))
    assert r.error is None
    assert r.title == "Behind the bomb"
    assert r.content_length == len(body)
    assert r.body_sha256 is not None


async def test_undecodable_gzip_is_protocol() -> None:
    head = "HTTP/1.1 200 OK\nContent-Encoding: gzip\nContent-Length: 20\n"
    async with (
        raw_server(canned(response(head, b"not gzip at all!!!!!"))) as port,
        open_probe() as probe,
    ):
        r = await probe.probe("x", target(f"http://{HOST}:{port}/"))
    assert r.error is not None and r.error.kind == ErrorKind.PROTOCOL
    assert r.status == 200


@pytest.mark.slow
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "aiohttp"])
async def test_bad_chunk_keeps_the_title_and_is_protocol(fast_path: bool) -> None:
    first = f"{len(TITLE_PAGE):x}\r\n".encode() + TITLE_PAGE + b"\r\n"
    head = "HTTP/1.1 200 OK\nContent-Type: text/html\nTransfer-Encoding: chunked\n"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(response(head, first))
        await writer.drain()
        await asyncio.sleep(0.01)  # a later segment, as a streaming server sends it
        writer.write(b"ZZZ\r\nboom\r\n")
        await writer.drain()
        await reader.read()

    # A read timeout far longer than the run may take: the error ends the body, not a timer.
    timeouts = Timeouts(connect=1.0, read=4.0, total=6.0)
    options = HttpOptions(fast_path=fast_path)
    async with raw_server(handler) as port, open_probe(options, timeouts=timeouts) as probe:
        started = time.perf_counter()
        r = await probe.probe("x", target(f"http://{HOST}:{port}/"))
        elapsed = time.perf_counter() - started
    assert r.status == 200 and r.title == "Behind the bomb"  # what came before the error
    assert r.error is not None
    assert (r.error.kind, r.error.detail) == (
        ErrorKind.PROTOCOL,
        "bad body: Invalid character in chunk size",
    )
    assert elapsed < 1.0


async def test_http10_without_length_reads_to_close() -> None:
    body = TITLE_PAGE + b"rest</body></html>"
    head = "HTTP/1.0 200 OK\nContent-Type: text/html\n"
    async with raw_server(canned(response(head, body))) as port, open_probe() as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/"))
    assert r.error is None and r.title == "Behind the bomb" and r.content_length == len(body)


async def test_huge_title_is_capped() -> None:
    body = b"<title>" + b"T" * (5 * 1024 * 1024)
    head = f"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: {len(body)}\n"
    async with raw_server(canned(response(head, body))) as port, open_probe() as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/"))
    assert r.error is None and r.status == 200
    assert r.title is None or len(r.title) <= 1024


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"HTTP/1.1 abc Nope\r\n\r\n", ErrorKind.PROTOCOL),
        (b"\x00\xff\x13garbage garbage\r\n\r\n", ErrorKind.PROTOCOL),
        (b"\x15\x03\x01\x00\x02\x02\x46", ErrorKind.PROTOCOL),
        (b"SSH-2.0-OpenSSH_9.2\r\n", ErrorKind.PROTOCOL),
        (b"", ErrorKind.RESET),
    ],
)
async def test_not_http(data: bytes, kind: ErrorKind) -> None:
    async with raw_server(canned(data)) as port, open_probe(timeouts=FAST) as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/"))
    assert r.error is not None and r.error.kind == kind, r.error
    assert r.status is None


async def test_tls_alert_on_bare_port_is_never_http() -> None:
    async def alert(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # whatever arrives (request or ClientHello) gets an alert
        writer.write(b"\x15\x03\x01\x00\x02\x02\x46")
        await writer.drain()

    async with raw_server(alert) as port, open_probe(timeouts=FAST) as probe:
        r = await probe.probe("x", target(f"{HOST}:{port}"))
    assert r.error is not None and r.status is None
    assert r.error.kind in (ErrorKind.PROTOCOL, ErrorKind.TLS, ErrorKind.RESET)


async def test_too_many_headers_and_long_header() -> None:
    many = (
        "HTTP/1.1 200 OK\n" + "".join(f"X-H{i}: v\n" for i in range(3000)) + "Content-Length: 0\n"
    )
    long = "HTTP/1.1 200 OK\nX-Long: " + "v" * 70_000 + "\nContent-Length: 0\n"
    async with open_probe(timeouts=FAST) as probe:
        async with raw_server(canned(response(many))) as port:
            r1 = await probe.probe("x", target(f"http://{HOST}:{port}/"))
        async with raw_server(canned(response(long))) as port:
            r2 = await probe.probe("x", target(f"http://{HOST}:{port}/"))
    assert r1.error is not None and r1.error.kind == ErrorKind.TOO_LARGE, r1.error
    assert r2.error is not None and r2.error.kind == ErrorKind.TOO_LARGE, r2.error


@pytest.mark.slow
async def test_slowloris_ends_at_total() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(200):  # bounded: 200 x 20 ms
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(0.02)

    timeouts = Timeouts(connect=0.5, read=0.5, total=0.6)
    async with raw_server(handler) as port, open_probe(timeouts=timeouts) as probe:
        started = time.perf_counter()
        r = await probe.probe("x", target(f"http://{HOST}:{port}/"))
        elapsed = time.perf_counter() - started
    assert r.error is not None and r.error.kind == ErrorKind.TIMEOUT
    assert 0.55 < elapsed < 1.0


@pytest.mark.slow
async def test_silent_server_is_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(reader.read(), 5)

    timeouts = Timeouts(connect=0.3, read=0.3, total=2.0)
    async with raw_server(handler) as port, open_probe(timeouts=timeouts) as probe:
        started = time.perf_counter()
        r = await probe.probe("x", target(f"http://{HOST}:{port}/"))
        elapsed = time.perf_counter() - started
    assert r.error is not None and r.error.kind == ErrorKind.TIMEOUT
    assert elapsed < 1.0


@pytest.mark.slow
async def test_stalled_tls_handshake_is_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(reader.read(), 5)

    timeouts = Timeouts(connect=0.3, read=0.3, total=2.0)
    async with raw_server(handler) as port, open_probe(timeouts=timeouts) as probe:
        started = time.perf_counter()
        r = await probe.probe("x", target(f"https://{HOST}:{port}/"))
        elapsed = time.perf_counter() - started
    assert r.error is not None and r.error.kind == ErrorKind.TIMEOUT, r.error
    assert elapsed < 1.0


async def test_expired_certificate_is_reported_not_refused(tmp_path: Path) -> None:
    expired = make_cert(tmp_path, name="expired.test", days=-10)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(response("HTTP/1.1 200 OK\nContent-Length: 0\n"))
        await writer.drain()

    async with raw_server(handler, expired.server_context()) as port:
        async with open_probe(timeouts=FAST) as probe:
            r = await probe.probe("x", target(f"https://{HOST}:{port}/"))
        async with open_probe(HttpOptions(verify=True), timeouts=FAST) as probe:
            v = await probe.probe("x", target(f"https://{HOST}:{port}/"))
    assert r.error is None and r.tls is not None and r.tls.expired is True
    assert v.error is not None and v.error.kind == ErrorKind.TLS
    assert "certificate" in v.error.detail


async def test_proxy_credentials_never_in_errors() -> None:
    from tests._support.http_servers import closed_port

    port = closed_port()
    for proxy, auth in (
        (f"http://alice:hunter2pass@{HOST}:{port}", None),
        (f"socks5://alice:hunter2pass@{HOST}:{port}", None),
        (f"http://{HOST}:{port}", "alice:hunter2pass"),
    ):
        opts = HttpOptions(proxy=proxy, proxy_auth=auth)
        async with open_probe(opts, timeouts=FAST) as probe:
            r = await probe.probe("x", target(f"http://{HOST}:9/"))
        assert r.error is not None and r.error.kind == ErrorKind.PROXY, r.error
        assert "hunter2pass" not in repr(r) and "alice" not in repr(r)

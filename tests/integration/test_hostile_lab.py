"""The hostile farm, checked with raw asyncio streams: each endpoint misbehaves as documented."""

from __future__ import annotations

import asyncio
import gzip
import re
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import brotli
import pytest

from aioscout._models import ErrorKind
from aioscout.lab._hostile_payloads import (
    Bomb,
    brotli_bomb,
    crc32_zeros,
    deflate_bomb,
    gzip_bomb,
)
from aioscout.lab.hostile import HostileFarm

LATE = 0.3  # the late answer's delay in these tests
DRIP = 0.01  # slowloris interval in these tests
STEP = 2.0  # bound on any single read that should succeed
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def farm() -> AsyncIterator[HostileFarm]:
    async with HostileFarm(late_delay=LATE, drip=DRIP) as started:
        yield started


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@asynccontextmanager
async def connect(
    farm: HostileFarm, name: str, *, tls: ssl.SSLContext | None = None, request: bool = True
) -> AsyncIterator[Streams]:
    """A raw connection to ``name``; sends a GET of its path unless ``request`` is false."""
    host, port = farm.endpoints[name]
    async with asyncio.timeout(STEP):
        reader, writer = await asyncio.open_connection(host, port, ssl=tls, limit=1 << 20)
    try:
        if request:
            path = farm.expected[name].path
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        yield reader, writer
    finally:
        writer.close()
        try:
            async with asyncio.timeout(STEP):
                await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass  # the hostile side reset or cut the connection: that is its job


async def read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], int]:
    """Status line, headers (last wins) and the number of header lines."""
    async with asyncio.timeout(STEP):
        raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")[:-2]
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return lines[0], headers, len(lines) - 1


async def read_some(reader: asyncio.StreamReader, size: int) -> bytes:
    async with asyncio.timeout(STEP):
        return await reader.readexactly(size)


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(STEP):
        return await reader.read(-1)


def title_of(body: bytes) -> str | None:
    found = re.search(rb"<title>(.*?)</title>", body, re.S)
    return found.group(1).decode() if found else None


# --- the farm itself -------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.com", "localhost"])
def test_refuses_non_loopback(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        HostileFarm(host)


async def test_catalogue_is_complete_and_on_loopback(farm: HostileFarm) -> None:
    wanted = {
        "slowloris", "slowloris_body", "accept_never_answer", "reset_at_once", "huge_body",
        "endless_chunked", "gzip_bomb", "deflate_bomb", "brotli_bomb", "invalid_status_line",
        "binary_garbage", "redirect_loop", "thirty_redirects", "redirect_file", "redirect_ftp",
        "redirect_javascript", "redirect_data", "redirect_gopher", "bad_chunk_size",
        "http10_no_length", "title_50mb", "thousands_of_headers", "huge_header", "tls_stall",
        "tls_expired", "tls_wrong_host", "tls_self_signed", "ssh_banner", "answer_after_timeout",
        "close_mid_headers", "http_on_tls_port",
    }  # fmt: skip
    assert wanted <= set(farm.endpoints)
    assert set(farm.endpoints) == set(farm.expected) == set(farm.hits)
    ports = [port for _, port in farm.endpoints.values()]
    assert len(set(ports)) == len(ports)
    assert all(host == "127.0.0.1" for host, _ in farm.endpoints.values())
    allowed = {
        None, ErrorKind.TIMEOUT, ErrorKind.RESET, ErrorKind.REFUSED, ErrorKind.PROTOCOL,
        ErrorKind.TOO_LARGE, ErrorKind.REDIRECT_LOOP, ErrorKind.TOO_MANY_REDIRECTS,
        ErrorKind.BLOCKED_SCHEME, ErrorKind.TLS, ErrorKind.UNREACHABLE,
    }  # fmt: skip
    for name, expected in farm.expected.items():
        assert expected.kind in allowed, name
        assert (expected.scheme == "https") == name.startswith("tls_"), name
        assert expected.kind is not None or expected.status is not None, name
        assert expected.note, name
    assert farm.url("redirect_loop") == f"http://127.0.0.1:{farm.endpoints['redirect_loop'][1]}/a"
    assert farm.ca_file is not None


async def test_ipv6_loopback_urls_are_bracketed() -> None:
    try:
        farm = HostileFarm("::1")
        await farm.start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert farm.url("canary").startswith("http://[::1]:")
        async with connect(farm, "canary") as (reader, _):
            status, _, _ = await read_head(reader)
        assert status == "HTTP/1.1 200 OK"
        assert farm.expected["tls_ok"].cert is not None
        assert farm.expected["tls_ok"].cert.matches_host
    finally:
        await farm.aclose()


async def test_canary_counts_hits_and_requests(farm: HostileFarm) -> None:
    for _ in range(2):
        async with connect(farm, "canary") as (reader, _):
            status, headers, _ = await read_head(reader)
            body = await read_some(reader, int(headers["content-length"]))
        assert status == "HTTP/1.1 200 OK"
        assert title_of(body) == farm.expected["canary"].title == "Canary"
    assert farm.hits["canary"] == 2
    assert farm.requests["canary"] == ["/", "/"]


async def test_aclose_ends_slow_writers_without_leaks() -> None:
    before = asyncio.all_tasks()
    farm = HostileFarm(drip=DRIP)
    await farm.start()
    busy = ["slowloris", "endless_chunked", "answer_after_timeout", "tls_stall", "huge_body"]
    async with (
        connect(farm, busy[0]) as (slow, _),
        connect(farm, busy[1]) as (endless, _),
        connect(farm, busy[2]),
        connect(farm, busy[3], request=False),
        connect(farm, busy[4]) as (huge, _),
    ):
        await read_some(slow, 20)
        await read_some(endless, 1000)
        await read_some(huge, 1000)  # then stop reading: the server is blocked in drain()
        assert all(farm.hits[name] == 1 for name in busy)
        started = time.monotonic()
        await farm.aclose()
        assert time.monotonic() - started < 1.0
        assert asyncio.all_tasks() == before
        await read_to_eof(slow)  # the server side is gone
    host, port = farm.endpoints["canary"]
    with pytest.raises(OSError):
        await asyncio.open_connection(host, port)


# --- stalls ----------------------------------------------------------------------------------


async def test_slowloris_sends_status_then_one_header_byte_at_a_time(farm: HostileFarm) -> None:
    assert farm.expected["slowloris"].kind == ErrorKind.TIMEOUT
    async with connect(farm, "slowloris") as (reader, _):
        async with asyncio.timeout(STEP):
            assert await reader.readline() == b"HTTP/1.1 200 OK\r\n"
        pieces = [await read_some(reader, 1) for _ in range(5)]
    assert b"".join(pieces) == b"X-Slo"


async def test_slowloris_body_drips_after_complete_headers(farm: HostileFarm) -> None:
    async with connect(farm, "slowloris_body") as (reader, _):
        status, headers, _ = await read_head(reader)
        assert status == "HTTP/1.1 200 OK"
        assert headers["content-length"] == "1000000"
        assert await read_some(reader, 9) == b"<!DOCTYPE"


@pytest.mark.parametrize("name", ["accept_never_answer", "tls_stall"])
async def test_silent_endpoints_accept_and_never_answer(farm: HostileFarm, name: str) -> None:
    assert farm.expected[name].kind == ErrorKind.TIMEOUT
    assert farm.expected[name].waits
    async with connect(farm, name, request=False) as (reader, writer):
        # A ClientHello-like record on the TLS port, a request on the plain one.
        writer.write(b"\x16\x03\x01\x00\x05hello" if name == "tls_stall" else b"GET / HTTP/1.1\r\n")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await reader.read(1)
    assert farm.hits[name] == 1


async def test_tls_stall_never_completes_a_handshake(farm: HostileFarm) -> None:
    host, port = farm.endpoints["tls_stall"]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await asyncio.open_connection(host, port, ssl=_insecure())


@pytest.mark.slow
async def test_answer_after_timeout_answers_late(farm: HostileFarm) -> None:
    assert farm.expected["answer_after_timeout"].kind == ErrorKind.TIMEOUT
    started = time.monotonic()
    async with connect(farm, "answer_after_timeout") as (reader, _):
        status, _, _ = await read_head(reader)
    assert status == "HTTP/1.1 200 OK"
    assert time.monotonic() - started >= LATE


def test_default_late_delay_exceeds_default_total_timeout() -> None:
    from aioscout._config import Timeouts

    assert HostileFarm().late_delay > Timeouts().total


# --- broken connections and framing ----------------------------------------------------------


async def test_reset_at_once(farm: HostileFarm) -> None:
    assert farm.expected["reset_at_once"].kind == ErrorKind.RESET
    async with connect(farm, "reset_at_once", request=False) as (reader, _):
        with pytest.raises(ConnectionResetError):
            await read_to_eof(reader)


async def test_close_mid_headers(farm: HostileFarm) -> None:
    async with connect(farm, "close_mid_headers") as (reader, _):
        data = await read_to_eof(reader)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\n\r\n" not in data


async def test_invalid_status_line(farm: HostileFarm) -> None:
    async with connect(farm, "invalid_status_line") as (reader, _):
        async with asyncio.timeout(STEP):
            line = await reader.readline()
    assert line.startswith(b"HTTP/")
    assert not re.match(rb"HTTP/1\.[01] \d{3} ", line)


@pytest.mark.parametrize("name", ["binary_garbage", "ssh_banner"])
async def test_non_http_answers(farm: HostileFarm, name: str) -> None:
    assert farm.expected[name].kind == ErrorKind.PROTOCOL
    async with connect(farm, name) as (reader, _):
        first = await read_some(reader, 21)
    assert not first.startswith(b"HTTP/")
    if name == "ssh_banner":
        assert first == b"SSH-2.0-OpenSSH_9.6\r\n"


async def _first_chunk(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(STEP):
        size = int((await reader.readline()).strip(), 16)
        data = await reader.readexactly(size)
        assert await reader.readexactly(2) == b"\r\n"
    return data


async def test_bad_chunk_size_follows_a_valid_title_chunk(farm: HostileFarm) -> None:
    expected = farm.expected["bad_chunk_size"]
    assert (expected.kind, expected.partial) == (ErrorKind.PROTOCOL, True)
    async with connect(farm, "bad_chunk_size") as (reader, _):
        _, headers, _ = await read_head(reader)
        assert headers["transfer-encoding"] == "chunked"
        assert title_of(await _first_chunk(reader)) == expected.title == "Chunk"
        async with asyncio.timeout(STEP):
            bad = (await reader.readline()).strip()
    with pytest.raises(ValueError):
        int(bad, 16)


async def test_bad_chunk_first(farm: HostileFarm) -> None:
    async with connect(farm, "bad_chunk_first") as (reader, _):
        await read_head(reader)
        async with asyncio.timeout(STEP):
            assert (await reader.readline()).strip() == b"-5"


async def test_http10_without_length_ends_at_close(farm: HostileFarm) -> None:
    async with connect(farm, "http10_no_length") as (reader, _):
        status, headers, _ = await read_head(reader)
        body = await read_to_eof(reader)
    assert status == "HTTP/1.0 200 OK"
    assert "content-length" not in headers
    assert "transfer-encoding" not in headers
    assert title_of(body) == farm.expected["http10_no_length"].title


# --- endless and huge bodies -----------------------------------------------------------------


async def test_huge_body_announces_4gib_and_starts_with_title(farm: HostileFarm) -> None:
    async with connect(farm, "huge_body") as (reader, _):
        _, headers, _ = await read_head(reader)
        head = await read_some(reader, 1 << 20)
    assert int(headers["content-length"]) == 4 * 1024**3
    assert title_of(head) == farm.expected["huge_body"].title == "Huge"


async def test_endless_chunked_keeps_sending_valid_chunks(farm: HostileFarm) -> None:
    async with connect(farm, "endless_chunked") as (reader, _):
        _, headers, _ = await read_head(reader)
        assert headers["transfer-encoding"] == "chunked"
        assert title_of(await _first_chunk(reader)) == "Endless"
        total = sum([len(await _first_chunk(reader)) for _ in range(80)])
    assert total >= 1 << 20


async def test_title_50mb_is_unterminated_in_the_first_megabyte(farm: HostileFarm) -> None:
    expected = farm.expected["title_50mb"]
    async with connect(farm, "title_50mb") as (reader, _):
        _, headers, _ = await read_head(reader)
        head = await read_some(reader, 1 << 20)
    assert int(headers["content-length"]) > 50 * 1024**2
    assert b"<title>" in head
    assert b"</title>" not in head
    assert expected.title_prefix is not None
    assert head.split(b"<title>")[1].startswith(expected.title_prefix.encode())


async def test_thousands_of_headers(farm: HostileFarm) -> None:
    assert farm.expected["thousands_of_headers"].kind == ErrorKind.TOO_LARGE
    async with connect(farm, "thousands_of_headers") as (reader, _):
        _, _, count = await read_head(reader)
    assert count >= 5000


async def test_huge_header(farm: HostileFarm) -> None:
    assert farm.expected["huge_header"].kind == ErrorKind.TOO_LARGE
    async with connect(farm, "huge_header") as (reader, _):
        _, headers, _ = await read_head(reader)
    assert len(headers["x-huge"]) > 64 * 1024


# --- bombs -----------------------------------------------------------------------------------


def _inflater(encoding: str) -> Callable[[bytes, int], bytes]:
    if encoding == "br":
        brot = brotli.Decompressor()
        return lambda data, cap: brot.process(data, output_buffer_limit=cap)
    inflate = zlib.decompressobj(31 if encoding == "gzip" else 15)
    return lambda data, cap: inflate.decompress(data, cap)


@pytest.mark.parametrize(
    ("name", "encoding"),
    [("gzip_bomb", "gzip"), ("deflate_bomb", "deflate"), ("brotli_bomb", "br")],
)
async def test_bomb_has_title_first_and_a_huge_ratio(
    farm: HostileFarm, name: str, encoding: str
) -> None:
    async with connect(farm, name) as (reader, _):
        _, headers, _ = await read_head(reader)
        compressed = await read_some(reader, 2048)
    assert headers["content-encoding"] == encoding
    assert int(headers["content-length"]) < 12 * 1024**2
    decoded = _inflater(encoding)(compressed, 8 << 20)
    assert title_of(decoded[:200]) == farm.expected[name].title == "Bomb"
    assert len(decoded) >= 500 * len(compressed)


@pytest.mark.parametrize("build", [gzip_bomb, deflate_bomb, brotli_bomb])
def test_small_bombs_are_valid_streams_end_to_end(build: Callable[[int, int], Bomb]) -> None:
    bomb = build(4, 4096)
    decode = {"gzip": gzip.decompress, "deflate": zlib.decompress, "br": brotli.decompress}
    decoded = decode[bomb.encoding](bomb.to_bytes())
    assert len(decoded) == bomb.decoded_size
    assert decoded.endswith(bytes(4 * 4096))
    assert title_of(decoded) == "Bomb"


def test_default_bombs_decode_to_10gib_and_build_fast() -> None:
    started = time.monotonic()
    bombs = [gzip_bomb(), deflate_bomb(), brotli_bomb()]
    assert time.monotonic() - started < 1.0
    for bomb in bombs:
        assert bomb.decoded_size > 10 * 1024**3
        assert bomb.size < 11 * 1024**2


@pytest.mark.parametrize("count", [0, 1, 7, 4096, 100_003])
def test_crc32_of_appended_zeros(count: int) -> None:
    start = zlib.crc32(b"prefix")
    assert crc32_zeros(start, count) == zlib.crc32(bytes(count), start)


# --- redirects -------------------------------------------------------------------------------


async def _location(farm: HostileFarm, name: str, path: str) -> tuple[str, str]:
    host, port = farm.endpoints[name]
    async with asyncio.timeout(STEP):
        reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status, headers, _ = await read_head(reader)
    finally:
        writer.close()
        await writer.wait_closed()
    return status, headers.get("location", "")


async def test_redirect_loop_a_b_a(farm: HostileFarm) -> None:
    expected = farm.expected["redirect_loop"]
    assert (expected.kind, expected.path, expected.max_hits) == (ErrorKind.REDIRECT_LOOP, "/a", 2)
    assert await _location(farm, "redirect_loop", "/a") == ("HTTP/1.1 302 Found", "/b")
    _, back = await _location(farm, "redirect_loop", "/b")
    assert back == farm.url("redirect_loop")
    assert farm.requests["redirect_loop"] == ["/a", "/b"]


async def test_thirty_redirects_then_200(farm: HostileFarm) -> None:
    expected = farm.expected["thirty_redirects"]
    assert expected.kind == ErrorKind.TOO_MANY_REDIRECTS
    path, hops = expected.path, 0
    while True:
        status, location = await _location(farm, "thirty_redirects", path)
        if not status.startswith("HTTP/1.1 302"):
            break
        path, hops = location, hops + 1
        assert hops <= 30
    assert status == "HTTP/1.1 200 OK"
    assert hops == 30
    assert farm.hits["thirty_redirects"] == 31


@pytest.mark.parametrize(
    "name",
    ["redirect_file", "redirect_ftp", "redirect_gopher", "redirect_javascript", "redirect_data"],
)
async def test_redirects_to_forbidden_schemes(farm: HostileFarm, name: str) -> None:
    expected = farm.expected[name]
    assert expected.kind == ErrorKind.BLOCKED_SCHEME
    status, location = await _location(farm, name, "/")
    assert status == "HTTP/1.1 302 Found"
    assert location == expected.forbidden_url
    assert not location.startswith(("http:", "https:"))
    if name == "redirect_file":
        assert location == "file:///etc/passwd"
    assert farm.hits["canary"] == 0


# --- TLS -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tls_ok", "tls_expired", "tls_wrong_host", "tls_self_signed"])
async def test_tls_pages_serve_a_title_when_not_verified(farm: HostileFarm, name: str) -> None:
    async with connect(farm, name, tls=_insecure()) as (reader, _):
        _, headers, _ = await read_head(reader)
        body = await read_some(reader, int(headers["content-length"]))
    assert title_of(body) == farm.expected[name].title


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("tls_ok", None),
        ("tls_expired", "expired"),
        ("tls_wrong_host", "mismatch"),
        ("tls_self_signed", "self"),
    ],
)
async def test_tls_verification_fails_for_exactly_one_reason(
    farm: HostileFarm, name: str, reason: str | None
) -> None:
    expected = farm.expected[name]
    assert expected.cert is not None
    assert expected.cert.expired == (name == "tls_expired")
    assert expected.cert.self_signed == (name == "tls_self_signed")
    assert expected.cert.matches_host == (name != "tls_wrong_host")
    verified = ssl.create_default_context(cafile=farm.ca_file)
    if reason is None:
        assert expected.verify_kind is None
        async with connect(farm, name, tls=verified) as (reader, _):
            status, _, _ = await read_head(reader)
        assert status == "HTTP/1.1 200 OK"
        return
    assert expected.verify_kind == ErrorKind.TLS
    with pytest.raises(ssl.SSLCertVerificationError, match=reason):
        async with connect(farm, name, tls=verified):
            pass


async def test_http_on_tls_port(farm: HostileFarm) -> None:
    expected = farm.expected["http_on_tls_port"]
    async with connect(farm, "http_on_tls_port") as (reader, _):
        status, headers, _ = await read_head(reader)
        body = await read_some(reader, int(headers["content-length"]))
    assert status == "HTTP/1.1 400 Bad Request"
    assert title_of(body) == expected.title == "400 The plain HTTP request was sent to HTTPS port"
    verified = ssl.create_default_context(cafile=farm.ca_file)
    async with connect(farm, "http_on_tls_port", tls=verified) as (reader, _):
        status, headers, _ = await read_head(reader)
        body = await read_some(reader, int(headers["content-length"]))
    assert status == "HTTP/1.1 200 OK"
    assert title_of(body) == "TLS only"
    assert farm.requests["http_on_tls_port"] == ["/", "/"]

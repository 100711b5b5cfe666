"""The user's credentials reach only the origin the user named.

Two loopback echo servers (two origins: same address, other ports) record every
request head they receive. The user's ``Authorization``, ``Cookie``/``--cookie``
and custom ``-H`` secret headers must reach the named origin and never the
other one, whatever leads there: a redirect, a favicon link, the
``/favicon.ico`` fallback after a redirect, a download's redirect; on the fast
path and on the aiohttp path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from aioscout._config import FetchOptions, HttpOptions, Limits, Timeouts
from aioscout.probes.fetch import FetchProbe
from tests._support.http_servers import (
    HOST,
    open_probe,
    raw_server,
    read_request_head,
    target,
)

pytestmark = pytest.mark.slow

TIMEOUTS = Timeouts(connect=1.0, read=2.0, total=5.0)
BEARER = "Bearer s3cr3t-bearer-value"
API_KEY = "k3y-0f-the-api"
TOKEN = "t0ken-of-auth"
COOKIE = "c00kie-value"
SECRETS = (BEARER.split()[1], API_KEY, TOKEN, COOKIE)
HEADERS = (("Authorization", BEARER), ("X-Api-Key", API_KEY), ("X-Auth-Token", TOKEN))
ICON = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Echo:
    """One origin: the request heads it received."""

    port: int = 0
    heads: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    def leaked(self) -> list[str]:
        return [s for s in SECRETS for head in self.heads if s in head]

    def got(self, secret: str) -> bool:
        return any(secret in head for head in self.heads)


def _answer(target: str) -> bytes:
    parts = urlsplit(target)
    query = parse_qs(parts.query)
    if parts.path == "/redir":
        return (
            b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
            % query["to"][0].encode()
        )
    if parts.path == "/icon.png":
        kind, body = b"image/png", ICON
    elif parts.path == "/favicon.ico":
        kind, body = b"image/x-icon", ICON
    else:
        link = b""
        if "icon" in query:
            link = b'<link rel="icon" href="%s">' % query["icon"][0].encode()
        kind, body = b"text/html", b"<html><head><title>Echo</title>%s</head></html>" % link
    head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (kind, len(body))
    return head + body


@asynccontextmanager
async def echo() -> AsyncIterator[Echo]:
    seen = Echo()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = (await read_request_head(reader)).decode("latin-1")
            seen.heads.append(head)
            writer.write(_answer(head.split(" ", 2)[1]))
            await writer.drain()

    async with raw_server(handler) as port:
        seen.port = port
        yield seen


OPTIONS = {
    "fast": HttpOptions(headers=HEADERS),
    "aiohttp": HttpOptions(headers=(*HEADERS, ("Cookie", f"c={COOKIE}")), fast_path=False),
    "cookie": HttpOptions(headers=HEADERS, cookies=(("c", COOKIE),)),
}


async def _probe(options: HttpOptions, url: str) -> None:
    async with open_probe(options, timeouts=TIMEOUTS) as probe:
        record = await probe.probe(url, target(url))
    assert record.error is None, record.error


@pytest.mark.parametrize("path", sorted(OPTIONS))
async def test_a_cross_origin_redirect_carries_no_credential(path: str) -> None:
    async with echo() as named, echo() as other:
        await _probe(OPTIONS[path], f"{named.origin}/redir?to={other.origin}/landing")
    assert named.got(API_KEY) and named.got(BEARER.split()[1])
    assert other.heads and other.leaked() == []
    assert "User-Agent:" in other.heads[0]  # the prober's own defaults are still sent


@pytest.mark.parametrize("path", sorted(OPTIONS))
async def test_a_same_origin_redirect_keeps_them(path: str) -> None:
    async with echo() as named:
        await _probe(OPTIONS[path], f"{named.origin}/redir?to=/landing")
    assert len(named.heads) == 2
    assert all(API_KEY in head and TOKEN in head for head in named.heads)


@pytest.mark.parametrize("path", sorted(OPTIONS))
async def test_a_cross_origin_favicon_link_gets_no_credential(path: str) -> None:
    options = OPTIONS[path]
    async with echo() as named, echo() as other:
        opts = replace(options, favicon=True)
        await _probe(opts, f"{named.origin}/page?icon={other.origin}/icon.png")
    assert other.heads and other.leaked() == []
    assert named.got(API_KEY)


@pytest.mark.parametrize("path", sorted(OPTIONS))
async def test_the_favicon_fallback_after_a_redirect_gets_no_credential(path: str) -> None:
    options = OPTIONS[path]
    async with echo() as named, echo() as other:
        opts = replace(options, favicon=True)
        await _probe(opts, f"{named.origin}/redir?to={other.origin}/page")
    assert any("/favicon.ico" in head for head in other.heads)
    assert other.leaked() == []


async def test_keep_headers_cross_origin_sends_custom_headers_but_never_authorization() -> None:
    async with echo() as named, echo() as other:
        opts = HttpOptions(headers=HEADERS, keep_headers_cross_origin=True)
        await _probe(opts, f"{named.origin}/redir?to={other.origin}/landing")
    assert other.got(API_KEY) and other.got(TOKEN)
    assert not other.got(BEARER.split()[1])


async def test_a_download_redirected_to_another_origin_carries_no_credential(
    tmp_path: Path,
) -> None:
    async with echo() as named, echo() as other:
        probe = FetchProbe(
            FetchOptions(directory=str(tmp_path)),
            HttpOptions(headers=HEADERS, cookies=(("c", COOKIE),)),
            TIMEOUTS,
            Limits(),
            concurrency=2,
            per_host=2,
        )
        url = f"{named.origin}/redir?to={other.origin}/icon.png"
        async with probe:
            (tgt,) = probe.expand(url)
            record = await probe.probe(url, tgt)
    assert record.error is None and record.size == len(ICON)
    assert named.got(API_KEY) and named.got(COOKIE)
    assert other.heads and other.leaked() == []

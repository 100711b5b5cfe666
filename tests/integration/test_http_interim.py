"""Interim (1xx) responses are never final: a few are skipped, an endless stream is `protocol`.

Every client path is tried against a server that answers with an endless
stream of ``100 Continue``: the fast path, the aiohttp path with each option
that keeps a probe on it (parameters, cookies, POST), ``fetch``, and the
favicon fetch of a page whose icon never arrives. Each ends with a
``protocol`` error (or no favicon) and memory stays flat.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import TypeVar

import pytest

from aioscout._config import FetchOptions, HttpOptions, Limits, Timeouts
from aioscout._models import ErrorKind
from aioscout.lab.hostile import HostileFarm
from aioscout.probes._http_core import MAX_INFORMATIONAL
from aioscout.probes.fetch import FetchProbe
from tests._support.http_servers import (
    HOST,
    open_probe,
    raw_server,
    read_request_head,
    target,
)

pytestmark = pytest.mark.slow
T = TypeVar("T")

TIMEOUTS = Timeouts(connect=1.0, read=2.0, total=4.0)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
PAGE = b"<html><head><title>After the wait</title></head></html>"
GROWTH_CAP = 16 * 1024 * 1024  # bytes of Python allocations one probe may peak at

PATHS = {
    "fast": HttpOptions(),
    "aiohttp": HttpOptions(fast_path=False),
    "param": HttpOptions(params=(("q", "1"),)),
    "cookie": HttpOptions(cookies=(("session", "abc"),)),
    "post": HttpOptions(method="POST", data=b"x=1"),
}


@pytest.fixture
async def farm() -> AsyncIterator[HostileFarm]:
    async with HostileFarm(hold=30.0) as running:
        yield running


async def _measured(coro: Awaitable[T]) -> tuple[T, int]:
    tracemalloc.start()
    try:
        result = await coro
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_an_endless_continue_stream_is_protocol_and_memory_stays_flat(
    farm: HostileFarm, path: str
) -> None:
    assert farm.expected["endless_continue"].kind is ErrorKind.PROTOCOL
    url = farm.url("endless_continue")
    async with open_probe(PATHS[path], timeouts=TIMEOUTS) as probe:
        assert (probe._fast is not None) == (path == "fast")
        record, peak = await _measured(probe.probe(url, target(url)))
    assert record.error is not None, record
    assert record.error.kind is ErrorKind.PROTOCOL, record.error
    assert "informational" in record.error.detail
    assert record.status is None
    assert peak < GROWTH_CAP, f"{path}: peak {peak / 1e6:.1f} MB"


async def test_fetch_refuses_an_endless_continue_stream(farm: HostileFarm, tmp_path: Path) -> None:
    url = farm.url("endless_continue")
    probe = FetchProbe(
        FetchOptions(directory=str(tmp_path)),
        HttpOptions(),
        TIMEOUTS,
        Limits(),
        concurrency=4,
        per_host=2,
    )
    async with probe:
        (tgt,) = probe.expand(url)
        record, peak = await _measured(probe.probe(url, tgt))
    assert record.error is not None and record.error.kind is ErrorKind.PROTOCOL
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240
    assert peak < GROWTH_CAP


async def test_a_favicon_behind_an_endless_continue_stream_is_given_up(farm: HostileFarm) -> None:
    icon = farm.url("endless_continue")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        body = b'<html><head><link rel="icon" href="' + icon.encode() + b'">' + PAGE[6:]
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
        await writer.drain()

    async with (
        raw_server(handler) as port,
        open_probe(HttpOptions(favicon=True), timeouts=TIMEOUTS) as probe,
    ):
        url = f"http://{HOST}:{port}/"
        record, peak = await _measured(probe.probe(url, target(url)))
    assert record.error is None and record.status == 200
    assert record.title == "After the wait"
    assert record.favicon is None
    assert peak < GROWTH_CAP


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("interim", [1, MAX_INFORMATIONAL])
async def test_interim_responses_up_to_the_cap_are_skipped(path: str, interim: int) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(PAGE)}\r\n\r\n"
        writer.write(CONTINUE * (interim - 1) + early + head.encode() + PAGE)
        await writer.drain()
        await reader.read()

    async with raw_server(handler) as port, open_probe(PATHS[path], timeouts=TIMEOUTS) as probe:
        url = f"http://{HOST}:{port}/"
        record = await probe.probe(url, target(url))
    assert record.error is None, record.error
    assert (record.status, record.title) == (200, "After the wait")
    assert record.headers is None or "link" not in record.headers

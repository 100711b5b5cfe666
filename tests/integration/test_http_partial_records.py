"""Records are what arrived: each hostile endpoint's expected record, on both client paths.

The farm's ground truth (:attr:`HostileFarm.expected`) names the error kind and,
for a failure after a response, the status and title that arrived before it: a
redirect that is blocked or whose target refuses keeps the redirect's status and
title; a body the deadline ends keeps the title read so far; a header value with
control bytes is read as any other.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from aioscout._config import HttpOptions, Limits, Timeouts
from aioscout._models import ErrorKind, HttpResult
from aioscout.lab.hostile import Expected, HostileFarm
from aioscout.probes.http import HttpProbe
from tests._support.http_servers import (
    HOST,
    open_probe,
    raw_server,
    read_request_head,
    target,
)

pytestmark = pytest.mark.slow

TIMEOUTS = Timeouts(connect=1.0, read=1.0, total=2.0)
SECOND_ROUND = (
    "endless_continue",
    "short_body",
    "drip_after_title",
    "redirect_refused",
    "redirect_ipv6",
    "header_control_byte",
    "close_mid_body",
    "huge_status_line",
    "redirect_file",
    "redirect_ftp",
    "redirect_loop",
    "thirty_redirects",
)


def _problems(name: str, want: Expected, got: HttpResult) -> list[str]:
    kind = None if got.error is None else got.error.kind
    out = []
    if kind != want.kind:
        out.append(f"{name}: kind {kind} ({got.error}), want {want.kind}")
    if want.kind is None or want.partial:
        if want.status is not None and got.status != want.status:
            out.append(f"{name}: status {got.status}, want {want.status}")
        if want.title is not None and got.title != want.title:
            out.append(f"{name}: title {got.title!r}, want {want.title!r}")
    return out


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "aiohttp"])
async def test_second_round_endpoints_give_their_expected_records(fast_path: bool) -> None:
    async with HostileFarm(late_delay=3.0, drip=0.1, hold=10.0) as farm:
        options = HttpOptions(fast_path=fast_path)
        async with HttpProbe(options, TIMEOUTS, Limits(), concurrency=32, per_host=8) as probe:

            async def one(name: str) -> HttpResult:
                url = farm.url(name)
                (target,) = probe.expand(url)
                return await probe.probe(url, target)

            records = await asyncio.gather(*(one(name) for name in SECOND_ROUND))
        assert farm.expected["short_body"].kind is ErrorKind.TIMEOUT
        assert farm.hits["endless_continue"] == 1
    problems = [
        p
        for name, got in zip(SECOND_ROUND, records, strict=True)
        for p in _problems(name, farm.expected[name], got)
    ]
    assert problems == []


async def test_a_header_control_byte_is_read_and_kept_as_sent() -> None:
    async with HostileFarm(hold=10.0) as farm:
        url = farm.url("header_control_byte")
        got = []
        for fast_path in (True, False):
            options = HttpOptions(fast_path=fast_path, include_headers=True)
            async with HttpProbe(options, TIMEOUTS, Limits(), concurrency=2, per_host=2) as probe:
                (target,) = probe.expand(url)
                record = await probe.probe(url, target)
            record.time_ms = None
            got.append(record)
    fast, slow = got
    assert fast.error is None and fast.title == "Control"
    assert dataclasses.replace(fast, headers=None) == dataclasses.replace(slow, headers=None)
    assert fast.headers is not None and "x-odd" in fast.headers


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "aiohttp"])
async def test_an_icon_that_never_answers_leaves_the_page_record_intact(fast_path: bool) -> None:
    async with HostileFarm(hold=10.0) as farm:
        icon = farm.url("accept_never_answer")

        async def page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request_head(reader)
            body = f'<html><head><title>Page</title><link rel="icon" href="{icon}">'.encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"\r\n" + body)
            await writer.drain()
            await reader.read()

        options = HttpOptions(fast_path=fast_path, favicon=True, websocket=True)
        async with raw_server(page) as port, open_probe(options, timeouts=TIMEOUTS) as probe:
            url = f"http://{HOST}:{port}/"
            record = await probe.probe(url, target(url))
    assert (record.status, record.title, record.error) == (200, "Page", None)
    assert record.favicon is None

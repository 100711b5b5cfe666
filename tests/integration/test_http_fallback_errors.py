"""A bare host:port whose plain-HTTP answer is a protocol error reports that error.

The TLS fallback on the same port may never answer; when the probe's deadline
ends it, the record names the first attempt's protocol error (and the
fallback's timeout after it), not the timeout alone.
"""

from __future__ import annotations

import asyncio

import pytest

from aioscout._config import HttpOptions, Timeouts
from aioscout._models import ErrorKind
from tests._support.http_servers import HOST, open_probe, raw_server, target

pytestmark = pytest.mark.slow


async def _garbage_then_silent_tls(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    first = await reader.read(1)
    if first != b"\x16":  # plain HTTP: a reply that is not HTTP
        writer.write(b"\x00\x01 not http at all\r\n\r\n")
        await writer.drain()
    await reader.read()  # a ClientHello is never answered


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "aiohttp"])
async def test_the_plain_http_protocol_error_beats_the_tls_fallbacks_timeout(
    fast_path: bool,
) -> None:
    timeouts = Timeouts(connect=3.0, read=3.0, total=1.0)
    async with (
        raw_server(_garbage_then_silent_tls) as port,
        open_probe(HttpOptions(fast_path=fast_path), timeouts=timeouts) as probe,
    ):
        line = f"{HOST}:{port}"
        record = await probe.probe(line, target(line))
    assert record.error is not None
    assert record.error.kind is ErrorKind.PROTOCOL, record.error
    assert "then https: no result within 1s" in record.error.detail
    assert record.scheme == "http" and record.status is None

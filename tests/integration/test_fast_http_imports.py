"""A run that stays on the fast path never imports aiohttp (its import costs ~0.2 s of CPU)."""

from __future__ import annotations

import subprocess
import sys

import pytest

_SCRIPT = r"""
import asyncio, sys
from aioscout._config import HttpOptions, Limits, Timeouts
from aioscout.probes.http import HttpProbe

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 29\r\n\r\n"
PAGE = HEAD + b"<title>fast</title>\n<p>x</p>\n"

async def serve(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    writer.write(PAGE)
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, HttpProbe(
        HttpOptions(), Timeouts(total=5), Limits(), concurrency=4, per_host=2
    ) as probe:
        line = f"http://127.0.0.1:{port}/"
        record = await probe.probe(line, next(iter(probe.expand(line))))
    print(record.status, record.title, "aiohttp" in sys.modules)

asyncio.run(main())
"""


@pytest.mark.slow
def test_the_fast_path_does_not_import_aiohttp() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["200", "fast", "False"], out.stderr

"""Peak memory of ``FetchProbe`` downloading a large body (default 2 GiB) on loopback.

Usage::

    .venv/bin/python bench/fetch_rss.py [--size-mb 2048] [--loop auto|uvloop|asyncio] [--dir D]

A server process generates the body lazily (1 MiB blocks, each stamped with
its index, written one at a time; nothing is stored) on 127.0.0.1, port 0,
and computes the expected sha256 from the same generator before it serves.
This process measures its own RSS after start-up (the baseline), downloads
the body with ``FetchProbe`` and prints the peak RSS (``ru_maxrss``), the
time, the throughput and whether the sha256 and the size match. The
downloaded file is removed afterwards unless ``--keep`` is given.
Bounded: the download is cut after ``--max-seconds``.

Measured (2 GiB, loopback, one run each): peak RSS 47.1 MiB with uvloop
(baseline 42.2 MiB after start-up, 10.6 s) and 45.3 MiB with asyncio
(baseline 42.1 MiB, 7.9 s); size and sha256 correct in both.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

from aiohttp import web

from aioscout._config import FetchOptions, HttpOptions, Limits, Timeouts
from aioscout._loop import run_loop
from aioscout.probes.fetch import FetchProbe

BLOCK = 1024 * 1024


def blocks(count: int) -> Iterator[bytes]:
    """The body: ``count`` blocks of 1 MiB, each different (index-stamped)."""
    base = hashlib.sha256(b"aioscout bench").digest() * (BLOCK // 32)
    for i in range(count):
        yield i.to_bytes(8, "big") + base[8:]


def serve(count: int, conn: Connection) -> None:
    """Server process: compute the expected hash, then serve the body until told to stop."""
    expected = hashlib.sha256()
    for block in blocks(count):
        expected.update(block)

    async def body(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_type = "application/octet-stream"
        resp.content_length = count * BLOCK
        await resp.prepare(request)
        for block in blocks(count):
            await resp.write(block)
        await resp.write_eof()
        return resp

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/big.bin", body)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send((runner.addresses[0][1], expected.hexdigest()))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # any message: stop
        await runner.cleanup()

    asyncio.run(main())


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident set size now, from /proc (falls back to the peak)."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return rss_mb()
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


async def download(url: str, directory: str, max_seconds: float) -> tuple[object, float]:
    probe = FetchProbe(
        FetchOptions(directory=directory),
        HttpOptions(),
        Timeouts(connect=5.0, read=10.0, total=10.0),
        Limits(),
        concurrency=4,
        per_host=2,
    )
    async with probe:
        (target,) = probe.expand(url)
        started = time.perf_counter()
        async with asyncio.timeout(max_seconds):
            record = await probe.probe(url, target)
        return record, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--loop", default="auto", choices=["auto", "uvloop", "asyncio"])
    parser.add_argument("--dir", default=None, help="download directory (default: a temp dir)")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(args.size_mb, child), daemon=True)
    server.start()
    try:
        if not parent.poll(120):
            print("server did not start", file=sys.stderr)
            return 2
        port, expected = parent.recv()
        directory = args.dir or tempfile.mkdtemp(prefix="aioscout-fetch-")
        baseline = current_rss_mb()
        url = f"http://127.0.0.1:{port}/big.bin"
        record, seconds = run_loop(download(url, directory, args.max_seconds), args.loop)
        peak = rss_mb()
    finally:
        parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.terminate()

    size = getattr(record, "size", None)
    sha = getattr(record, "sha256", None)
    error = getattr(record, "error", None)
    path = getattr(record, "path", None)
    mib = (size or 0) / (1024 * 1024)
    print(f"body:        {args.size_mb} MiB generated lazily by a server process")
    print(f"loop:        {args.loop}")
    print(f"error:       {error}")
    print(f"size ok:     {size == args.size_mb * BLOCK} ({size} bytes)")
    print(f"sha256 ok:   {sha == expected}")
    print(f"time:        {seconds:.1f} s ({mib / seconds:.0f} MiB/s)")
    print(f"RSS before:  {baseline:.1f} MiB (after start-up)")
    print(f"peak RSS:    {peak:.1f} MiB (ru_maxrss, whole process)")
    if path and not args.keep:
        os.unlink(str(path))
        if args.dir is None:
            os.rmdir(directory)
    return 0 if error is None and sha == expected else 1


if __name__ == "__main__":
    sys.exit(main())

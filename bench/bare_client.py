"""The floor: the least a Python client does to fetch a page and its title.

Not a prober and not a baseline to beat, but a yardstick for the machine: one
uvloop process per core (forked: one interpreter start-up), each with its share
of the concurrency, a bare ``asyncio.Protocol`` per connection, connections
kept per host and reused, no DNS (every host is reached at ``--connect``, the
``Host`` header names it), no redirects, no per-request timeout, no record
beyond status and title, and the output written once at the end. What this
takes over the ideal under latency is what the machine itself (its CPU, the
server, the start-up of an interpreter) costs any Python client; a real prober
cannot do better.

Only ``http://host[:port]/path`` URLs are fetched; any other line is recorded
as an error. The body is not de-chunked: the title is taken from the bytes as
they came (the lab's pages carry it whole in one chunk).

One JSON line per URL: ``{"url", "status", "title", "error"}``.

Usage::

    python bench/bare_client.py -l urls.txt -o out.jsonl [-c 1000] [-w 2] [--connect 127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import traceback
import zlib
from pathlib import Path

import uvloop

TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.IGNORECASE)
CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


class Conn(asyncio.Protocol):
    """One connection: collects a response into ``buf`` and resolves ``done``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.done: asyncio.Future[bytes] | None = None
        self.head_end = -1
        self.length: int | None = None
        self.chunked = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def expect(self, done: asyncio.Future[bytes]) -> None:
        self.buf.clear()
        self.done, self.head_end, self.length, self.chunked = done, -1, None, False

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.head_end < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head_end = end + 4
            head = bytes(buf[: self.head_end])
            m = LENGTH.search(head)
            self.length = int(m.group(1)) if m else None
            self.chunked = CHUNKED.search(head) is not None
        if self.length is not None:
            complete = len(buf) - self.head_end >= self.length
        elif self.chunked:
            complete = buf.endswith(b"0\r\n\r\n")
        else:
            return  # the body ends with the connection
        if complete and self.done is not None and not self.done.done():
            self.done.set_result(bytes(buf))

    def connection_lost(self, exc: Exception | None) -> None:
        done = self.done
        if done is not None and not done.done():
            if self.head_end >= 0 and self.length is None and not self.chunked:
                done.set_result(bytes(self.buf))
            else:
                done.set_exception(ConnectionError("connection closed"))


async def fetch(
    url: str, sem: asyncio.Semaphore, pool: dict[str, list[Conn]], connect: str
) -> dict[str, object]:
    """GET ``url`` on a kept connection to its host (or a new one)."""
    async with sem:
        loop = asyncio.get_running_loop()
        if not url.startswith("http://"):
            return {"url": url, "status": None, "title": None, "error": "unsupported"}
        authority, _, path = url[7:].partition("/")
        port = authority.partition(":")[2]
        idle = pool.setdefault(authority, [])
        conn: Conn | None = None
        try:
            while idle and conn is None:
                conn = idle.pop()
                if conn.transport is None or conn.transport.is_closing():
                    conn = None  # the server closed it while idle
            if conn is None:
                _, conn = await loop.create_connection(Conn, connect, int(port or 80))
            done: asyncio.Future[bytes] = loop.create_future()
            conn.expect(done)
            assert conn.transport is not None
            conn.transport.write(
                f"GET /{path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: bare\r\n\r\n".encode()
            )
            raw = await done
            head = raw[: conn.head_end]
            status = int(head[9:12])
        except (OSError, ValueError) as exc:
            if conn is not None and conn.transport is not None:
                conn.transport.close()
            return {"url": url, "status": None, "title": None, "error": type(exc).__name__}
        delimited = conn.length is not None or conn.chunked  # else it ended with the connection
        if delimited and not CLOSE.search(head) and not head.startswith(b"HTTP/1.0"):
            idle.append(conn)
        elif conn.transport is not None:
            conn.transport.close()
        m = TITLE.search(raw, conn.head_end)
        title = m.group(1).decode("utf-8", "replace").strip() if m else None
        return {"url": url, "status": status, "title": title, "error": None}


async def run_part(urls: list[str], out: str, concurrency: int, connect: str) -> None:
    sem = asyncio.Semaphore(concurrency)
    pool: dict[str, list[Conn]] = {}
    records = await asyncio.gather(*(fetch(u, sem, pool, connect) for u in urls))
    for conns in pool.values():
        for conn in conns:
            if conn.transport is not None:
                conn.transport.close()
    with open(out, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def host_key(url: str) -> str:
    return url.partition("://")[2].partition("/")[0]


def main(argv: list[str] | None = None) -> int:
    """Parse the options; fork a process per share of the hosts; join their output."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-l", "--list", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("-c", "--concurrency", type=int, default=1000)
    ap.add_argument("-w", "--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--connect", default="127.0.0.1", help="the address every host is at")
    args = ap.parse_args(argv)
    if not args.connect.startswith("127.") and args.connect != "::1":
        ap.error("--connect must be a loopback address")
    n = max(1, args.workers)
    with open(args.list, encoding="utf-8") as f:
        urls = [ln.strip() for ln in f if ln.strip()]
    shares: list[list[str]] = [[] for _ in range(n)]
    for u in urls:  # by host, so that a host's connections stay in one process
        shares[zlib.crc32(host_key(u).encode()) % n].append(u)
    parts = [f"{args.output}.part{i}" for i in range(n)]
    pids = []
    for share, out in zip(shares, parts, strict=True):
        pid = os.fork()  # a copy of this interpreter: no second start-up
        if pid == 0:
            code = 0
            try:
                uvloop.run(run_part(share, out, max(1, args.concurrency // n), args.connect))
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        pids.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    with open(args.output, "wb") as f:
        for out in parts:
            part = Path(out)
            if part.exists():  # a part that failed has said why on stderr
                f.write(part.read_bytes())
                part.unlink()
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())

"""Redis sink and source against real redis-server processes on loopback.

Each test starts its own throwaway server on a free 127.0.0.1 port (no
persistence unless the test needs the data to survive a restart).
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis_asyncio

from aioscout._exceptions import SinkError
from aioscout._models import ErrorInfo, ErrorKind, HttpResult
from aioscout.sinks import RetryPolicy, open_sink
from aioscout.sinks.redis import RedisSink, RedisSource

REDIS_SERVER = shutil.which("redis-server")

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        REDIS_SERVER is None, reason="redis-server not installed (run scripts/services.sh)"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server subprocess that can be killed and started again on the same port."""

    def __init__(self, workdir: Path, *extra: str, persistent: bool = False) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.extra = extra
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None
        self._drain: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else []
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            *aof,
            "--dir", str(self.workdir),
            "--logfile", "",
            *self.extra,
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._wait_ready(self.proc, timeout=10.0)

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        assert proc.stdout is not None
        log = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"Ready to accept connections" not in log:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.kill()
                    raise RuntimeError(f"redis-server did not start: {log.decode()[-500:]}")
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    raise RuntimeError(f"redis-server exited: {log.decode()[-500:]}")
                log += chunk
        stdout = proc.stdout

        def drain() -> None:  # keep reading so the server never blocks on its log
            while os.read(stdout.fileno(), 65536):
                pass

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            if self._drain is not None:
                self._drain.join(timeout=10)
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            self.proc = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture
def persistent_server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path, persistent=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture
async def client(server: RedisServer) -> AsyncIterator[redis_asyncio.Redis]:
    c = redis_asyncio.Redis.from_url(server.url, socket_timeout=5)
    try:
        yield c
    finally:
        await c.aclose()


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


def batch(start: int, n: int) -> list[HttpResult]:
    return [HttpResult(input=f"h{i}", status=200) for i in range(start, start + n)]


async def lrange_inputs(url: str, key: str) -> list[str]:
    c = redis_asyncio.Redis.from_url(url, socket_timeout=5)
    try:
        return [json.loads(v)["input"] for v in await c.lrange(key, 0, -1)]
    finally:
        await c.aclose()


async def test_list_mode_appends_batches_in_order(server: RedisServer) -> None:
    async with RedisSink(server.url, "scan") as sink:
        await sink.write(batch(0, 3))
        await sink.write(batch(3, 2500))  # several script chunks in one pipeline
        await sink.write([HttpResult(input="bad", error=ErrorInfo(ErrorKind.REFUSED, "no"))])
        await sink.flush()
    got = await lrange_inputs(server.url, "scan")
    assert got == [f"h{i}" for i in range(2503)] + ["bad"]


async def test_stream_mode_via_open_sink(server: RedisServer, client: redis_asyncio.Redis) -> None:
    sink = open_sink(f"{server.url}?key=events&mode=stream")
    assert isinstance(sink, RedisSink)
    await sink.write(batch(0, 5))
    await sink.aclose()
    entries = await client.xrange("events")
    assert entries is not None
    assert [json.loads(fields[b"record"])["input"] for _, fields in entries if fields] == [
        f"h{i}" for i in range(5)
    ]
    assert await client.exists("events:aioscout:batches") == 0  # removed on close


async def test_a_resent_chunk_lands_once(server: RedisServer) -> None:
    """The ambiguous case: the batch reached the server but the reply was lost."""
    async with RedisSink(server.url, "dedup") as sink:
        chunk = [(1, [b'{"input":"a"}', b'{"input":"b"}'])]
        await sink._send(chunk)
        await sink._send(chunk)  # what a retry after a lost reply does
        await sink._send([(2, [b'{"input":"c"}'])])
        assert await lrange_inputs(server.url, "dedup") == ["a", "b", "c"]


async def test_server_restart_mid_run_batch_lands_exactly_once(
    persistent_server: RedisServer,
) -> None:
    srv = persistent_server
    paused = asyncio.Event()
    messages: list[str] = []

    def on_retry(attempt: int, message: str, delay: float) -> None:
        messages.append(message)
        paused.set()

    policy = RetryPolicy(deadline=30.0, first_delay=0.01, max_delay=0.05, on_retry=on_retry)
    async with RedisSink(srv.url, "results", retry=policy, timeout=5.0) as sink:
        await sink.write(batch(0, 100))
        srv.kill()
        async with asyncio.TaskGroup() as tg:
            pending = tg.create_task(sink.write(batch(100, 100)))
            async with asyncio.timeout(10):
                await paused.wait()
            assert not pending.done()  # not acknowledged while the server is gone
            await asyncio.to_thread(srv.start)  # same port, same append-only file
        await sink.write(batch(200, 100))
    assert messages and messages[0].startswith(f"cannot write results to Redis {srv.url}")
    assert await lrange_inputs(srv.url, "results") == [f"h{i}" for i in range(300)]


async def test_server_gone_for_good_raises_after_the_deadline(tmp_path: Path) -> None:
    srv = RedisServer(tmp_path, "--requirepass", "s3cret")
    srv.start()
    url = f"redis://:s3cret@127.0.0.1:{srv.port}/0"
    clock = FakeClock()
    sink = RedisSink(url, "k", retry=RetryPolicy(deadline=3.0, first_delay=0.1, clock=clock))
    try:
        await sink.write(batch(0, 1))
    finally:
        srv.kill()
    with pytest.raises(SinkError) as info:
        await sink.write(batch(1, 1))
    message = str(info.value)
    assert message.startswith(f"cannot write results to Redis redis://***@127.0.0.1:{srv.port}/0")
    assert "gave up after" in message
    assert "s3cret" not in message
    assert clock.t >= 3.0
    await sink.aclose()


async def test_wrong_password_fails_at_once_without_leaking_it(tmp_path: Path) -> None:
    srv = RedisServer(tmp_path, "--requirepass", "right")
    srv.start()
    clock = FakeClock()
    try:
        url = f"redis://:wr0ng@127.0.0.1:{srv.port}/0"
        async with RedisSink(url, "k", retry=RetryPolicy(clock=clock)) as sink:
            with pytest.raises(SinkError) as info:
                await sink.write(batch(0, 1))
    finally:
        srv.kill()
    assert "invalid username-password pair" in str(info.value)
    assert "wr0ng" not in str(info.value)
    assert clock.t == 0  # not retried


async def test_source_reads_all_lines_then_stops_when_idle(
    server: RedisServer, client: redis_asyncio.Redis
) -> None:
    lines = [f"10.0.0.{i % 250}:{i}" for i in range(1200)]
    await client.rpush("targets", *lines, "caf\xe9".encode("latin-1"), b"crlf\r\n")
    async with RedisSource(server.url, "targets", idle_timeout=0, batch=500) as source:
        got = [line async for line in source]
    assert got == [*lines, "caf\ufffd", "crlf"]
    assert await client.llen("targets") == 0


async def test_source_waits_for_lines_pushed_while_it_runs(
    server: RedisServer, client: redis_asyncio.Redis
) -> None:
    await client.rpush("q", "first")
    got: list[str] = []
    async with RedisSource(server.url, "q", idle_timeout=0.1) as source:
        async for line in source:
            got.append(line)
            if line == "first":
                await client.rpush("q", "second")  # arrives while the source may block
    assert got == ["first", "second"]

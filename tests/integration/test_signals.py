"""Ctrl-C through the command line: once finishes what is in flight, twice stops at once.

A loopback server holds its connections open until the test releases it, so
"in flight" is a fact the test controls, not a matter of timing.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ._cli import (
    assert_one_record_per_line,
    file_size,
    finish,
    records,
    refused_targets,
    run_cli,
    spawn_cli,
    wait_for_growth,
)

pytestmark = pytest.mark.slow

_STALLED = 8  # the default per-host cap: all of them in flight at once


class HeldServer:
    """Accepts HTTP requests and answers 200 only once :attr:`release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.connected = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(30):
                await reader.readuntil(b"\r\n\r\n")
                self.connected += 1
                await self.release.wait()
                body = b"<title>Held</title>"
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
                head += "Connection: close\r\n\r\n"
                writer.write(head.encode() + body)
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> HeldServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self.release.set()
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def held() -> AsyncIterator[HeldServer]:
    async with HeldServer() as server:
        yield server


async def _start(held: HeldServer, tmp_path: Path) -> tuple[asyncio.subprocess.Process, list[str]]:
    stalled = [f"http://127.0.0.1:{held.port}/held/{i}" for i in range(_STALLED)]
    lines = stalled + refused_targets(1500)
    inp, out = tmp_path / "targets.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    proc = await spawn_cli(*_args(tmp_path))
    assert await wait_for_growth(out, 0, proc)
    async with asyncio.timeout(20):
        while held.connected < _STALLED:
            await asyncio.sleep(0.01)
    return proc, lines


def _args(tmp_path: Path) -> tuple[str, ...]:
    inp, out = tmp_path / "targets.txt", tmp_path / "out.jsonl"
    return ("http", "-l", str(inp), "-o", str(out), "--timeout", "20", "--no-progress", "-c", "64")


async def _stderr_line(proc: asyncio.subprocess.Process, needle: str) -> str:
    assert proc.stderr is not None
    async with asyncio.timeout(10):
        while True:
            line = (await proc.stderr.readline()).decode()
            assert line, f"stderr closed before {needle!r}"
            if needle in line:
                return line


async def test_first_ctrl_c_finishes_what_is_in_flight(held: HeldServer, tmp_path: Path) -> None:
    proc, lines = await _start(held, tmp_path)
    proc.send_signal(signal.SIGINT)
    await _stderr_line(proc, "finishing targets in flight")
    assert proc.returncode is None  # still waiting on the held connections
    held.release.set()
    result = await finish(proc, timeout=15)
    assert result.returncode == 130, result.stderr
    assert "done" in result.stderr  # the summary
    recs = records(tmp_path / "out.jsonl")
    inputs = [r["input"] for r in recs]
    assert len(inputs) == len(set(inputs))
    held_recs = [r for r in recs if "/held/" in str(r["input"])]
    assert len(held_recs) == _STALLED, "in-flight targets must finish after the first Ctrl-C"
    assert all(r["status"] == 200 and r["title"] == "Held" for r in held_recs)
    result = await run_cli(*_args(tmp_path), "--resume")
    assert result.returncode == 0, result.stderr
    assert_one_record_per_line(tmp_path / "out.jsonl", lines)


async def test_second_ctrl_c_stops_at_once(held: HeldServer, tmp_path: Path) -> None:
    proc, lines = await _start(held, tmp_path)
    proc.send_signal(signal.SIGINT)
    await _stderr_line(proc, "finishing targets in flight")
    loop = asyncio.get_running_loop()
    sent = loop.time()
    proc.send_signal(signal.SIGINT)
    result = await finish(proc, timeout=15)
    elapsed = loop.time() - sent
    assert elapsed < 5, f"the second Ctrl-C took {elapsed:.1f}s"
    assert result.returncode == 130, result.stderr
    out = tmp_path / "out.jsonl"
    recs = records(out)  # valid JSON Lines, no torn line
    inputs = [r["input"] for r in recs]
    assert recs and len(inputs) == len(set(inputs))
    assert not [i for i in inputs if "/held/" in str(i)], "cancelled targets have no record"
    size = file_size(out)
    held.release.set()
    result = await run_cli(*_args(tmp_path), "--resume")
    assert result.returncode == 0, result.stderr
    assert file_size(out) > size
    assert_one_record_per_line(out, lines)


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_first_ctrl_c_starts_nothing_waiting_for_a_per_host_slot(
    held: HeldServer, tmp_path: Path, workers: str
) -> None:
    """One slow host, many URLs, --per-host 2: after the first Ctrl-C only the two
    requests on the wire finish; the targets admitted under -c but still waiting
    for the host's slot never start, and a resumed run does them. With worker
    processes too: the worker hears the stop at once and drops what waits."""
    lines = [f"http://127.0.0.1:{held.port}/slow/{i}" for i in range(60)]
    inp, out = tmp_path / "targets.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    args: tuple[str, ...] = ("http", "-l", str(inp), "-o", str(out), "--timeout", "20")
    args += ("--no-progress", "-c", "50", "--per-host", "2", "--workers", workers)
    proc = await spawn_cli(*args)
    async with asyncio.timeout(20):
        while held.connected < 2:
            await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    await _stderr_line(proc, "finishing targets in flight")
    held.release.set()  # the two on the wire finish; their slots free up
    result = await finish(proc, timeout=15)
    assert result.returncode == 130, result.stderr
    assert held.connected == 2, "a target waiting for its host's slot started after Ctrl-C"
    recs = records(out)
    assert len(recs) == 2 and all(r["status"] == 200 for r in recs)
    result = await run_cli(*args, "--resume")
    assert result.returncode == 0, result.stderr
    assert_one_record_per_line(out, lines)
    assert held.connected == len(lines)

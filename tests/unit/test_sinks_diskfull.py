"""Sinks on a real full disk (a tiny tmpfs), past a file-size limit, and on a closed stdout."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioscout._exceptions import SinkError
from aioscout._models import HttpResult
from aioscout.sinks import JsonlSink, RetryPolicy, SqliteSink, encode_batch

SRC = str(Path(__file__).resolve().parents[2] / "src")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def records(n: int, start: int = 0, pad: int = 100) -> list[HttpResult]:
    return [
        HttpResult(input=f"host{i}.test", status=200, title="x" * pad)
        for i in range(start, start + n)
    ]


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: writes past it fail with ENOSPC, for real."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0777", "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except FileNotFoundError:
        pytest.skip("no mount command; the RLIMIT_FSIZE test covers failed writes")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10, check=False)


def fill(mnt: Path, free: int) -> Path:
    """Leave about ``free`` bytes on the file system."""
    st = os.statvfs(mnt)
    filler = mnt / "filler"
    filler.write_bytes(b"\0" * (st.f_bavail * st.f_frsize - free))
    return filler


def lines_of(path: Path) -> list[dict[str, object]]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "torn last line"
    return [json.loads(line) for line in data.splitlines()]


async def test_disk_full_gives_up_with_no_partial_batch(tiny_fs: Path) -> None:
    fill(tiny_fs, 16 * 1024)
    out = tiny_fs / "out.jsonl"
    sink = JsonlSink(out, retry=RetryPolicy(deadline=5.0, clock=FakeClock()))
    await sink.write(records(10))
    good = sink.position()
    big = records(300)
    assert len(encode_batch(big)) > 16 * 1024
    with pytest.raises(
        SinkError, match=re.escape(f"cannot write results to {out}: No space left on device")
    ):
        await sink.write(big)
    assert sink.position() == good == out.stat().st_size
    assert [r["input"] for r in lines_of(out)] == [f"host{i}.test" for i in range(10)]
    await sink.aclose()


async def test_disk_full_pauses_then_resumes_when_space_is_freed(tiny_fs: Path) -> None:
    filler = fill(tiny_fs, 16 * 1024)
    out = tiny_fs / "out.jsonl"
    pauses: list[str] = []

    def on_retry(attempt: int, message: str, delay: float) -> None:
        pauses.append(message)
        filler.unlink(missing_ok=True)  # the operator frees space while the run waits

    sink = JsonlSink(out, retry=RetryPolicy(clock=FakeClock(), on_retry=on_retry))
    await sink.write(records(10))
    await sink.write(records(60, start=10))  # about 30 KiB: fits once the filler is gone
    await sink.flush()
    assert pauses == [f"cannot write results to {out}: No space left on device"]
    assert sink.position() == out.stat().st_size
    assert [r["input"] for r in lines_of(out)] == [f"host{i}.test" for i in range(70)]
    await sink.aclose()


async def test_sqlite_disk_full_rolls_back_the_batch(tiny_fs: Path) -> None:
    db = tiny_fs / "r.db"
    sink = SqliteSink(db, retry=RetryPolicy(deadline=2.0, clock=FakeClock()))
    await sink.write(records(5))
    fill(tiny_fs, 0)
    with pytest.raises(SinkError, match=r"cannot write results to SQLite .*full"):
        await sink.write(records(500, start=5, pad=200))
    assert await sink.count() == 5
    (tiny_fs / "filler").unlink()
    await sink.write(records(2, start=5))
    await sink.aclose()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        got = [r[0] for r in conn.execute("SELECT input FROM http ORDER BY item")]
    finally:
        conn.close()
    assert got == [f"host{i}.test" for i in range(7)]


def run_child(code: str, **kw: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", code], env=env, **kw
    )


FSIZE_CHILD = """
import asyncio, json, resource, signal, sys
from aioscout import _exceptions
from aioscout._models import HttpResult
from aioscout.sinks import JsonlSink, RetryPolicy

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))

async def main():
    sink = JsonlSink(sys.argv[1], retry=RetryPolicy(deadline=0.05, first_delay=0.01))
    try:
        for b in range(100):
            await sink.write([HttpResult(input=f"h{b}-{i}", title="x" * 50) for i in range(37)])
    except _exceptions.SinkError as exc:
        print(json.dumps({"error": str(exc), "position": sink.position()}))
    await sink.aclose()

asyncio.run(main())
"""


def test_file_size_limit_fails_cleanly_on_a_whole_batch(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    child = run_child(FSIZE_CHILD.replace("sys.argv[1]", repr(str(out))), stdout=subprocess.PIPE)
    stdout, _ = child.communicate(timeout=30)
    assert child.returncode == 0
    report = json.loads(stdout)
    assert "File too large" in report["error"]
    assert report["position"] == out.stat().st_size > 0
    rows = lines_of(out)
    assert len(rows) % 37 == 0  # whole batches only
    assert rows[-1]["input"] == f"h{len(rows) // 37 - 1}-36"


STDOUT_CHILD = """
import asyncio, sys
from aioscout import _exceptions
from aioscout._models import HttpResult
from aioscout.sinks import JsonlSink, RetryPolicy

async def main():
    sink = JsonlSink(None, retry=RetryPolicy(deadline=0.05))
    try:
        for b in range(10000):
            await sink.write([HttpResult(input=f"h{b}-{i}") for i in range(50)])
    except _exceptions.SinkError as exc:
        sys.stderr.write(f"stopped: {exc}\\n")
        sys.exit(3)
    finally:
        await sink.aclose()

asyncio.run(main())
"""


def test_closed_stdout_stops_with_output_closed() -> None:
    child = run_child(STDOUT_CHILD, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    first = child.stdout.readline()
    assert json.loads(first)["input"] == "h0-0"
    child.stdout.close()  # like `aioscout ... | head -1`
    try:
        assert child.wait(timeout=30) == 3
    finally:
        child.kill()
    assert child.stderr.read().decode() == "stopped: cannot write results: output closed\n"
    child.stderr.close()

"""Worker processes: pre-forked copies are handed out first, and a short run settles.

The pre-fork cases run in a fresh interpreter (``python -c``): a copy can only be
made while the process has a single thread and no event loop, as a command has
before its loop starts, and pytest's own process offers neither guarantee.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from aioscout import JsonlSink, ScanConfig
from aioscout._config import HttpOptions, Limits
from aioscout.engine import run_scan, workers
from aioscout.probes.factories import make_http_probe


def _python(code: str, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:  # where a new interpreter finds the worker's function
        env["PYTHONPATH"] = f"{path}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_pre_forked_workers_are_handed_out_first_then_new_ones_start(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text(
        textwrap.dedent(
            """
            import os

            def work(sock, tag):
                sock.sendall(f"{tag} {os.getpid()} {os.getppid()}\\n".encode())
                sock.close()
            """
        )
    )
    done = _python(
        """
        import os
        from aioscout.engine._spawn import Forked, prefork, spawn
        from helper import work

        assert prefork(2) == 2
        for tag in ("a", "b", "c"):
            proc, sock = spawn(work, tag, name="worker-" + tag)
            forked = isinstance(proc, Forked)
            got, pid, ppid = sock.makefile().readline().split()
            assert (got, int(pid), int(ppid)) == (tag, proc.pid, os.getpid()), got
            assert proc.wait(timeout=30) == 0 and proc.poll() == 0
            print(tag, "forked" if forked else "started")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["a forked", "b forked", "c started"]


def test_unused_pre_forked_workers_exit_with_the_process() -> None:
    done = _python(
        """
        import os
        from aioscout.engine import _spawn

        assert _spawn.prefork(3) == 3
        print(" ".join(str(proc.pid) for proc, _ in _spawn._ready))
        """
    )
    assert done.returncode == 0, done.stderr
    for pid in map(int, done.stdout.split()):
        with pytest.raises(ProcessLookupError):  # exited and reaped, not left behind
            os.kill(pid, 0)


def test_no_copies_once_a_second_thread_runs() -> None:
    done = _python(
        """
        import threading
        from aioscout.engine._spawn import prefork

        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
        print(prefork(2))
        stop.set()
        t.join()
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


async def test_a_lone_item_waiting_to_be_batched_is_not_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The feeder holds an item back a moment to send it with others. Routing ends
    # meanwhile; the run used to settle then, with the item in neither the queue
    # nor a worker, end its workers and hang on the one it started to take over.
    monkeypatch.setattr(workers, "_LINGER", 0.5)

    async def lines() -> AsyncIterator[str]:
        yield "127.0.0.1:1"
        await asyncio.sleep(0.2)  # the input ends while the item waits in the feeder

    out = tmp_path / "out.jsonl"
    probe = functools.partial(make_http_probe, HttpOptions(), Limits())
    async with asyncio.timeout(30), JsonlSink(str(out)) as sink:
        stats = await run_scan(probe, lines(), [sink], ScanConfig(workers=2))
    (record,) = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert record["input"] == "127.0.0.1:1" and record["error"]["kind"] == "refused"
    assert stats.done == 1

"""Running the ``aioscout`` command line in a subprocess, for the reliability tests."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CliRun",
    "aioscout",
    "child_pids",
    "records",
    "refused_targets",
    "run_cli",
    "run_cli_measured",
    "spawn_cli",
    "wait_for_growth",
    "worker_pids",
]

# Every address of 127.0.0.0/8 is local on Linux, so port 1 on an address
# nothing binds answers with an immediate RST ("refused"), without DNS.
_REFUSED_NET = 91


def aioscout(*args: str) -> list[str]:
    """The argv running ``aioscout ARGS`` with this interpreter."""
    return [sys.executable, "-m", "aioscout", *args]


def refused_targets(count: int, *, net: int = _REFUSED_NET) -> list[str]:
    """``count`` distinct ``127.N.a.b:1`` targets where nothing listens."""
    if count > 250 * 250:
        raise ValueError("at most 62,500 refused targets per network")
    return [f"127.{net}.{i // 250}.{i % 250 + 1}:1" for i in range(count)]


@dataclass(frozen=True, slots=True)
class CliRun:
    """A finished command: exit status and standard error."""

    returncode: int
    stderr: str


async def spawn_cli(*args: str) -> asyncio.subprocess.Process:
    """Start ``aioscout ARGS`` with stdout discarded and stderr piped."""
    return await asyncio.create_subprocess_exec(
        *aioscout(*args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, timeout: float = 50.0) -> CliRun:
    """Wait for ``proc`` (killing it past ``timeout``) and collect its stderr."""
    try:
        async with asyncio.timeout(timeout):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
        tail = err.decode()[-2000:]
        raise AssertionError(f"aioscout did not finish in {timeout}s: {tail}") from None
    assert proc.returncode is not None
    return CliRun(proc.returncode, err.decode("utf-8", "replace"))


async def run_cli(*args: str, timeout: float = 50.0) -> CliRun:
    """Run ``aioscout ARGS`` to completion."""
    return await finish(await spawn_cli(*args), timeout)


async def wait_for_growth(
    path: Path, size: int, proc: asyncio.subprocess.Process, timeout: float = 30.0
) -> bool:
    """Poll until ``path`` is larger than ``size`` bytes; False if ``proc`` ended first."""
    async with asyncio.timeout(timeout):
        while True:
            if file_size(path) > size:
                return True
            if proc.returncode is not None:
                return False
            await asyncio.sleep(0.01)


def file_size(path: Path) -> int:
    """Size of ``path`` in bytes, 0 if it does not exist."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def records(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON Lines file, parsed (fails on a torn or invalid line)."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"torn last line: {data[-200:]!r}"
    out = []
    for n, line in enumerate(data.splitlines(), 1):
        try:
            out.append(json.loads(line))
        except ValueError as exc:
            raise AssertionError(f"line {n} of {path} is not JSON: {line[:200]!r}") from exc
    return out


def assert_one_record_per_line(path: Path, lines: list[str]) -> list[dict[str, Any]]:
    """The multiset of ``input`` fields equals the input lines exactly."""
    recs = records(path)
    got = collections.Counter(r["input"] for r in recs)
    want = collections.Counter(lines)
    missing = want - got
    extra = got - want
    assert not missing and not extra, (
        f"{len(recs)} records for {len(lines)} lines; "
        f"missing {sum(missing.values())} (e.g. {list(missing)[:3]}), "
        f"duplicated/extra {sum(extra.values())} (e.g. {list(extra)[:3]})"
    )
    return recs


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    out: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tasks = list(task_dir.iterdir())
    except FileNotFoundError:
        return out
    for task in tasks:
        try:
            out.extend(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def worker_pids(pid: int) -> list[int]:
    """The process workers of aioscout ``pid``: ``aioscout-worker-N`` on the command line of
    a started one, ``aioscout-wkr-N`` the name of a forked one."""
    found = []
    for child in child_pids(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            comm = Path(f"/proc/{child}/comm").read_bytes()
        except FileNotFoundError:
            continue
        if b"aioscout-worker-" in cmdline or comm.startswith(b"aioscout-wkr-"):
            found.append(child)
    return found


def kill_quietly(pid: int, sig: int = signal.SIGKILL) -> bool:
    """Send ``sig`` to ``pid``; False if it is already gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


# Runs a command and reports the peak RSS of its whole process tree (worker
# processes included): RUSAGE_CHILDREN of this wrapper covers only that tree.
_MEASURE = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(f"\\nmaxrss-kb={peak}\\n")
sys.exit(rc if rc >= 0 else 128 - rc)
"""


async def run_cli_measured(*args: str, timeout: float = 50.0) -> tuple[CliRun, int]:
    """Run ``aioscout ARGS``; also return the peak RSS (KiB) of its largest process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MEASURE,
        *aioscout(*args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    result = await finish(proc, timeout)
    head, _, tail = result.stderr.rpartition("maxrss-kb=")
    assert tail, result.stderr
    return CliRun(result.returncode, head), int(tail.strip())

"""``--resume`` after kill -9, SIGTERM and Ctrl-C: exactly one record per input line.

Each test runs the real command line in a subprocess over a few thousand
targets (loopback addresses where nothing listens, which refuse at once,
mixed with URLs of a lab HTTP server with latency), interrupts it at random
moments after the output has grown, resumes it with the same command line
plus ``--resume`` and checks the final output: every line valid JSON, the
multiset of ``input`` fields equal to the input lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioscout.lab import Lab

from ._cli import (
    assert_one_record_per_line,
    file_size,
    finish,
    kill_quietly,
    records,
    refused_targets,
    run_cli,
    spawn_cli,
    wait_for_growth,
    worker_pids,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab(sites=0, dns_port=None, hostile=False, latency=0.01),
]

_RECORD_BYTES = 800  # rough size of one refused record, to place kill points


def _inputs(lab: Lab, refused: int, served: int) -> list[str]:
    lines = refused_targets(refused)
    lines += [f"http://127.0.0.1:{lab.http_port}/resume/{i}" for i in range(served)]
    random.Random(7).shuffle(lines)
    return lines


def _seed() -> random.Random:
    seed = int.from_bytes(os.urandom(4))
    print(f"kill points seed: {seed}")
    return random.Random(seed)


async def _interrupt_and_resume(
    tmp_path: Path,
    lines: list[str],
    sig: signal.Signals,
    *,
    times: int = 3,
    extra: tuple[str, ...] = (),
) -> list[dict[str, object]]:
    inp, out = tmp_path / "targets.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    args = ("http", "-l", str(inp), "-o", str(out), "--timeout", "3", "--no-progress", *extra)
    rng = _seed()
    estimate = len(lines) * _RECORD_BYTES
    interrupted = 0
    for n in range(times):
        before = file_size(out)
        proc = await spawn_cli(*args, *(("--resume",) if n else ()))
        grown = await wait_for_growth(out, before + int(estimate * rng.uniform(0.03, 0.2)), proc)
        if grown:
            kill_quietly(proc.pid, sig)
            interrupted += 1
        result = await finish(proc)
        if not grown:
            assert result.returncode == 0, result.stderr
            break
        if sig == signal.SIGKILL:
            assert result.returncode == -signal.SIGKILL
            records(out)  # each batch is one write: even kill -9 leaves no torn line
        elif "interrupted" in result.stderr:
            # A graceful stop: in-flight work finished, valid JSONL, a summary, status 130.
            assert result.returncode == 130, result.stderr
            records(out)
        else:
            # The signal came as the finished run was exiting: it completed first.
            assert result.returncode in (0, -sig), result.stderr
            assert "done" in result.stderr, result.stderr
            records(out)
    assert interrupted >= 1, "the run finished before it could be interrupted"
    result = await run_cli(*args, "--resume")
    assert result.returncode == 0, result.stderr
    return assert_one_record_per_line(out, lines)


async def test_resume_after_kill_9_three_times(lab: Lab, tmp_path: Path) -> None:
    lines = _inputs(lab, 3000, 400)
    recs = await _interrupt_and_resume(tmp_path, lines, signal.SIGKILL)
    served = [r for r in recs if str(r["input"]).startswith("http://")]
    assert all(r["status"] is not None for r in served), "lab URLs must be probed, not dropped"


async def test_resume_after_sigterm_three_times(lab: Lab, tmp_path: Path) -> None:
    await _interrupt_and_resume(tmp_path, _inputs(lab, 3000, 400), signal.SIGTERM)


async def test_resume_after_ctrl_c(lab: Lab, tmp_path: Path) -> None:
    await _interrupt_and_resume(tmp_path, _inputs(lab, 3000, 400), signal.SIGINT, times=2)


async def test_resume_with_process_workers_after_kill_9(lab: Lab, tmp_path: Path) -> None:
    lines = _inputs(lab, 3000, 400)
    await _interrupt_and_resume(tmp_path, lines, signal.SIGKILL, extra=("--workers", "2"))


async def test_resume_with_process_workers_after_sigterm(lab: Lab, tmp_path: Path) -> None:
    await _interrupt_and_resume(
        tmp_path, _inputs(lab, 3000, 400), signal.SIGTERM, times=2, extra=("--workers", "2")
    )


async def _two_workers_running(
    lab: Lab, tmp_path: Path
) -> tuple[asyncio.subprocess.Process, list[str], Path, list[int]]:
    """A run of 4,000 targets with ``-w 2``, once it has written its first records."""
    lines = _inputs(lab, 4000, 400)
    inp, out = tmp_path / "targets.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    proc = await spawn_cli(
        "http", "-l", str(inp), "-o", str(out), "--timeout", "3", "--workers", "2"
    )
    assert await wait_for_growth(out, 100 * _RECORD_BYTES, proc)
    workers = worker_pids(proc.pid)
    assert len(workers) == 2, workers
    return proc, lines, out, workers


async def test_worker_killed_mid_run_loses_nothing(lab: Lab, tmp_path: Path) -> None:
    proc, lines, out, workers = await _two_workers_running(lab, tmp_path)
    assert kill_quietly(workers[0])
    result = await finish(proc)
    assert result.returncode == 0, result.stderr
    assert_one_record_per_line(out, lines)


async def test_workers_end_when_their_parent_is_killed(lab: Lab, tmp_path: Path) -> None:
    proc, _lines, _out, _workers = await _two_workers_running(lab, tmp_path)
    assert kill_quietly(proc.pid)
    assert proc.stderr is not None
    async with asyncio.timeout(10):
        await proc.wait()
        # The workers write to the same stderr pipe: it ends only when the last of them
        # has exited (they read end-of-file on their socket), and they exit quietly.
        stderr = await proc.stderr.read()
    assert b"Traceback" not in stderr, stderr.decode()[-2000:]


async def test_resume_without_checkpoint_simply_starts(lab: Lab, tmp_path: Path) -> None:
    lines = _inputs(lab, 200, 20)
    inp, out = tmp_path / "targets.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    result = await run_cli("http", "-l", str(inp), "-o", str(out), "--resume", "-s")
    assert result.returncode == 0, result.stderr
    assert_one_record_per_line(out, lines)
    # Repeating the same command line once the run is complete adds nothing.
    result = await run_cli("http", "-l", str(inp), "-o", str(out), "--resume", "-s")
    assert result.returncode == 0, result.stderr
    assert_one_record_per_line(out, lines)


async def test_resume_refuses_other_options(lab: Lab, tmp_path: Path) -> None:
    inp, out = tmp_path / "targets.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(refused_targets(20_000)) + "\n")
    assert (await run_cli("http", "-l", str(inp), "-o", str(out), "-s")).returncode == 0
    # The run completed, so it left no checkpoint and a resume has nothing to do.
    assert not (tmp_path / "out.jsonl.ckpt").exists()
    result = await run_cli("http", "-l", str(inp), "-o", str(out), "--resume", "-s")
    assert result.returncode == 0, result.stderr
    assert len(records(out)) == 20_000
    # An interrupted run leaves one, which only the same command line may resume.
    out.unlink()
    proc = await spawn_cli("http", "-l", str(inp), "-o", str(out), "-s")
    assert await wait_for_growth(out, 20 * _RECORD_BYTES, proc)
    proc.kill()
    await proc.wait()
    assert (tmp_path / "out.jsonl.ckpt").exists()
    size = out.stat().st_size
    # Other ports number the items differently: the checkpoint must not be trusted.
    result = await run_cli("http", "-l", str(inp), "-o", str(out), "-p", "1,2", "--resume", "-s")
    assert result.returncode == 2
    assert "ckpt" in result.stderr
    assert out.stat().st_size == size  # untouched
    result = await run_cli("http", "-l", str(inp), "-o", str(out), "--resume", "-s")
    assert result.returncode == 0, result.stderr
    assert len(records(out)) == 20_000


async def test_resume_100k_targets_killed_three_times(tmp_path: Path) -> None:
    lines = refused_targets(50_000) + refused_targets(50_000, net=92)
    started = asyncio.get_running_loop().time()
    await _interrupt_and_resume(tmp_path, lines, signal.SIGKILL, extra=("-c", "1024"))
    print(f"100k kill -9 x3 + resume: {asyncio.get_running_loop().time() - started:.1f}s")


# -- a full disk -------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only) filled but for about 300 KiB; ``filler`` frees it."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    (mnt / "filler").write_bytes(b"\0" * (1700 * 1024))
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


async def test_full_disk_pauses_then_continues_when_space_returns(
    tiny_disk: Path, tmp_path: Path
) -> None:
    lines = refused_targets(1200, net=93)
    inp, out = tmp_path / "targets.txt", tiny_disk / "out.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    proc = await spawn_cli("http", "-l", str(inp), "-o", str(out), "--timeout", "3", "-s")
    async with asyncio.timeout(20):
        while file_size(out) == 0 and proc.returncode is None:
            await asyncio.sleep(0.01)
    # Fill what is left: the next batch cannot be written.
    with contextlib.suppress(OSError), (tiny_disk / "filler").open("ab", buffering=0) as f:
        while True:
            f.write(b"\0" * 4096)
    size = file_size(out)
    with pytest.raises(TimeoutError):  # a full disk is a pause, not the end of the run
        await asyncio.wait_for(proc.wait(), 1.5)
    assert file_size(out) == size and size < 1200 * _RECORD_BYTES
    (tiny_disk / "filler").unlink()  # space comes back while the sink retries
    result = await finish(proc)
    assert result.returncode == 0, result.stderr
    assert_one_record_per_line(out, lines)


@pytest.mark.timeout(120)
async def test_full_disk_stops_with_a_message_and_resumes(tiny_disk: Path, tmp_path: Path) -> None:
    lines = refused_targets(1200, net=94)
    inp, out = tmp_path / "targets.txt", tiny_disk / "out.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    args = ("http", "-l", str(inp), "-o", str(out), "--timeout", "3", "-s")
    result = await run_cli(*args, timeout=90)  # the sink retries for 30 s, then gives up
    assert result.returncode != 0
    assert "No space left on device" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    done = records(out)  # what was written is valid JSON Lines
    assert len(done) < len(lines)
    (tiny_disk / "filler").unlink()
    result = await run_cli(*args, "--resume")
    assert result.returncode == 0, result.stderr
    assert_one_record_per_line(out, lines)

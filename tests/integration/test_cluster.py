"""``--cluster``: the same commands on Ray, exactly one record per input.

One Ray head for the module, started like a user would (``ray start --head``)
on loopback only, without usage statistics, in a temp dir of its own; every
process it starts carries a marker in its environment, so the tests find (and
stop) only those. The commands name it by its Ray Client address (``ray://``)
and, running on its node, join it directly; one run is made to go through Ray
Client (``AIOSCOUT_RAY_CLIENT=1``) and one uses ``--cluster local`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

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
)

pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

_TWO_NODES = Path(__file__).resolve().parents[2] / "scripts" / "ray_two_nodes.py"
_RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # every Ray process binds 127.0.0.1
    "RAY_USAGE_STATS_ENABLED": "0",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _marked(marker: str) -> list[int]:
    """Processes whose environment carries ``marker`` (the head's and its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
    return found


class RayHead:
    """A running head node: its Ray Client and GCS addresses, how to find its processes."""

    def __init__(self, address: str, gcs: str, marker: str) -> None:
        self.address = address
        self.gcs = gcs
        self.marker = marker

    def chunk_workers(self) -> list[int]:
        """Processes of this head running a chunk task right now."""
        out = []
        for pid in _marked(self.marker):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::run_chunk"):
                    out.append(pid)
        return out


@pytest.fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    marker = f"AIOSCOUT_TEST_RAY={uuid.uuid4().hex}"
    temp = tempfile.mkdtemp(prefix="aioscout-ray-", dir="/tmp")  # short: socket paths
    gcs, client = _free_port(), _free_port()
    key, _, value = marker.partition("=")
    env = {**os.environ, **_RAY_ENV, key: value}
    ray_cli = str(Path(sys.executable).with_name("ray"))
    saved = {k: os.environ.get(k) for k in _RAY_ENV}
    os.environ.update(_RAY_ENV)  # the commands the tests start join with the same settings
    try:
        subprocess.run(
            [
                ray_cli,
                "start",
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={gcs}",
                f"--ray-client-server-port={client}",
                "--num-cpus=2",
                "--include-dashboard=false",
                "--disable-usage-stats",
                f"--temp-dir={temp}",
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield RayHead(f"ray://127.0.0.1:{client}", f"127.0.0.1:{gcs}", marker)
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _marked(marker):
                kill_quietly(pid, sig)
            time.sleep(0.5)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(sites=0, dns_port=None, hostile=False) as running:
        yield running


def _comparable(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records without their timings, in input order."""
    out = [{k: v for k, v in r.items() if k != "time_ms"} for r in recs]
    return sorted(out, key=lambda r: repr(sorted(r.items())))


async def test_cluster_records_equal_one_process(
    ray_head: RayHead, lab: Lab, tmp_path: Path
) -> None:
    lines = [f"http://127.0.0.1:{lab.http_port}/cluster/{i}" for i in range(400)]
    lines += refused_targets(100)
    lines += [lines[3], "http://[bad"]  # a duplicate and an unusable line: a record each
    targets = tmp_path / "targets.txt"
    targets.write_text("\n".join(lines) + "\n")
    outs = {}
    for name, extra in (
        ("plain", ("--workers", "1")),
        ("ray", ("--cluster", ray_head.address)),
        ("client", ("--cluster", ray_head.address)),
        ("local", ("--cluster", "local", "--workers", "2")),
    ):
        out = tmp_path / f"{name}.jsonl"
        with pytest.MonkeyPatch.context() as env:
            if name == "client":
                env.setenv("AIOSCOUT_RAY_CLIENT", "1")  # through Ray Client, not directly
            result = await run_cli(
                "http", "-l", str(targets), "-o", str(out), "-s", *extra, timeout=180
            )
        assert result.returncode == 0, result.stderr
        outs[name] = assert_one_record_per_line(out, lines)
    for name in ("ray", "client", "local"):
        assert _comparable(outs[name]) == _comparable(outs["plain"]), name


def test_a_driver_on_the_heads_node_finds_its_gcs(
    ray_head: RayHead, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aioscout.engine.ray_backend import _has_token, local_gcs

    found = local_gcs(ray_head.address)
    assert found is not None and found.gcs == ray_head.gcs
    # The head's own auth mode, read from its processes (the driver must take the same):
    # `ray start` turns tokens on when the mode is unset and a token exists.
    mode = os.environ.get("RAY_AUTH_MODE") or ("token" if _has_token() else "disabled")
    assert found.auth == mode
    assert local_gcs(ray_head.address.replace("127.0.0.1", "localhost")) == found
    port = int(ray_head.address.rpartition(":")[2])
    assert local_gcs(f"ray://127.0.0.1:{port + 1 if port < 65535 else 1}") is None
    assert local_gcs(ray_head.address.replace("127.0.0.1", "192.0.2.1")) is None  # not here
    monkeypatch.setenv("AIOSCOUT_RAY_CLIENT", "1")
    assert local_gcs(ray_head.address) is None


async def _chunk_worker(head: RayHead, proc: asyncio.subprocess.Process) -> int | None:
    """A process of the head running a chunk, once there is one (None: the run ended)."""
    async with asyncio.timeout(120):
        while proc.returncode is None:
            found = head.chunk_workers()
            if found:
                return found[0]
            await asyncio.sleep(0.02)
    return None


async def test_worker_killed_twice_mid_run_exactly_once(ray_head: RayHead, tmp_path: Path) -> None:
    lines = refused_targets(30_000)
    targets = tmp_path / "targets.txt"
    targets.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    proc = await spawn_cli(
        "http", "-l", str(targets), "-o", str(out), "-s", "--cluster", ray_head.address
    )
    killed = 0
    for _ in range(2):
        pid = await _chunk_worker(ray_head, proc)
        if pid is not None and kill_quietly(pid):
            killed += 1
            await asyncio.sleep(0.5)
    result = await finish(proc, timeout=240)
    assert result.returncode == 0, result.stderr
    assert killed >= 1, "the run ended before a chunk worker could be killed"
    recs = assert_one_record_per_line(out, lines)
    assert all(r["error"]["kind"] == "refused" for r in recs)


async def test_resume_after_driver_killed_exactly_once(ray_head: RayHead, tmp_path: Path) -> None:
    lines = refused_targets(30_000)
    targets = tmp_path / "targets.txt"
    targets.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    args = ("http", "-l", str(targets), "-o", str(out), "-s", "--cluster", ray_head.address)
    proc = await spawn_cli(*args)
    grew = await wait_for_growth(out, 0, proc, timeout=120)
    assert grew, (await finish(proc)).stderr
    proc.kill()  # SIGKILL: no flush, no goodbye
    await proc.wait()
    written = file_size(out)
    result = await run_cli(*args, "--resume", timeout=240)
    assert result.returncode == 0, result.stderr
    assert file_size(out) >= written
    recs = assert_one_record_per_line(out, lines)
    assert len(records(out)) == len(recs)


@pytest.mark.parametrize("encoded", [True, False])
def test_a_chunk_task_runs_the_ordinary_engine(encoded: bool) -> None:
    # The task's side without Ray: the function each chunk task runs, in this process.
    from aioscout import registry
    from aioscout._config import HttpOptions, Limits, ScanConfig
    from aioscout.engine.frames import dumps
    from aioscout.engine.ray_backend import ChunkJob, run_chunk
    from aioscout.sinks.jsonl import encode_lines

    config = ScanConfig(concurrency=16)
    factory = registry.factory("http", HttpOptions(), Limits())
    lines = refused_targets(40)
    targets = [t for line in lines for t in factory(config).expand(line)]
    job = ChunkJob(factory, config, frozenset(), encode_lines if encoded else None)
    seqs = list(range(100, 140))
    result = pickle.loads(run_chunk(job, dumps((seqs, lines, targets))))
    assert result.pid == os.getpid()
    if encoded:
        assert result.encoded is not None and not result.kept
        got_seqs, kinds, data = result.encoded
        assert sorted(got_seqs) == seqs
        assert set(kinds) == {"refused"}
        assert len(data) == 40 and all(d.endswith(b"\n") for d in data)
    else:
        assert result.encoded is None
        assert sorted(seq for seq, _ in result.kept) == seqs
        assert {r.input for _, r in result.kept} == set(lines)


async def test_one_task_on_nodes_smaller_than_the_cluster_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A head and a worker node of one CPU each (scripts/ray_two_nodes.py): a task that
    # asked for the cluster's two CPUs could run on neither node, and the run hung.
    # The cluster runs without token auth while the driver's user has a token: joined
    # directly, the driver must take the cluster's mode, or the worker node's calls
    # to it are refused and the tasks there end in "internal" records.
    marker = f"AIOSCOUT_TEST_RAY2={uuid.uuid4().hex}"
    key, _, value = marker.partition("=")
    for name, setting in _RAY_ENV.items():
        monkeypatch.setenv(name, setting)
    token = tmp_path / "auth_token"
    token.write_text(uuid.uuid4().hex * 2)
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(_TWO_NODES),
        str(port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, key: value, "RAY_AUTH_MODE": "disabled"},
    )
    assert proc.stdin is not None and proc.stdout is not None
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    try:
        async with asyncio.timeout(120):
            line = await proc.stdout.readline()
        assert b"two nodes up" in line, line
        lines = refused_targets(3_000)
        targets = tmp_path / "targets.txt"
        targets.write_text("\n".join(lines) + "\n")
        for tasks in ("1", "2"):
            out = tmp_path / f"out{tasks}.jsonl"
            result = await run_cli(
                "http", "-l", str(targets), "-o", str(out), "-s",
                "--cluster", f"ray://127.0.0.1:{port}", "--workers", tasks, timeout=120,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            recs = assert_one_record_per_line(out, lines)
            assert {r["error"]["kind"] for r in recs} == {"refused"}, tasks
    finally:
        proc.stdin.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                await proc.wait()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _marked(marker):
                kill_quietly(pid, sig)
            await asyncio.sleep(0.5)

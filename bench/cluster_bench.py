"""``--cluster``: throughput with one and two chunk tasks, and the driver's peak RSS.

Usage: python bench/cluster_bench.py [N] [ROUNDS] [LAYOUT]
(default 100,000 targets, 1 round, layout ``head``)

Layouts, every process on loopback, no dashboard, no usage statistics:

- ``head``: a Ray head of 2 CPUs (``ray start --head``);
- ``two-nodes``: a head and a worker node of 2 CPUs each
  (``scripts/ray_two_nodes.py``), the shape of a small real cluster.

Scans N connection-refused targets (``127.x.y.z:1``, nothing listens, so the
work is the probe's own) through ``--cluster ray://`` with ``-w 1`` and
``-w 2`` (alternating, ROUNDS times), and prints wall time, records per second
and the driver's peak RSS of each. Every run must give one record per input,
each the probe's own ``refused`` (a chunk the cluster lost would come back as
an ``internal`` record: counted and shown, never a faster run). The head runs
on this machine, so the driver joins it directly; run the script with
``AIOSCOUT_RAY_CLIENT=1`` to measure through Ray Client. Not part of
``run_all.py``: it needs the ``ray`` extra and a few minutes. The cluster's
processes carry a marker in their environment and are stopped by it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _marked(marker: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                out.append(int(entry.name))
    return out


def _targets(path: Path, n: int) -> list[str]:
    lines = [f"127.{91 + i // 62500}.{i % 62500 // 250}.{i % 250 + 1}:1" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return lines


# Runs one command in a fresh process and prints its wall time and peak RSS (KiB):
# RUSAGE_CHILDREN keeps the largest child's, so each run needs its own measurer.
_MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _start(
    layout: str, work: Path, client: int, env: dict[str, str]
) -> subprocess.Popen[str] | None:
    """Start the cluster of ``layout``; the process to close (``two-nodes``), else ``None``."""
    if layout == "two-nodes":
        script = Path(__file__).resolve().parent.parent / "scripts" / "ray_two_nodes.py"
        proc = subprocess.Popen(
            [sys.executable, str(script), str(client), "2"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        if "two nodes up" not in proc.stdout.readline():
            raise SystemExit("the two-node cluster did not start")
        return proc
    ray = str(Path(sys.executable).with_name("ray"))
    subprocess.run(
        [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={_port()}",
         f"--ray-client-server-port={client}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={work}"],
        env=env, check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return None


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    layout = sys.argv[3] if len(sys.argv) > 3 else "head"
    if layout not in ("head", "two-nodes"):
        raise SystemExit(f"layout {layout!r}: head or two-nodes")
    work = Path(tempfile.mkdtemp(prefix="aioscout-cb-", dir="/tmp"))
    marker = uuid.uuid4().hex
    env = {**os.environ, **_ENV, "AIOSCOUT_BENCH_RAY": marker}
    client = _port()
    aioscout = [sys.executable, "-m", "aioscout"]
    cluster = None
    try:
        cluster = _start(layout, work, client, env)
        lines = _targets(work / "targets.txt", n)
        shape = "a head of 2 CPUs" if layout == "head" else "head + worker node, 2 CPUs each"
        print(f"{n:,} refused targets, ray://127.0.0.1:{client} ({shape}, loopback)")
        print("| tasks (--workers) | wall s | targets/s | driver peak RSS MB | not refused |")
        print("|---|---|---|---|---|")
        for tasks in (1, 2) * rounds:
            out = work / f"out{tasks}.jsonl"
            args = [*aioscout, "http", "-l", str(work / "targets.txt"), "-o", str(out), "-s"]
            args += ["--cluster", f"ray://127.0.0.1:{client}", "--workers", str(tasks)]
            res = subprocess.run(
                [sys.executable, "-c", _MEASURE, *args],
                env=env, check=True, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            wall_s, rss_s = res.stdout.split()
            wall, rss = float(wall_s), int(rss_s)
            recs = [json.loads(x) for x in out.open()]
            seen = collections.Counter(r["input"] for r in recs)
            assert seen == collections.Counter(lines), "not one record per input"
            other = sum(1 for r in recs if (r.get("error") or {}).get("kind") != "refused")
            print(f"| {tasks} | {wall:.1f} | {n / wall:,.0f} | {rss / 1024:.0f} | {other} |")
    finally:
        if cluster is not None and cluster.stdin is not None:
            cluster.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                cluster.wait(30)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _marked(marker):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            time.sleep(1)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared pieces of the benchmark suite: measured subprocesses, the lab, ground truth, tables.

Every tool under test runs as its own process so that its wall time and peak
memory are measured the same way: wall time from spawn to exit, peak RSS as
the largest of (a) ``ru_maxrss`` reported by ``wait4`` for the process and
(b) the sum of RSS over the whole process tree, sampled every 50 ms (this
catches tools that fork workers). Every run has a hard deadline; a tool that
overruns is killed with its whole process group and reported as such.
"""

from __future__ import annotations

import html
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
VENV_BIN = Path(sys.executable).parent
AIOSCOUT = str(VENV_BIN / "aioscout")
PYTHON = sys.executable
PAGE = os.sysconf("SC_PAGE_SIZE")
TITLE_RE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)

Outcome = tuple[int | None, str | None]
"""(status, title) of one probed URL; ``None`` where the tool reported none."""


def title_of(body: bytes) -> str | None:
    """The page title the tutorial way: a regex over the bytes, UTF-8, unescaped."""
    m = TITLE_RE.search(body)
    if m is None:
        return None
    return html.unescape(m.group(1).decode("utf-8", "replace")).strip()


# -- the machine -------------------------------------------------------------


def machine() -> dict[str, str]:
    """Cores, memory, CPU model, OS and Python of this machine."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cores": str(os.cpu_count()),
        "memory": mem,
        "cpu": model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def resolv_conf_is_loopback(path: str = "/etc/resolv.conf") -> bool:
    """Whether every nameserver in ``path`` is 127.0.0.1 (what scripts/isolated.sh sets up)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return False
    servers = [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1]
    return bool(servers) and all(s == "127.0.0.1" for s in servers)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether UDP and TCP ``host:port`` can be bound right now."""
    import socket

    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


# -- measured subprocesses ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """One finished (or killed) subprocess."""

    cmd: tuple[str, ...]
    wall: float
    peak_rss_mb: float
    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    cpu: float = 0.0
    """User plus system CPU seconds of the process and the children it waited for."""

    @property
    def ok(self) -> bool:
        """Exited 0 before its deadline."""
        return self.returncode == 0 and not self.timed_out

    def failure(self) -> str:
        """A one-line reason when the run did not succeed ('' otherwise)."""
        if self.timed_out:
            return f"killed after {self.wall:.0f} s deadline"
        if self.returncode != 0:
            tail = (self.stderr.strip().splitlines() or ["?"])[-1][:160]
            return f"exit {self.returncode}: {tail}"
        return ""


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except OSError:
            continue
        out.extend(int(x) for x in text.split())
    return out


def tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and all its descendants (0 when gone)."""
    total = 0
    stack = [pid]
    seen: set[int] = set()
    while stack and len(seen) < 4096:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        stack.extend(_children(p))
    return total


def run_measured(
    cmd: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> Run:
    """Run ``cmd`` (killed at ``timeout`` seconds), measuring wall time and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
        peak = 0
        status: int | None = None
        maxrss = 0
        cpu = 0.0
        timed_out = False
        while True:
            pid, st, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                status, maxrss = st, usage.ru_maxrss * 1024
                cpu = usage.ru_utime + usage.ru_stime
                break
            peak = max(peak, tree_rss(proc.pid))
            if time.perf_counter() - start > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                _, st, usage = os.wait4(proc.pid, 0)
                status, maxrss = st, usage.ru_maxrss * 1024
                cpu = usage.ru_utime + usage.ru_stime
                break
            time.sleep(0.05)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        # A worker left behind by a killed or crashed tool must not outlive its run.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out.seek(0)
        err.seek(0)
        return Run(
            cmd=tuple(cmd),
            wall=wall,
            peak_rss_mb=max(peak, maxrss) / 1e6,
            returncode=proc.returncode,
            timed_out=timed_out,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            cpu=cpu,
        )


# -- the lab -----------------------------------------------------------------


@contextmanager
def lab(
    *, sites: int, latency: float = 0.0, dns_port: int = 0, dns_names: int = 1000
) -> Iterator[dict[str, Any]]:
    """A background lab (``aioscout lab up``) for the duration of the block; yields its state."""
    state_dir = Path(tempfile.mkdtemp(prefix="aioscout-bench-"))
    state_file = state_dir / "lab.json"
    cmd = [AIOSCOUT, "lab", "up", "--no-hostile", "--sites", str(sites)]
    cmd += ["--state-file", str(state_file), "--dns-port", str(dns_port)]
    cmd += ["--dns-names", str(dns_names), "--latency", str(latency)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=120)
    try:
        yield json.loads(state_file.read_text())
    finally:
        subprocess.run(
            [AIOSCOUT, "lab", "down", "--state-file", str(state_file)],
            check=False,
            timeout=60,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(state_dir, ignore_errors=True)


def site_name(i: int, origin: str = "lab.test") -> str:
    """The name of generated lab site number ``i``."""
    return f"site-{i:05d}.{origin}"


def truth(urls: Sequence[str], *, sites: int) -> dict[str, Outcome]:
    """Ground truth for http URLs of lab sites, from the lab's own catalogue."""
    from urllib.parse import urlsplit

    from aioscout.lab.sites import Catalogue

    cat = Catalogue(generated=sites)
    out: dict[str, Outcome] = {}
    for url in urls:
        parts = urlsplit(url)
        exp = cat.expected(parts.hostname or "", "http", path=parts.path or "/")
        out[url] = (exp.status, exp.title)
    return out


def score(got: Mapping[str, Outcome], want: Mapping[str, Outcome]) -> tuple[int, int]:
    """(right, total): URLs whose status and title match the truth exactly."""
    right = sum(1 for url, exp in want.items() if got.get(url) == exp)
    return right, len(want)


def read_jsonl(path: Path, key: str, status: str, title: str) -> dict[str, Outcome]:
    """(status, title) per ``key`` from a JSON Lines file (missing file: empty)."""
    out: dict[str, Outcome] = {}
    try:
        f = path.open("rb")
    except OSError:
        return out
    with f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            t = rec.get(title)
            out[str(rec.get(key))] = (rec.get(status), t.strip() if isinstance(t, str) else t)
    return out


# -- reporting ---------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_rate(x: float | None) -> str:
    """``12,345`` or ``—``."""
    return "—" if x is None else f"{x:,.0f}"


def fmt_mb(x: float | None) -> str:
    """``123 MB`` or ``—``."""
    return "—" if x is None else f"{x:,.0f} MB"


def log(msg: str) -> None:
    """Progress on stderr (stdout stays for the report)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

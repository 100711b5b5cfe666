"""aioscout ssh against parallel-ssh, on real OpenSSH servers on loopback.

Usage::

    bash scripts/isolated.sh .venv/bin/python bench/ssh_bench.py [--connections 200]
        [--concurrency 50] [--rounds 3] [--command-timeout 2]

Needs root (sshd logs users in), ``scripts/services.sh`` run once (the test
user) and parallel-ssh, which is installed into this interpreter's
environment on first use if it is missing (``pip install parallel-ssh``).

Two workloads, each ``--connections`` logins spread evenly over the servers:

* **logins**: four healthy servers (three taking the key, one a password);
  every login runs ``echo ok``.
* **five kinds**: the servers of the issue's check: one taking the key, one a
  password, one whose forced command sleeps for a minute (stopped after
  ``--command-timeout``), one whose host key differs from known_hosts, one
  refusing connections.

Each tool runs in its own process, started the same way, at the same
concurrency, rounds alternating which goes first; the table gives the median
wall time (process start to exit, interpreter start-up included) and what
each tool reported. parallel-ssh is fed the way its documentation shows:
one ``ParallelSSHClient`` with ``pool_size`` = the concurrency, one
``HostConfig`` per login, ``run_command(..., stop_on_errors=False,
read_timeout=T)`` and ``join``; it checks no host keys (so it logs in to the
changed-key server, which aioscout refuses) and tries no agent. aioscout
checks every host key against known_hosts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from aioscout.lab.sshd import (  # noqa: E402
    TEST_USER,
    SshdLab,
    SshdServer,
    free_port,
    keygen,
    sshd_missing,
    user_password,
)

_SECRET_VAR = "AIOSCOUT_BENCH_SSH_PASSWORD"


def _ensure_pssh() -> None:
    try:
        import pssh  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        print("installing parallel-ssh into this environment", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "parallel-ssh"], check=True)


def _pssh_run(spec_path: str) -> None:
    """Child mode: run parallel-ssh over the logins in ``spec_path``; print a summary."""
    from pssh.clients import ParallelSSHClient  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from pssh.config import HostConfig  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from pssh.exceptions import Timeout  # type: ignore[import-untyped,import-not-found,unused-ignore]

    spec = json.loads(Path(spec_path).read_text())
    password = os.environ[_SECRET_VAR]
    hosts = [h for h, _ in spec["logins"]]
    # parallel-ssh tries a given key only, so the password host is given the password alone.
    config = [
        HostConfig(
            port=port,
            user=spec["user"],
            private_key=None if port == spec["password_port"] else spec["key"],
            password=password if port == spec["password_port"] else None,
            allow_agent=False,
            identity_auth=False,
            num_retries=0,
            timeout=spec["connect_timeout"],
        )
        for _, port in spec["logins"]
    ]
    client = ParallelSSHClient(
        hosts, host_config=config, pool_size=spec["concurrency"], num_retries=0, timeout=None
    )
    output = client.run_command(
        spec["command"], stop_on_errors=False, read_timeout=spec["command_timeout"]
    )
    with contextlib.suppress(Timeout):  # every command at once, for at most the time-out
        client.join(output, timeout=spec["command_timeout"])
    kinds: Counter[str] = Counter()
    for host_out in output:
        if host_out.exception is not None:
            kinds[type(host_out.exception).__name__] += 1
        elif not host_out.client.finished(host_out.channel):
            kinds["Timeout"] += 1
        else:
            lines = list(host_out.stdout or ())
            kinds["ok" if lines == ["ok"] else f"exit {host_out.exit_code}"] += 1
    print(json.dumps(dict(kinds)))
    sys.stdout.flush()
    os._exit(0)  # gevent's hub and the clients' sockets need no orderly teardown


def _aioscout_cmd(spec: dict[str, Any], targets: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "aioscout", "ssh",
        "-l", str(targets), "--no-dedup",
        "--concurrency", str(spec["concurrency"]),
        "-u", spec["user"], "-i", spec["key"], "--password-env", _SECRET_VAR,
        "--known-hosts", spec["known_hosts"], "--no-agent",
        "--connect-timeout", str(spec["connect_timeout"]),
        "--command-timeout", str(spec["command_timeout"]),
        "-c", spec["command"], "-o", str(out), "-s", "--no-progress",
    ]  # fmt: skip


def _aioscout_kinds(out: Path) -> dict[str, int]:
    kinds: Counter[str] = Counter()
    for line in out.read_text().splitlines():
        rec = json.loads(line)
        err = rec["error"]
        kinds[err["kind"] if err else ("ok" if rec["stdout"] == "ok\n" else "other")] += 1
    return dict(kinds)


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[2:4]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, done.stdout


def _workload(
    name: str, servers: list[tuple[str, int]], args: argparse.Namespace, lab: Lab, work: Path
) -> dict[str, Any]:
    logins = [servers[i % len(servers)] for i in range(args.connections)]
    spec = {
        "logins": logins,
        "user": TEST_USER,
        "key": str(lab.sshd.client_key),
        "known_hosts": str(lab.known_hosts),
        "concurrency": args.concurrency,
        "command": "echo ok",
        "connect_timeout": 5,
        "command_timeout": args.command_timeout,
        "password_port": lab.password.port,
    }
    spec_path = work / f"{name}.json"
    spec_path.write_text(json.dumps(spec))
    targets = work / f"{name}.txt"
    targets.write_text("".join(f"{host}:{port}\n" for host, port in logins))
    env = {**os.environ, _SECRET_VAR: user_password()}
    walls: dict[str, list[float]] = {"aioscout": [], "parallel-ssh": []}
    kinds: dict[str, dict[str, int]] = {}
    for round_ in range(args.rounds):
        order = ["aioscout", "parallel-ssh"][:: 1 if round_ % 2 == 0 else -1]
        for tool in order:
            if tool == "aioscout":
                out = work / f"{name}-{round_}.jsonl"
                wall, _ = _timed(_aioscout_cmd(spec, targets, out), env)
                kinds[tool] = _aioscout_kinds(out)
            else:
                cmd = [sys.executable, __file__, "--pssh-run", str(spec_path)]
                wall, stdout = _timed(cmd, env)
                kinds[tool] = json.loads(stdout.strip().splitlines()[-1])
            walls[tool].append(wall)
            print(f"  {name} round {round_ + 1}: {tool} {wall:.2f} s {kinds[tool]}", flush=True)
            time.sleep(1.0)  # let the servers' sessions from the last run end
    return {"walls": walls, "kinds": kinds}


class Lab:
    """The servers of both workloads."""

    def __init__(self, sshd: SshdLab) -> None:
        self.sshd = sshd
        key = [sshd.client_key_pub]
        self.keys = [sshd.start(f"keys{i}", authorized=key) for i in range(3)]
        self.password = sshd.start("password", password=True)
        self.slow = sshd.start("slow", authorized=key, extra=["ForceCommand sleep 60"])
        self.changed = sshd.start("changed", authorized=key)
        self.refused = free_port()
        old = keygen(sshd.root / "old_host_key")
        kind, blob = Path(f"{old}.pub").read_text().split()[:2]
        self.known_hosts = sshd.root / "known_hosts"
        good: list[SshdServer] = [*self.keys, self.password, self.slow]
        self.known_hosts.write_text(
            "".join(s.known_hosts_line() for s in good)
            + f"[127.0.0.1]:{self.changed.port} {kind} {blob}\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--command-timeout", type=float, default=2.0)
    parser.add_argument("--pssh-run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pssh_run:
        _pssh_run(args.pssh_run)
        return
    reason = sshd_missing()
    if reason is not None:
        sys.exit(f"ssh_bench: {reason}")
    _ensure_pssh()
    with SshdLab() as sshd, tempfile.TemporaryDirectory(prefix="ssh-bench-") as tmp:
        lab = Lab(sshd)
        work = Path(tmp)
        local = "127.0.0.1"
        workloads = {
            "logins": [(local, s.port) for s in [*lab.keys, lab.password]],
            "five kinds": [
                (local, lab.keys[0].port),
                (local, lab.password.port),
                (local, lab.slow.port),
                (local, lab.changed.port),
                (local, lab.refused),
            ],
        }
        results = {
            name: _workload(name.replace(" ", "-"), servers, args, lab, work)
            for name, servers in workloads.items()
        }
    print()
    print(
        f"{args.connections} logins at concurrency {args.concurrency}, median of"
        f" {args.rounds} rounds (command time-out {args.command_timeout:g} s)"
    )
    print()
    print(
        "| workload | aioscout ssh | parallel-ssh | parallel-ssh / aioscout"
        " | aioscout saw | parallel-ssh saw |"
    )
    print("|---|---|---|---|---|---|")
    for name, res in results.items():
        ours = statistics.median(res["walls"]["aioscout"])
        theirs = statistics.median(res["walls"]["parallel-ssh"])
        print(
            f"| {name} | {ours:.2f} s | {theirs:.2f} s | {theirs / ours:.2f}x"
            f" | {res['kinds']['aioscout']} | {res['kinds']['parallel-ssh']} |"
        )


if __name__ == "__main__":
    main()

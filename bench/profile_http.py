"""Hosts per second and peak RSS of ``aioscout http`` against the lab, reproducibly.

Starts the lab in its own process (so its CPU is not the prober's), writes N
``name:port`` targets of its generated sites, runs ``aioscout http`` with the
lab DNS server as resolver, and prints hosts/s, wall time, CPU time and the
prober's peak RSS (``RUSAGE_CHILDREN``; with workers, the largest process).
Add ``--py-spy FILE`` to record a raw py-spy profile of the run.

Example::

    .venv/bin/python bench/profile_http.py -n 10240 -c 200 -w 1
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--targets", type=int, default=10240)
    ap.add_argument("-c", "--concurrency", type=int, default=200)
    ap.add_argument("-w", "--workers", type=int, default=1)
    ap.add_argument("--scheme", choices=("http", "https"), default="http")
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--py-spy", metavar="FILE", help="record a raw py-spy profile here")
    ap.add_argument("extra", nargs="*", help="more aioscout http options (after --)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="aioscout-bench-") as tmp:
        state = Path(tmp, "lab.json")
        up = [str(BIN / "aioscout"), "lab", "up", "--no-hostile", "--state-file", str(state)]
        up += ["--sites", str(args.targets), "--dns-names", "0"]
        if args.latency:
            up += ["--latency", str(args.latency)]
        subprocess.run(up, check=True, stdout=subprocess.DEVNULL, timeout=120)
        try:
            lab = json.loads(state.read_text())
            port = lab[f"{args.scheme}_port"]
            targets = Path(tmp, "targets.txt")
            with targets.open("w") as f:
                for i in range(1, args.targets + 1):
                    f.write(f"site-{i:05d}.{lab['origin']}:{port}\n")
            out = Path(tmp, "out.jsonl")
            cmd = [str(BIN / "aioscout"), "http", "-l", str(targets), "-o", str(out), "-s"]
            cmd += ["-c", str(args.concurrency), "-w", str(args.workers)]
            cmd += ["--resolver", lab["dns_address"], *args.extra]
            if args.py_spy:
                cmd = [str(BIN / "py-spy"), "record", "-r", "200", "-f", "raw"]
                cmd += ["-o", args.py_spy, "--subprocesses", "--", *cmd]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(cmd, check=True, timeout=600)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            records = [json.loads(line) for line in out.read_text().splitlines()]
        finally:
            subprocess.run(
                [str(BIN / "aioscout"), "lab", "down", "--state-file", str(state)],
                check=False,
                stdout=subprocess.DEVNULL,
                timeout=60,
            )
    ok = sum(r.get("status") == 200 and bool(r.get("title")) for r in records)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        json.dumps(
            {
                "command": " ".join(cmd),
                "targets": args.targets,
                "records": len(records),
                "ok_with_title": ok,
                "wall_s": round(wall, 2),
                "hosts_per_s": round(len(records) / wall),
                "cpu_s": round(cpu, 2),
                "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
            },
            indent=2,
        )
    )
    return 0 if len(records) == args.targets else 1


if __name__ == "__main__":
    sys.exit(main())

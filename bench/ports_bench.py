"""Port scan: ``aioscout ports`` against ``nmap -sT -T4`` on the same ports of a lab farm.

The farm (``aioscout.lab.ports``, in its own process) puts every service kind
(SSH-, SMTP-, FTP-, POP3-, IMAP-, MySQL/MariaDB-like greeters, Redis-like,
HTTP, TLS, silent, slow and accept-then-reset ports) at seeded unusual ports
of each host's range, after checking every port of the ranges unbound, and
``--filtered`` ports a host that drop every SYN, as behind a firewall (default
1: a scan that waits a fixed timeout per lost SYN pays for it here). Both
tools scan the same hosts on the same ports: the ports every host had free
(a port someone else held on any host is left out for all). Rounds alternate
the tools; the table gives each run and the medians.

Scored against the farm's ground truth: open ports found and missed, ports
reported open that the farm does not hold (must be 0), and for aioscout the
service named for each open port (nmap -sT names none: it only connects).

Usage::

    .venv/bin/python bench/ports_bench.py [--hosts 20] [--ports 10000] [--filtered 1]
        [--copies 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import AIOSCOUT, PYTHON, Run, fmt_mb, log, run_measured, table

NMAP = shutil.which("nmap")
_GREPABLE_PORT = re.compile(r"(\d+)/open/tcp")


def start_farm(
    hosts: int, ports: int, filtered: int = 0, copies: int = 1
) -> tuple[subprocess.Popen[str], dict[str, object]]:
    """The farm in its own process; returns it and its ground truth."""
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "aioscout.lab.ports",
            "--hosts",
            str(hosts),
            "--ports",
            str(ports),
            "--filtered",
            str(filtered),
            "--copies",
            str(copies),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("the port farm did not start")
    return proc, json.loads(line)


def common_spec(truth: dict[str, object]) -> str:
    """The ports every host had free, as one ``-p`` spec (so both tools scan the same)."""
    from aioscout.lab.ports import compact_ranges

    scans = truth["scan"]
    assert isinstance(scans, dict)
    return compact_ranges(set.intersection(*(_ports_of(str(s)) for s in scans.values())))


def _ports_of(spec: str) -> set[int]:
    ports: set[int] = set()
    for item in spec.split(","):
        first, _, last = item.partition("-")
        ports.update(range(int(first), int(last or first) + 1))
    return ports


def score_aioscout(path: Path, want: dict[tuple[str, int], str | None]) -> dict[str, int]:
    """Open ports found, missed and invented; services right and wrong."""
    found: dict[tuple[str, int], str | None] = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("state") == "open":
            found[(rec["ip"], rec["port"])] = rec.get("service")
    right = sum(1 for k, s in found.items() if k in want and want[k] == s)
    return {
        "found": sum(1 for k in found if k in want),
        "missed": sum(1 for k in want if k not in found),
        "invented": sum(1 for k in found if k not in want),
        "service_right": right,
        "service_wrong": sum(1 for k in found if k in want) - right,
    }


def score_nmap(text: str, want: dict[tuple[str, int], str | None]) -> dict[str, int]:
    found: set[tuple[str, int]] = set()
    for line in text.splitlines():
        if line.startswith("Host:") and "Ports:" in line:
            ip = line.split()[1]
            found.update((ip, int(p)) for p in _GREPABLE_PORT.findall(line))
    return {
        "found": len(found & want.keys()),
        "missed": len(want.keys() - found),
        "invented": len(found - want.keys()),
    }


def run_aioscout(addresses: Sequence[str], spec: str, out: Path, extra: Sequence[str]) -> Run:
    cmd = [AIOSCOUT, "ports", *addresses, "-p", spec, "-o", str(out), "-s", *extra]
    return run_measured(cmd, timeout=120)


def run_nmap(addresses: Sequence[str], spec: str) -> Run:
    assert NMAP is not None
    cmd = [NMAP, "-sT", "-T4", "-n", "-Pn", "-p", spec, "-oG", "-", *addresses]
    return run_measured(cmd, timeout=120)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--ports", type=int, default=10_000)
    parser.add_argument("--filtered", type=int, default=1, help="ports a host that drop SYNs")
    parser.add_argument("--copies", type=int, default=1, help="ports a host of each kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--aioscout-args", default="", help="extra flags for aioscout ports")
    args = parser.parse_args(argv)
    farm, truth = start_farm(args.hosts, args.ports, args.filtered, args.copies)
    try:
        addresses = [str(a) for a in truth["addresses"]]  # type: ignore[attr-defined]
        want = {(ip, int(port)): svc for ip, port, _, svc in truth["open"]}  # type: ignore[attr-defined]
        spec = common_spec(truth)
        scanned = _ports_of(spec)
        want = {k: v for k, v in want.items() if k[1] in scanned}  # ports both tools scan
        pairs = len(addresses) * len(scanned)
        dropping = sum(1 for _, port in truth["filtered"] if port in scanned)  # type: ignore[attr-defined]
        log(
            f"farm: {len(addresses)} hosts, {len(want)} open ports, {dropping} that drop SYNs, "
            f"{pairs:,} host×port pairs"
        )
        rows = []
        walls: dict[str, list[float]] = {"aioscout": [], "nmap": []}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                out = Path(tmp) / f"ports-{r}.jsonl"
                ours = run_aioscout(addresses, spec, out, args.aioscout_args.split())
                s = score_aioscout(out, want) if ours.ok else {}
                rows.append(_row(f"aioscout ports (round {r + 1})", ours, s, len(want)))
                walls["aioscout"].append(ours.wall)
                log(f"round {r + 1}: aioscout {ours.wall:.2f} s")
                if NMAP is None:
                    continue
                theirs = run_nmap(addresses, spec)
                n = score_nmap(theirs.stdout, want) if theirs.ok else {}
                rows.append(_row(f"nmap -sT -T4 (round {r + 1})", theirs, n, len(want)))
                walls["nmap"].append(theirs.wall)
                log(f"round {r + 1}: nmap {theirs.wall:.2f} s")
        ours_med = statistics.median(walls["aioscout"])
        print(
            table(
                ["run", "wall", "peak RSS", "open found", "missed", "invented", "service right"],
                rows,
            )
        )
        if not walls["nmap"]:
            print(f"\nmedian wall: aioscout {ours_med:.2f} s; nmap is not installed")
            return
        nmap_med = statistics.median(walls["nmap"])
        print(
            f"\nmedian wall: aioscout {ours_med:.2f} s, nmap {nmap_med:.2f} s; "
            f"aioscout/nmap = {ours_med / nmap_med:.2f}"
        )
    finally:
        assert farm.stdin is not None
        farm.stdin.close()
        try:
            farm.wait(10)
        except subprocess.TimeoutExpired:
            farm.kill()


def _row(name: str, run: Run, s: dict[str, int], total: int) -> list[object]:
    if not run.ok:
        return [name, f"{run.wall:.2f} s", fmt_mb(run.peak_rss_mb), run.failure(), "", "", ""]
    service = f"{s['service_right']}/{total}" if "service_right" in s else "— (names none)"
    return [
        name,
        f"{run.wall:.2f} s",
        fmt_mb(run.peak_rss_mb),
        f"{s['found']}/{total}",
        s["missed"],
        s["invented"],
        service,
    ]


if __name__ == "__main__":
    main()

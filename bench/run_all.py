"""Run aioscout's benchmark suite and write bench/RESULTS.md.

Usage (``make bench`` runs the full suite)::

    bash scripts/isolated.sh .venv/bin/python bench/run_all.py [--quick] [--only http,dns] [-o FILE]
    .venv/bin/python bench/run_all.py --setup    # once, outside isolation: installs hprobe

Parts: ``http`` (many hosts), ``latency``, ``dns``, ``scaling``, ``tutorial``, ``ports``.
Every tool runs in its own process against a lab started on loopback for the
part, on the same target list; baselines are measured in the same run. A full
run (no ``--quick``, no ``--only``) writes bench/RESULTS.md; otherwise the
report goes to stdout and ``-o`` (default: a file under /tmp).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_bench
from _common import (
    BENCH_DIR,
    PYTHON,
    REPO,
    log,
    machine,
    port_free,
    resolv_conf_is_loopback,
    run_measured,
    table,
)

PARTS = ("http", "latency", "dns", "scaling", "tutorial", "ports")
NEEDS_LAB_DNS = {"latency", "tutorial"}
"""Parts whose targets are names (``http`` names its hosts by address: ip_farm.py)."""


def _version(cmd: Sequence[str]) -> str:
    if shutil.which(cmd[0]) is None and not Path(cmd[0]).exists():
        return "not installed"
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0][:100] if text else "unknown"


def _git() -> str:
    def git(*args: str) -> str:
        r = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return r.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src")
    return f"{head}{' (src/ has uncommitted changes)' if dirty else ''}"


def dns_part(quick: bool) -> str:
    """bench/dns_bench.py as it stands, its output included verbatim."""
    script = BENCH_DIR / "dns_bench.py"
    if not script.exists():
        return "### DNS\n\nbench/dns_bench.py is missing: skipped.\n"
    args = ["--names", "5000"] if quick else []
    cmd = [PYTHON, str(script), *args]
    log(f"DNS: {' '.join(cmd[1:])}")
    run = run_measured(cmd, timeout=900 if not quick else 300)
    shown = shlex.join([".venv/bin/python", "bench/dns_bench.py", *args])
    status = "" if run.ok else f"\n**Did not finish:** {run.failure()}\n"
    log(f"  DNS: {run.wall:.0f} s {'ok' if run.ok else run.failure()}")
    return (
        f"### DNS (bench/dns_bench.py)\n\nCommand: `{shown}` ({run.wall:.0f} s, "
        f"peak RSS of the whole benchmark process tree {run.peak_rss_mb:.0f} MB)\n{status}\n"
        f"```\n{run.stdout.strip() or run.stderr.strip()[-2000:]}\n```\n"
    )


def ports_part(quick: bool) -> str:
    """bench/ports_bench.py (aioscout ports against nmap -sT -T4), its output verbatim:
    on the default farm (a port a host drops SYNs) and on one where none does."""
    size = ["--hosts", "5", "--ports", "2000", "--rounds", "1"] if quick else []
    out = ["### Port scan (bench/ports_bench.py)\n"]
    for farm in ([], ["--filtered", "0"]):
        args = [*size, *farm]
        cmd = [PYTHON, str(BENCH_DIR / "ports_bench.py"), *args]
        log(f"ports: {' '.join(cmd[1:])}")
        run = run_measured(cmd, timeout=600)
        shown = shlex.join([".venv/bin/python", "bench/ports_bench.py", *args])
        status = "" if run.ok else f"\n**Did not finish:** {run.failure()}\n"
        out.append(
            f"Command: `{shown}` ({run.wall:.0f} s)\n"
            f"{status}\n```\n{run.stdout.strip() or run.stderr.strip()[-2000:]}\n```\n"
        )
    return "\n".join(out)


def plan(quick: bool) -> dict[str, Callable[[], str]]:
    """The parts with their sizes (``quick``: small sizes for a smoke run)."""
    if quick:
        return {
            "http": lambda: http_bench.bench_many_hosts(4, rounds=1),
            "latency": lambda: http_bench.bench_latency(2000, 400, concurrency=100),
            "dns": lambda: dns_part(True),
            "scaling": lambda: http_bench.bench_scaling([2_000, 10_000], [1, 2], budget=60),
            "tutorial": lambda: http_bench.bench_tutorial(300),
            "ports": lambda: ports_part(True),
        }
    return {
        "http": lambda: http_bench.bench_many_hosts(40),
        "latency": lambda: http_bench.bench_latency(20_000, 4_000, concurrency=1000),
        "dns": lambda: dns_part(False),
        "scaling": lambda: http_bench.bench_scaling(
            [10_000, 100_000, 1_000_000], [1, 2], budget=330
        ),
        "tutorial": lambda: http_bench.bench_tutorial(2_000),
        "ports": lambda: ports_part(False),
    }


def verdicts() -> str:
    """The figures of this run against the targets of the speed-and-scale issue."""
    f = http_bench.FIGURES
    rows: list[list[str]] = []

    def check(what: str, value: float | None, shown: str, target: str, ok: bool) -> None:
        verdict = "—" if value is None else ("met" if ok else "**not met**")
        rows.append([what, "not measured" if value is None else shown, target, verdict])

    for scheme in ("http", "https"):
        ours, plain, hp = (f.get(f"many.{scheme}.{k}") for k in ("ours", "plain", "hprobe"))
        what = f"many hosts, {scheme.upper()}: aioscout"
        r = ours / hp if ours and hp else None
        check(f"{what} / hprobe (/24 per call)", r, f"{r or 0:.2f}x", ">= 1.0x", (r or 0) >= 1.0)
        r = ours / plain if ours and plain else None
        check(f"{what} / plain script", r, f"{r or 0:.2f}x", ">= 3x", (r or 0) >= 3)
        right = f.get(f"many.{scheme}.ours.right")
        check(f"{what} right", right, f"{right or 0:.2%}", "100%", right == 1.0)
    lat = f.get("latency.ours")
    check("latency: aioscout wall / ideal", lat, f"{lat or 0:.2f}x", "<= 1.3x", (lat or 9) <= 1.3)
    by_host = f.get("latency.ours.by_host")
    check(
        "latency, URLs listed host by host: wall / ideal",
        by_host,
        f"{by_host or 0:.2f}x",
        "<= 1.3x",
        (by_host or 9) <= 1.3,
    )
    floor = f.get("latency.bare")
    if floor is not None:  # context for the line above, not a target
        rows.append(
            ["latency: the bare client's wall / ideal (the floor)", f"{floor:.2f}x", "—", "—"]
        )
    for w in (1, 2):
        big = max((int(k.split(".")[2]) for k in f if k.startswith(f"scale.w{w}.")), default=0)
        small = min((int(k.split(".")[2]) for k in f if k.startswith(f"scale.w{w}.")), default=0)
        if not big:
            continue
        mb = f[f"scale.w{w}.{big}.mb"]
        check(f"scaling -w {w}: peak RSS at {big:,}", mb, f"{mb:.0f} MB", "< 200 MB", mb < 200)
        growth = f[f"scale.w{w}.{big}.us"] / f[f"scale.w{w}.{small}.us"] - 1
        check(
            f"scaling -w {w}: cost/target {big:,} vs {small:,}",
            growth,
            f"{growth:+.0%}",
            "<= +10%",
            growth <= 0.10,
        )
    for key, records in f.items():
        if key.startswith("scale.unfinished."):
            wk, nk = key.split(".")[2:4]
            shown = f"{records:,.0f}/{int(nk):,} records, then killed"
            what = f"scaling -w {wk[1:]}: {int(nk):,} targets finish"
            check(what, records, shown, "all", False)
    if not rows:
        return ""
    return (
        "## Against the targets of the speed-and-scale issue\n\n"
        "(The issue's sizes are 10,240 hosts (here 40 whole /24s: 10,160 addresses), "
        "20,000 URLs at -c 1000 and 1M targets; a quick run uses smaller ones. "
        "DNS: see its section.)\n\n"
        + table(["check", "this run", "target", "verdict"], rows)
        + "\n"
    )


def header(argv: Sequence[str], parts: Sequence[str], quick: bool) -> str:
    """Command, machine and tool versions."""
    m = machine()
    hp = http_bench.HPROBE_ENV / "bin" / "python"
    aiohttp_cmd = [PYTHON, "-c", "import aiohttp; print(aiohttp.__version__)"]
    hp_cmd = [str(hp), "-c", "import importlib.metadata as m; print('hprobe', m.version('hprobe'))"]
    shown = shlex.join(
        ["bash", "scripts/isolated.sh", ".venv/bin/python", "bench/run_all.py", *argv]
    )
    return "\n".join(
        [
            "# aioscout benchmark results",
            "",
            f"Written by `bench/run_all.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            f"{' (quick sizes)' if quick else ''}. Parts: {', '.join(parts)}.",
            "",
            f"- Command: `{shown}` (`make bench` runs it without options)",
            f"- Commit: {_git()}",
            f"- Machine: {m['cores']} cores, {m['memory']} memory, {m['cpu']}; {m['os']}; "
            f"Python {m['python']}",
            f"- Tools: {_version(hp_cmd)}; aiohttp {_version(aiohttp_cmd)}",
            "- All traffic goes to servers this run started on 127.0.0.0/8. The many-hosts part "
            "names its hosts by address (IP literals, no DNS); elsewhere names resolve only "
            "through the lab DNS server (127.0.0.1:53): see bench/README.md.",
            "- Peak RSS: the largest of wait4's ru_maxrss and the summed RSS of the tool's process "
            "tree sampled every 50 ms (the lab's own memory is not counted).",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the selected parts, write the report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--only", default="", help=f"comma-separated parts of: {','.join(PARTS)}")
    ap.add_argument("-o", "--output", help="report file (default: see above)")
    ap.add_argument("--setup", action="store_true", help="install hprobe into its own venv, exit")
    args = ap.parse_args(argv)
    if args.setup:
        py, why = http_bench.hprobe_python()
        print(py or why)
        return 0 if py else 1
    parts = [p.strip() for p in args.only.split(",") if p.strip()] or list(PARTS)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if NEEDS_LAB_DNS & set(parts):
        if not resolv_conf_is_loopback():
            print(
                "run_all.py: /etc/resolv.conf names a resolver off this machine. Run it through "
                "scripts/isolated.sh (make bench), so every name resolves at the lab DNS on "
                "127.0.0.1:53.",
                file=sys.stderr,
            )
            return 2
        if not port_free(53):
            print("run_all.py: 127.0.0.1:53 is in use; the lab DNS needs it.", file=sys.stderr)
            return 2
    full = not args.quick and not args.only
    out = Path(args.output) if args.output else None
    if out is None:
        out = (
            BENCH_DIR / "RESULTS.md" if full else Path(tempfile.gettempdir()) / "aioscout-bench.md"
        )
    todo = plan(args.quick)
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    sections = [header(argv, parts, args.quick)]
    started = time.perf_counter()
    for part in parts:
        try:
            sections.append(todo[part]())
        except Exception as exc:  # one broken part must not lose the others' figures
            log(f"{part} failed: {exc!r}")
            sections.append(f"### {part}\n\n**Failed:** `{exc!r}`\n")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    sections.append(
        f"Total benchmark time: {time.perf_counter() - started:,.0f} s. Load average at the "
        f"start: {load_start}; at the end: {load} (other work on the machine adds noise).\n"
    )
    sections.insert(1, verdicts())
    report = "\n".join(sections)
    out.write_text(report)
    print(report)
    log(f"report written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

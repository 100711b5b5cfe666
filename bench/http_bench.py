"""HTTP benchmarks: many hosts, latency, scaling, and the tutorial's three approaches.

Each function starts what it needs (a lab or the address farm of ip_farm.py in
processes of their own, target files), runs every tool as a measured subprocess
on the same targets, checks every (status, title) against the ground truth of
the lab's catalogue, and returns a Markdown section for bench/RESULTS.md. See
bench/README.md for how targets are named and how each tool is fed.

Run one part alone::

    bash scripts/isolated.sh .venv/bin/python bench/http_bench.py many-hosts --blocks 4 --rounds 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    AIOSCOUT,
    BENCH_DIR,
    PYTHON,
    Outcome,
    Run,
    fmt_mb,
    fmt_rate,
    lab,
    log,
    read_jsonl,
    resolv_conf_is_loopback,
    run_measured,
    score,
    site_name,
    table,
    truth,
)
from ip_farm import HOSTS_PER_BLOCK, HTTP_PORT, HTTPS_PORT, Farm, ip_farm
from ip_farm import truth as farm_truth

from aioscout.cli._common import default_workers

LAB_DNS = "127.0.0.1:53"
"""The lab DNS server listens here so that tools without a resolver option find it too."""
HPROBE_ENV = Path(tempfile.gettempdir()) / "aioscout-bench-hprobe"
FIGURES: dict[str, float] = {}
"""Key figures of this run (for run_all.py's summary against the issue's targets)."""


@dataclass(slots=True)
class Result:
    """One tool's run over one target list."""

    tool: str
    setting: str
    n: int
    run: Run | None = None
    right: int = 0
    skipped: str = ""
    fed: str = ""
    farm_cpu: float | None = None

    @property
    def rate(self) -> float | None:
        """Targets per second (None when the run failed or was skipped)."""
        if self.run is None or not self.run.ok:
            return None
        return self.n / self.run.wall

    def status(self) -> str:
        """'n/n right', or why there is no figure."""
        if self.skipped:
            return f"skipped: {self.skipped}"
        if self.run is None:
            return "not run"
        if not self.run.ok:
            return self.run.failure()
        return f"{self.right:,}/{self.n:,} right"


def _write(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(f"{ln}\n" for ln in lines))
    return path


def _aioscout(targets: Path, out: Path, *extra: str, dns: str | None = LAB_DNS) -> list[str]:
    resolver = ["--resolver", dns] if dns else []
    return [AIOSCOUT, "http", "-l", str(targets), "-o", str(out), *resolver, "-s", *extra]


def _score_run(res: Result, run: Run, got: dict[str, Outcome], want: dict[str, Outcome]) -> Result:
    res.run = run
    res.right = score(got, want)[0]
    log(f"  {res.tool} {res.setting}: {run.wall:.2f} s, {run.peak_rss_mb:.0f} MB, {res.status()}")
    return res


# -- the tools ---------------------------------------------------------------


def run_aioscout(
    urls: Path,
    want: dict[str, Outcome],
    work: Path,
    *extra: str,
    setting: str,
    timeout: float,
    dns: str | None = LAB_DNS,
) -> Result:
    """``aioscout http`` over ``urls`` (names resolved at ``dns``, given as ``--resolver``)."""
    out = work / "aioscout.jsonl"
    out.unlink(missing_ok=True)
    run = run_measured(_aioscout(urls, out, *extra, dns=dns), timeout=timeout)
    got = read_jsonl(out, "input", "status", "title")
    return _score_run(Result("aioscout http", setting, len(want)), run, got, want)


def run_script(
    script: str,
    urls: Path,
    want: dict[str, Outcome],
    work: Path,
    *extra: str,
    label: str,
    setting: str,
    timeout: float,
) -> Result:
    """One of the baseline scripts in bench/ (same JSON Lines output)."""
    out = work / f"{Path(script).stem}.jsonl"
    out.unlink(missing_ok=True)
    cmd = [PYTHON, str(BENCH_DIR / script), "-l", str(urls), "-o", str(out), *extra]
    run = run_measured(cmd, timeout=timeout)
    got = read_jsonl(out, "url", "status", "title")
    return _score_run(Result(label, setting, len(want)), run, got, want)


def hprobe_python() -> tuple[str | None, str]:
    """The Python of the benchmark's own hprobe environment (created on first use), or why not."""
    py = HPROBE_ENV / "bin" / "python"
    check = [str(py), "-c", "import hprobe"]
    if py.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return str(py), ""
    if resolv_conf_is_loopback():
        return None, (
            "hprobe is not installed and the package index is out of reach here; "
            "run `.venv/bin/python bench/run_all.py --setup` once, outside scripts/isolated.sh"
        )
    log(f"installing hprobe into {HPROBE_ENV} (its own environment, not the project's)")
    base = shutil.which("python3") or sys.executable
    try:
        subprocess.run([base, "-m", "venv", "--clear", str(HPROBE_ENV)], check=True, timeout=120)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "hprobe"],
            check=True,
            timeout=300,
            capture_output=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"cannot install hprobe: {exc}"
    return str(py), ""


def run_hprobe(
    ranges: Path,
    port: int,
    want: dict[str, Outcome],
    work: Path,
    *,
    threads: int,
    timeout: float,
) -> Result:
    """hprobe from its own environment: one call per /24 of ``ranges``, at ``threads`` threads.

    This is hprobe at its best (see hprobe_run.py): a /24 per call, the calls one after
    the other; it stalls on larger ranges and on long lists of targets.
    """
    res = Result("hprobe", f"threads {threads}", len(want))
    py, why = hprobe_python()
    if py is None:
        res.skipped = why
        return res
    out = work / "hprobe.jsonl"
    out.unlink(missing_ok=True)
    cmd = [py, str(BENCH_DIR / "hprobe_run.py"), "-l", str(ranges), "-o", str(out)]
    run = run_measured([*cmd, "--port", str(port), "-c", str(threads)], timeout=timeout)
    return _score_run(res, run, read_jsonl(out, "url", "status", "title"), want)


# -- 1. many hosts -------------------------------------------------------------


def _median_run(runs: list[Result]) -> Result:
    """The run of median rate (a failed run counts as the slowest)."""
    return sorted(runs, key=lambda r: r.rate or 0.0)[len(runs) // 2]


def _on_farm(farm: Farm, fed: str, probe: Callable[[], Result]) -> Result:
    """``probe()``, with how the tool was fed and the farm's CPU seconds during the run."""
    before = farm.cpu_seconds()
    res = probe()
    res.fed = fed
    res.farm_cpu = farm.cpu_seconds() - before
    return res


def _farm_tools(
    farm: Farm, scheme: str, work: Path, want: dict[str, Outcome], concurrency: int
) -> dict[str, Callable[[], Result]]:
    """The runs of one scheme's table, by key: ours, ours.w1, hprobe, plain."""
    urls = list(want)
    targets = _write(work / f"{scheme}-urls.txt", urls)
    ranges = _write(work / "ranges.txt", farm.cidrs)
    port = HTTP_PORT if scheme == "http" else HTTPS_PORT
    timeout = max(60.0, len(urls) / 50)
    as_urls = f"{len(urls):,} URLs `{scheme}://IP/` in one list (`-l`)"
    as_ranges = f"{len(farm.cidrs)} calls, one `/24` each, `ports` [{port}]"
    c = str(concurrency)

    def ours(*extra: str, setting: str) -> Result:
        return run_aioscout(targets, want, work, *extra, setting=setting, timeout=timeout, dns=None)

    def hprobe() -> Result:
        return run_hprobe(ranges, port, want, work, threads=concurrency, timeout=timeout)

    def plain() -> Result:
        label, setting = "plain aiohttp + Semaphore", f"-c {c}"
        script = "plain_aiohttp.py"
        return run_script(
            script, targets, want, work, "-c", c, label=label, setting=setting, timeout=timeout
        )

    defaults = f"defaults (-w {default_workers(str(targets))})"
    return {
        "ours": lambda: _on_farm(farm, as_urls, lambda: ours(setting=defaults)),
        "ours.w1": lambda: _on_farm(farm, as_urls, lambda: ours("--workers", "1", setting="-w 1")),
        "hprobe": lambda: _on_farm(farm, as_ranges, hprobe),
        "plain": lambda: _on_farm(farm, as_urls, plain),
    }


def _farm_table(scheme: str, runs: dict[str, list[Result]]) -> str:
    """One scheme's table (each tool's median run) and its ratios."""
    best = {k: _median_run(v) for k, v in runs.items()}
    rows = [
        [
            r.tool,
            r.setting,
            r.fed,
            fmt_rate(r.rate),
            f"{r.run.wall:.2f} s" if r.run else "—",
            fmt_mb(r.run.peak_rss_mb if r.run else None),
            f"{r.run.cpu:.2f} s" if r.run else "—",
            f"{r.farm_cpu:.2f} s" if r.farm_cpu is not None else "—",
            r.status(),
        ]
        for r in (best["ours"], best["ours.w1"], best["hprobe"], best["plain"])
    ]
    header = ["tool", "setting", "fed", "hosts/s", "wall", "peak RSS", "CPU", "farm CPU"]
    header.append("correct")
    port = HTTP_PORT if scheme == "http" else HTTPS_PORT
    lines = [
        f"#### {scheme.upper()} (port {port}, {best['ours'].n:,} hosts)\n",
        table(header, rows),
    ]
    lines.append("")
    peers = (("hprobe", "hprobe (a /24 per call)"), ("plain", "plain aiohttp script"))
    for key, label in (("ours", "aioscout (defaults)"), ("ours.w1", "aioscout -w 1")):
        for peer, name in peers:
            ours, theirs = best[key].rate, best[peer].rate
            if ours and theirs:
                lines.append(f"- {label} / {name}: **{ours / theirs:.2f}x**")
    names = {"ours": "aioscout (defaults)", "ours.w1": "aioscout -w 1", "hprobe": "hprobe"}
    names["plain"] = "plain aiohttp script"
    for key, name in names.items():
        if len(runs[key]) > 1:
            shown = ", ".join(fmt_rate(r.rate) for r in runs[key])
            lines.append(f"- {name}, hosts/s in each of the {len(runs[key])} rounds: {shown}")
    return "\n".join(lines) + "\n"


def _farm_scheme(farm: Farm, scheme: str, work: Path, *, concurrency: int, rounds: int) -> str:
    """One scheme's section: every tool on the farm's ``scheme://address/`` URLs."""
    urls = farm.urls(scheme)
    want = farm_truth(urls, blocks=farm.blocks)
    tools = _farm_tools(farm, scheme, work, want, concurrency)
    log(f"{scheme.upper()}: {len(urls):,} hosts on {len(farm.cidrs)} /24s, {rounds} round(s)")
    runs: dict[str, list[Result]] = {k: [] for k in tools}
    order = list(tools)
    for k in range(rounds):  # each round starts with another tool
        for key in order[k % len(order) :] + order[: k % len(order)]:
            runs[key].append(tools[key]())
    for key, done in runs.items():
        r = _median_run(done)
        if r.rate is not None:
            FIGURES[f"many.{scheme}.{key}"] = r.rate
    # Right only if every round was.
    FIGURES[f"many.{scheme}.ours.right"] = min(r.right for r in runs["ours"]) / len(urls)
    return _farm_table(scheme, runs)


def bench_many_hosts(
    blocks: int, *, concurrency: int = 200, rounds: int = 3, farm_processes: int | None = None
) -> str:
    """Every host of ``blocks`` whole loopback /24s, over HTTP and over HTTPS: a CPU-bound race.

    Every tool runs ``rounds`` times, the first tool of each round changing; the table
    shows each one's median run and the text every round, since one run on a shared
    machine can be 10-20% off. The farm
    runs in ``farm_processes`` processes (default: one per core).
    """
    farm_processes = farm_processes or os.cpu_count() or 1
    hosts = blocks * HOSTS_PER_BLOCK
    log(f"HTTP many hosts: {hosts:,} hosts on {blocks} /24s")
    work = Path(tempfile.mkdtemp(prefix="aioscout-bench-http-"))
    try:
        with ip_farm(blocks, processes=farm_processes) as farm:
            parts = [
                _farm_scheme(farm, scheme, work, concurrency=concurrency, rounds=rounds)
                for scheme in ("http", "https")
            ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    first, last = farm.addresses[0], farm.addresses[-1]
    return (
        f"### HTTP and HTTPS, many hosts on loopback ({hosts:,} hosts, no latency)\n\n"
        f"The farm (`bench/ip_farm.py`): {blocks} whole /24s, `{farm.cidrs[0]}` to "
        f"`{farm.cidrs[-1]}`, hosts .1 to .254 of each ({first} to {last}: the addresses "
        "hprobe probes when given the ranges), each with its own generated lab page on "
        "port 80 (HTTP) and 443 (HTTPS, a self-signed certificate, not verified by any "
        f"tool); the lab's HTTP server in {farm.processes} processes of its own, its CPU "
        "seconds during each run shown as farm CPU (not charged to the tool; CPU is the "
        "tool's own, user plus system, all its processes). Every tool probes the same "
        "hosts over the same scheme, follows redirects (at most 10), at concurrency "
        f"{concurrency} (aioscout: its default, 256); names are IP literals, no DNS. "
        f"Correct: status and title equal to the farm's catalogue. Every tool runs {rounds} "
        "time(s), each round started by another tool; the tables show each one's median "
        "run.\n\n" + "\n".join(parts)
    )


# -- 2. latency ----------------------------------------------------------------


def _nginx_farm(
    work: Path, want: dict[str, Outcome], hosts: int, lab_port: int, latency: float
) -> tuple[subprocess.Popen[bytes], int]:
    """nginx answering the lab's sites after ``latency`` s: home titles, one not-found page."""
    import profile_http

    names = [site_name(i) for i in range(1, hosts + 1)]
    home = [want.get(f"http://{n}:{lab_port}/", (200, ""))[1] or "" for n in names]
    other = {o for u, o in want.items() if not u.endswith(f":{lab_port}/")}
    if len(other) > 1 or any(status != 404 for status, _ in other):
        raise SystemExit(f"nginx cannot stand in for the lab here: {sorted(map(str, other))}")
    missing = other.pop()[1] if other else None
    return profile_http.start_nginx(work, names, home, latency=latency, not_found=missing)


def bench_latency(urls_n: int, hosts: int, *, concurrency: int = 1000, latency: float = 0.1) -> str:
    """Every response delayed ``latency`` s: wall time against urls × latency / concurrency.

    The answers come from nginx with the echo module's ``echo_sleep`` when both
    are installed (the lab's names, titles and not-found pages; the lab still
    answers DNS): the lab's single Python process, sharing two cores with the
    prober, cannot keep a thousand delayed connections moving (10.8 s for what
    nginx serves in 4.3 s), so the figure would measure the server. Without
    nginx the lab serves, and the section says so.
    """
    import profile_http

    log(f"HTTP under latency: {urls_n:,} URLs over {hosts:,} hosts at -c {concurrency}")
    per_host = max(1, urls_n // hosts)
    paths = ["/"] + [f"/page-{k}" for k in range(1, per_host)]
    ideal = urls_n * latency / concurrency
    work = Path(tempfile.mkdtemp(prefix="aioscout-bench-lat-"))
    use_nginx = profile_http.nginx_with_echo()
    server = "nginx + echo_sleep" if use_nginx else "the lab (one Python process)"
    nginx = None
    try:
        with lab(sites=hosts, latency=0.0 if use_nginx else latency, dns_port=53) as state:
            port = state["http_port"]
            # Path-major order: the hosts interleave, as a real input list would.
            urls = [f"http://{site_name(i)}:{port}{p}" for p in paths for i in range(1, hosts + 1)]
            urls = urls[:urls_n]
            want = truth(urls, sites=hosts)
            if use_nginx:
                nginx, port = _nginx_farm(work, want, hosts, port, latency)
                urls = [u.replace(f":{state['http_port']}/", f":{port}/", 1) for u in urls]
                want = truth(urls, sites=hosts)
            targets = _write(work / "urls.txt", urls)
            # The same URLs host by host (a host's paths one after the other), as a
            # list built per host would be: its paths are in flight together.
            # (sorted() is stable: within a host the paths keep their order.)
            by_host = _write(work / "urls-by-host.txt", sorted(urls, key=lambda u: u.split("/")[2]))
            c = str(concurrency)
            timeout = max(60.0, ideal * 20)
            results = []
            for listed, order in ((targets, "paths interleaved"), (by_host, "host by host")):
                setting = f"-c {c}, {order}"
                results += [
                    run_aioscout(listed, want, work, "-c", c, setting=setting, timeout=timeout),
                    run_script(
                        "plain_aiohttp.py",
                        listed,
                        want,
                        work,
                        "-c",
                        c,
                        label="plain aiohttp + Semaphore",
                        setting=setting,
                        timeout=timeout,
                    ),
                    # The machine's floor for any Python client (see bare_client.py).
                    run_script(
                        "bare_client.py",
                        listed,
                        want,
                        work,
                        "-c",
                        c,
                        "-w",
                        str(os.cpu_count() or 1),
                        label="bare uvloop client (the floor)",
                        setting=setting,
                        timeout=timeout,
                    ),
                ]
    finally:
        if nginx is not None:
            profile_http.stop_nginx(nginx)
        shutil.rmtree(work, ignore_errors=True)
    keys = ("ours", "plain", "bare", "ours.by_host", "plain.by_host", "bare.by_host")
    for key, r in zip(keys, results, strict=True):
        if r.run is not None and r.run.ok:
            FIGURES[f"latency.{key}"] = r.run.wall / ideal
            FIGURES[f"latency.{key}.right"] = r.right / r.n
    rows = [
        [
            r.tool,
            r.setting,
            f"{r.run.wall:.2f} s" if r.run else "—",
            f"{r.run.wall / ideal:.2f}x" if r.run and r.run.ok else "—",
            fmt_mb(r.run.peak_rss_mb if r.run else None),
            r.status(),
        ]
        for r in results
    ]
    return (
        f"### HTTP under {latency * 1000:.0f} ms latency "
        f"({len(urls):,} URLs over {hosts:,} hosts)\n\n"
        f"Ideal: {len(urls):,} x {latency} s / {concurrency} = **{ideal:.2f} s**. "
        f"Server: {server}. The bare client (`bench/bare_client.py`: a process per core, "
        "no DNS, no timeouts, status and title only) is the floor: what it takes over "
        "the ideal is what this machine costs any Python client.\n\n"
        + table(["tool", "setting", "wall", "x ideal", "peak RSS", "correct"], rows)
        + "\n"
    )


# -- 3. scaling ----------------------------------------------------------------


def refused_targets(path: Path, n: int) -> Path:
    """``n`` distinct URLs on 127.1.0.0 upwards, port 9, where nothing listens."""
    with path.open("w") as f:
        for i in range(n):
            f.write(f"http://127.{1 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}:9/\n")
    return path


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def _scale_run(
    targets: Path, n: int, w: int, concurrency: int, timeout: float, work: Path
) -> tuple[list[object], float | None]:
    """One scaling run: its table row and its cost per target in seconds (None if killed)."""
    setting = f"-w {w} -c {concurrency}"
    out = work / "out.jsonl"
    out.unlink(missing_ok=True)
    cmd = [AIOSCOUT, "http", "-l", str(targets), "-o", str(out), "-s"]
    run = run_measured([*cmd, "-c", str(concurrency), "--workers", str(w)], timeout=timeout)
    records = _count_lines(out)
    note = f"{records:,}/{n:,} records"
    if not run.ok:
        note += f"; {run.failure()} ({records / run.wall:,.0f} records/s until then)"
        FIGURES[f"scale.unfinished.w{w}.{n}"] = records
    else:
        FIGURES[f"scale.w{w}.{n}.us"] = run.wall / n * 1e6
        FIGURES[f"scale.w{w}.{n}.mb"] = run.peak_rss_mb
    log(f"  {setting} n={n:,}: {run.wall:.1f} s, {run.peak_rss_mb:.0f} MB, {note}")
    row: list[object] = [
        setting,
        f"{n:,}",
        f"{run.wall:.1f} s",
        fmt_rate(n / run.wall) if run.ok else "—",
        f"{run.wall / n * 1e6:.0f}" if run.ok else "—",
        fmt_mb(run.peak_rss_mb),
        note,
    ]
    return row, run.wall / n if run.ok else None


def bench_scaling(
    sizes: Sequence[int], workers: Sequence[int], *, concurrency: int = 1000, budget: float = 300.0
) -> str:
    """Cost per target and peak RSS as the input grows, with 1 and N worker processes.

    Every size but the largest runs for every worker count. The largest runs once, for the
    worker count with the lowest cost per target at the size before, with ``budget`` seconds
    as its deadline (a run killed there still reports its progress and peak RSS).
    """
    log(f"scaling: sizes {list(sizes)}, workers {list(workers)}")
    work = Path(tempfile.mkdtemp(prefix="aioscout-bench-scale-"))
    rows: list[list[object]] = []
    *smaller, largest = sorted(sizes)
    try:
        costs: dict[int, float] = {}
        for w in workers:
            for n in smaller:
                row, cost = _scale_run(
                    refused_targets(work / "targets.txt", n), n, w, concurrency, budget, work
                )
                rows.append(row)
                if cost is not None:
                    costs[w] = cost
        best = min(costs, key=costs.__getitem__, default=workers[0])
        for w in workers:
            if w != best and smaller:
                why = f"runs once, for the fastest worker count (-w {best})"
                rows.append([f"-w {w} -c {concurrency}", f"{largest:,}", "—", "—", "—", "—", why])
        log(f"  n={largest:,}: -w {best}, deadline {budget:.0f} s")
        targets = refused_targets(work / "targets.txt", largest)
        rows.append(_scale_run(targets, largest, best, concurrency, budget, work)[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return (
        "### Scaling: input size and worker processes (connection refused targets)\n\n"
        "Targets are distinct `http://127.x.y.z:9/` URLs where nothing listens, so the cost\n"
        "measured is the engine's (input, scheduling, connect, error record, output),\n"
        "not a server's.\n\n"
        + table(
            ["aioscout", "targets", "wall", "targets/s", "µs/target", "peak RSS", "records"], rows
        )
        + "\n"
    )


# -- 4. the tutorial's comparison ----------------------------------------------


def bench_tutorial(n: int, *, threads: int = 100, concurrency: int = 200) -> str:
    """Thread pool vs process pool vs plain asyncio vs aioscout, on the same lab URLs."""
    log(f"tutorial comparison: {n:,} URLs")
    work = Path(tempfile.mkdtemp(prefix="aioscout-bench-tut-"))
    cores = os.cpu_count() or 1
    timeout = max(60.0, n / 10)
    try:
        with lab(sites=n, dns_port=53) as state:
            port = state["http_port"]
            urls = [f"http://{site_name(i)}:{port}/" for i in range(1, n + 1)]
            want = truth(urls, sites=n)
            targets = _write(work / "urls.txt", urls)
            results = [
                run_script(
                    "thread_pool.py",
                    targets,
                    want,
                    work,
                    "--threads",
                    str(threads),
                    label="thread pool (urllib)",
                    setting=f"{threads} threads",
                    timeout=timeout,
                ),
                run_script(
                    "process_pool.py",
                    targets,
                    want,
                    work,
                    "--processes",
                    str(cores),
                    label="process pool (urllib)",
                    setting=f"{cores} processes",
                    timeout=timeout,
                ),
                run_script(
                    "plain_aiohttp.py",
                    targets,
                    want,
                    work,
                    "-c",
                    str(concurrency),
                    label="plain asyncio (aiohttp + Semaphore)",
                    setting=f"-c {concurrency}",
                    timeout=timeout,
                ),
                run_aioscout(targets, want, work, setting="defaults", timeout=timeout),
            ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = results[0].rate
    rows = [
        [
            r.tool,
            r.setting,
            f"{r.run.wall:.2f} s" if r.run else "—",
            fmt_rate(r.rate),
            f"{r.rate / base:.2f}x" if r.rate and base else "—",
            fmt_mb(r.run.peak_rss_mb if r.run else None),
            r.status(),
        ]
        for r in results
    ]
    return (
        f"### The tutorial's comparison ({n:,} lab URLs, no latency)\n\n"
        + table(
            ["approach", "setting", "wall", "URLs/s", "vs thread pool", "peak RSS", "correct"], rows
        )
        + "\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one HTTP benchmark and print its section."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=("many-hosts", "latency", "scaling", "tutorial", "setup"))
    ap.add_argument("--blocks", type=int, default=40, help="many-hosts: /24s in the farm")
    ap.add_argument("--rounds", type=int, default=3, help="many-hosts: rounds of each tool")
    ap.add_argument(
        "--farm-processes", type=int, help="many-hosts: farm processes (default: 1 per core)"
    )
    args = ap.parse_args(argv)
    if args.part == "setup":
        py, why = hprobe_python()
        print(py or why)
    elif args.part == "many-hosts":
        print(bench_many_hosts(args.blocks, rounds=args.rounds, farm_processes=args.farm_processes))
    elif args.part == "latency":
        print(bench_latency(20_000, 4_000))
    elif args.part == "scaling":
        print(bench_scaling([10_000, 100_000], [1, 2]))
    else:
        print(bench_tutorial(2_000))
    return 0


if __name__ == "__main__":
    sys.exit(main())

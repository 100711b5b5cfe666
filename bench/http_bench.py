"""HTTP benchmarks: many hosts, latency, scaling, and the tutorial's three approaches.

Each function starts what it needs (a lab in its own process, target files),
runs every tool as a measured subprocess on the same target list, checks
every (status, title) against the lab's ground truth, and returns a Markdown
section for bench/RESULTS.md. See bench/README.md for how targets are named.

Run one part alone::

    bash scripts/isolated.sh .venv/bin/python bench/http_bench.py many-hosts --hosts 1024
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
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
    title_of,
    truth,
)

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


def _aioscout(targets: Path, out: Path, *extra: str) -> list[str]:
    return [
        AIOSCOUT,
        "http",
        "-l",
        str(targets),
        "-o",
        str(out),
        "--resolver",
        LAB_DNS,
        "-s",
        *extra,
    ]


def _score_run(res: Result, run: Run, got: dict[str, Outcome], want: dict[str, Outcome]) -> Result:
    res.run = run
    res.right = score(got, want)[0]
    log(f"  {res.tool} {res.setting}: {run.wall:.2f} s, {run.peak_rss_mb:.0f} MB, {res.status()}")
    return res


# -- the tools ---------------------------------------------------------------


def run_aioscout(
    urls: Path, want: dict[str, Outcome], work: Path, *extra: str, setting: str, timeout: float
) -> Result:
    """``aioscout http`` over ``urls`` (lab DNS through ``--resolver``)."""
    out = work / "aioscout.jsonl"
    out.unlink(missing_ok=True)
    run = run_measured(_aioscout(urls, out, *extra), timeout=timeout)
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
    urls: Path, want: dict[str, Outcome], work: Path, *, concurrency: int, timeout: float
) -> Result:
    """hprobe from its own environment, same URLs, at ``concurrency`` threads.

    hprobe 0.6.0 stalls for good when the targets outnumber about twice its ``threads``
    (500 targets at threads=200 never finish), so hprobe_run.py feeds it batches of
    ``threads`` targets.
    """
    res = Result("hprobe", f"threads {concurrency}, batches of {concurrency}", len(want))
    py, why = hprobe_python()
    if py is None:
        res.skipped = why
        return res
    out = work / "hprobe.jsonl"
    out.unlink(missing_ok=True)
    cmd = [py, str(BENCH_DIR / "hprobe_run.py"), "-l", str(urls), "-o", str(out)]
    run = run_measured([*cmd, "-c", str(concurrency)], timeout=timeout)
    return _score_run(res, run, read_jsonl(out, "url", "status", "title"), want)


def run_curl(
    urls: Sequence[str], want: dict[str, Outcome], work: Path, *, concurrency: int, timeout: float
) -> Result:
    """``curl --parallel``: bodies to files (titles read afterwards, outside the timing)."""
    res = Result("curl --parallel", f"--parallel-max {concurrency}", len(want))
    curl = shutil.which("curl")
    if curl is None:
        res.skipped = "curl not installed (apt-get install curl)"
        return res
    bodies = work / "curl-bodies"
    shutil.rmtree(bodies, ignore_errors=True)
    bodies.mkdir()
    config = work / "curl.cfg"
    _write(config, [f'url = "{u}"\noutput = "{bodies}/{i}"' for i, u in enumerate(urls)])
    cmd = [curl, "--parallel", "--parallel-max", str(concurrency), "-s", "--noproxy", "*"]
    cmd += ["--max-time", "10", "-K", str(config), "-w", "%{http_code} %{url_effective}\\n"]
    run = run_measured(cmd, timeout=timeout)
    index = {u: i for i, u in enumerate(urls)}
    got: dict[str, Outcome] = {}
    for line in run.stdout.splitlines():
        code, _, url = line.partition(" ")
        if url in index and code.isdigit() and code != "000":
            try:
                body = (bodies / str(index[url])).read_bytes()
            except OSError:
                body = b""
            got[url] = (int(code), title_of(body))
    shutil.rmtree(bodies, ignore_errors=True)
    return _score_run(res, run, got, want)


def run_wrk(host: str, port: int, *, connections: int, seconds: int) -> tuple[float | None, str]:
    """Requests/s that wrk gets from the lab with ``Connection: close`` (the server's ceiling)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None, "wrk not installed (apt-get install wrk)"
    threads = str(os.cpu_count() or 1)
    cmd = [wrk, "-t", threads, "-c", str(connections), "-d", f"{seconds}s", "--timeout", "5s"]
    cmd += ["-H", "Connection: close", "-H", f"Host: {host}:{port}", f"http://127.0.0.1:{port}/"]
    run = run_measured(cmd, timeout=seconds + 30)
    m = re.search(r"Requests/sec:\s*([\d.]+)", run.stdout)
    if m is None:
        return None, run.failure() or "no Requests/sec in wrk output"
    errors = re.search(r"Socket errors:.*|Non-2xx.*", run.stdout)
    log(f"  wrk: {float(m.group(1)):,.0f} req/s")
    return float(m.group(1)), errors.group(0) if errors else ""


# -- 1. many hosts -------------------------------------------------------------


def _median_run(runs: list[Result]) -> Result:
    """The run of median rate (a failed run counts as the slowest)."""
    return sorted(runs, key=lambda r: r.rate or 0.0)[len(runs) // 2]


def bench_many_hosts(
    hosts: int, *, concurrency: int = 200, wrk_seconds: int = 5, rounds: int = 3
) -> str:
    """10,240 distinct virtual hosts, no latency: a CPU-bound race between probers.

    aioscout (defaults) and the plain script, whose ratio is the headline, run
    ``rounds`` times, alternating; the table shows each one's median run and the
    text every round, since one run on a shared machine can be 10-20% off.
    """
    log(f"HTTP many hosts: {hosts:,} hosts")
    work = Path(tempfile.mkdtemp(prefix="aioscout-bench-http-"))
    timeout = max(60.0, hosts / 50)
    try:
        with lab(sites=hosts, dns_port=53) as state:
            port = state["http_port"]
            urls = [f"http://{site_name(i)}:{port}/" for i in range(1, hosts + 1)]
            want = truth(urls, sites=hosts)
            targets = _write(work / "urls.txt", urls)
            # What the defaults give for this input (one process per core when large).
            workers = default_workers(str(targets))

            def ours() -> Result:
                setting = f"defaults (-w {workers})"
                return run_aioscout(targets, want, work, setting=setting, timeout=timeout)

            def plain() -> Result:
                return run_script(
                    "plain_aiohttp.py",
                    targets,
                    want,
                    work,
                    "-c",
                    str(concurrency),
                    label="plain aiohttp + Semaphore",
                    setting=f"-c {concurrency}",
                    timeout=timeout,
                )

            results = [
                ours(),
                run_aioscout(
                    targets, want, work, "--workers", "1", setting="--workers 1", timeout=timeout
                ),
                plain(),
                run_hprobe(targets, want, work, concurrency=concurrency, timeout=timeout),
                run_curl(urls, want, work, concurrency=concurrency, timeout=timeout),
            ]
            ours_runs, plain_runs = [results[0]], [results[2]]
            for _ in range(rounds - 1):
                ours_runs.append(ours())
                plain_runs.append(plain())
            results[0], results[2] = _median_run(ours_runs), _median_run(plain_runs)
            ceiling, wrk_note = run_wrk(
                site_name(1), port, connections=concurrency, seconds=wrk_seconds
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        [
            r.tool,
            r.setting,
            fmt_rate(r.rate),
            fmt_mb(r.run.peak_rss_mb if r.run else None),
            f"{r.run.wall:.2f} s" if r.run else "—",
            r.status(),
        ]
        for r in results
    ]
    rows.append(
        [
            "wrk (server ceiling)",
            f"-c {concurrency}, Connection: close",
            fmt_rate(ceiling),
            "—",
            f"{wrk_seconds} s",
            wrk_note or "requests/s, one host",
        ]
    )
    base = results[2].rate
    ours = results[0].rate
    for key, r in (("ours", results[0]), ("plain", results[2]), ("hprobe", results[3])):
        if r.rate is not None:
            FIGURES[f"many.{key}"] = r.rate
            FIGURES[f"many.{key}.right"] = r.right / r.n
    # Right only if every round was.
    FIGURES["many.ours.right"] = min(r.right for r in ours_runs) / hosts
    lines = [
        f"### HTTP, many hosts on loopback ({hosts:,} hosts, no latency)\n",
        table(["tool", "setting", "hosts/s", "peak RSS", "wall", "correct"], rows),
        "",
    ]
    for r in (results[3], results[4]):
        if ours and r.rate:
            lines.append(
                f"- aioscout (defaults) / {r.tool} ({r.setting}): **{ours / r.rate:.2f}x**"
            )
        if results[1].rate and r.rate:
            ratio = results[1].rate / r.rate
            lines.append(f"- aioscout -w 1 / {r.tool} ({r.setting}): **{ratio:.2f}x**")
    if ours and base:
        lines.insert(3, f"- aioscout (defaults) / plain aiohttp script: **{ours / base:.2f}x**")
    if rounds > 1:
        pairs = [
            f"{fmt_rate(o.rate)} / {fmt_rate(p.rate)} = "
            + (f"{o.rate / p.rate:.2f}x" if o.rate and p.rate else "—")
            for o, p in zip(ours_runs, plain_runs, strict=True)
        ]
        lines.insert(
            4,
            f"- the {rounds} rounds (aioscout defaults / plain script, hosts/s; "
            f"the table shows the median of each): {'; '.join(pairs)}",
        )
    if results[1].rate and base:
        lines.append(f"- aioscout -w 1 / plain aiohttp script: **{results[1].rate / base:.2f}x**")
    if ours and ceiling:
        lines.append(f"- aioscout (defaults) reaches {ours / ceiling:.0%} of the server ceiling")
    return "\n".join(lines) + "\n"


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
    ap.add_argument("--hosts", type=int, default=10_240)
    args = ap.parse_args(argv)
    if args.part == "setup":
        py, why = hprobe_python()
        print(py or why)
    elif args.part == "many-hosts":
        print(bench_many_hosts(args.hosts))
    elif args.part == "latency":
        print(bench_latency(20_000, 4_000))
    elif args.part == "scaling":
        print(bench_scaling([10_000, 100_000], [1, 2]))
    else:
        print(bench_tutorial(2_000))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""DNS benchmark: names/s and recall of ``aioscout dns`` against peers, on loopback.

Usage::

    .venv/bin/python bench/dns_bench.py [--names 100000] [--quick] [--server lab|nsd]
        [--workers 2] [--concurrency 2000] [--plain-sample 100000]

``--names N`` bulk names exist in the zone and the wordlist has 10 words per
name (10% exist): the default is 1M words. ``--quick``: 10,000 names (100k
words) and no codec part. All in one run against the same server:

1. codec: the hand-written question encoder / answer parser against dnspython's
   ``dns.message`` (why the hot path is hand-written);
2. massdns, when a ``massdns`` binary is on PATH (never vendored; build it
   yourself and put it on PATH), default settings (``-s 10000``);
3. the ``aioscout dns`` command line with ``--workers 1`` and ``--workers N``;
4. a plain aiodns + Semaphore script (the tutorial's approach) on the first
   ``--plain-sample`` words.

Every tool runs as its own process, timed from spawn to exit (start-up
included) with its peak RSS (largest of ``wait4``'s and the sampled process
tree's); recall counts names found that exist, "not in zone" names reported
that do not. The result is a Markdown table with ratios to massdns and to the
plain script. ``--server nsd`` serves the zone from Debian's ``nsd``
(``apt-get install nsd``, with response rate limiting off) so the Python lab
server is not the bottleneck; ``lab`` runs the lab server in its own process.
Every run is bounded in time; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, TypeVar

import dns.message
import dns.rdatatype
import dns.rrset
import orjson
import uvloop
from _common import AIOSCOUT, fmt_mb, fmt_rate, machine, run_measured, table

from aioscout.dnsproto.wire import build_query, parse_response
from aioscout.lab.dns import DnsServer, LabZone, build_lab_zone

T = TypeVar("T")

DEADLINE = 300.0  # seconds any one part may take


def _run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return uvloop.run(coro_fn())


# -- 1. codec ---------------------------------------------------------------


def bench_codec(n: int = 50_000) -> None:
    name = "hogikoki.bulk.lab.test"
    t = time.perf_counter()
    for i in range(n):
        build_query(i & 0xFFFF, name, 1)
    ours_b = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(n):
        dns.message.make_query(name, "A", use_edns=0).to_wire()
    lib_b = n / (time.perf_counter() - t)
    q = dns.message.make_query(name, "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(name + ".", 60, "IN", "CNAME", "x.bulk.lab.test."))
    r.answer.append(dns.rrset.from_text("x.bulk.lab.test.", 60, "IN", "A", "127.0.0.1"))
    wire = r.to_wire()
    t = time.perf_counter()
    for _ in range(n):
        parse_response(wire)
    ours_p = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(n):
        dns.message.from_wire(wire)
    lib_p = n / (time.perf_counter() - t)
    print(f"codec  build: ours {ours_b:,.0f}/s  dnspython {lib_b:,.0f}/s  ({ours_b / lib_b:.1f}x)")
    print(f"codec  parse: ours {ours_p:,.0f}/s  dnspython {lib_p:,.0f}/s  ({ours_p / lib_p:.1f}x)")


# -- servers ----------------------------------------------------------------


def _lab_server_proc(bulk: int, ready: mp.Queue[int], stop: Event) -> None:
    async def main() -> None:
        async with DnsServer(build_lab_zone(bulk_names=bulk)) as srv:
            ready.put(srv.port)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, stop.wait, DEADLINE * 4)

    _run(main)


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def start_nsd(zone: LabZone, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Write the bulk zone as a zone file and serve it with nsd on 127.0.0.1."""
    port = _free_port()
    o = zone.origin
    lines = [
        f"$ORIGIN {o}.",
        "$TTL 60",
        f"@ IN SOA ns1.{o}. hostmaster.{o}. 1 3600 600 86400 60",
        f"@ IN NS ns1.{o}.",
        "ns1 IN A 127.0.0.53",
    ]
    for i in range(zone.bulk_names):
        label = f"{zone.label(i)}.bulk"
        if i % 50 == 49:
            lines.append(f"{label} IN CNAME {zone.label(i - 1)}.bulk")
        else:
            lines.append(f"{label} IN A {zone.bulk_address(i)}")
    (workdir / "lab.zone").write_text("\n".join(lines) + "\n")
    conf = f"""server:
    ip-address: 127.0.0.1
    port: {port}
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "{workdir}"
    pidfile: "{workdir}/nsd.pid"
    database: ""
    zonelistfile: "{workdir}/zone.list"
    xfrdfile: "{workdir}/xfrd.state"
    logfile: "{workdir}/nsd.log"
    verbosity: 0
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "{o}"
    zonefile: "lab.zone"
"""
    (workdir / "nsd.conf").write_text(conf)
    proc = subprocess.Popen(["nsd", "-d", "-c", str(workdir / "nsd.conf")])
    deadline = time.monotonic() + 60
    q = dns.message.make_query(f"ns1.{o}", "A").to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                s.sendto(q, ("127.0.0.1", port))
                s.recv(512)
                return proc, port
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("nsd exited; see nsd.log") from None
    proc.terminate()
    raise RuntimeError("nsd did not answer within 60 s")


# -- the tools, each its own measured process ------------------------------


@dataclass(slots=True)
class Row:
    """One tool's figures."""

    tool: str
    names: int
    wall: float
    found: int
    wrong: int
    existing: int
    rss_mb: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.names / max(self.wall, 1e-9)

    @property
    def recall(self) -> float:
        return self.found / max(1, self.existing)


def _plain_aiodns(port: int, domain: str, words_file: str, conc: int, out_file: str) -> None:
    """The tutorial's approach: aiodns, a Semaphore, a task per name (run as its own process)."""
    import aiodns

    words = Path(words_file).read_text().split()

    async def main() -> list[str]:
        res = aiodns.DNSResolver(
            nameservers=["127.0.0.1"], udp_port=port, tcp_port=port, timeout=1.0, tries=3
        )
        sem = asyncio.Semaphore(conc)
        found: list[str] = []

        async def one(name: str) -> None:
            async with sem:
                try:
                    await res.query_dns(name, "A")
                    found.append(name)
                except aiodns.error.DNSError:
                    pass

        async with asyncio.timeout(DEADLINE), asyncio.TaskGroup() as tg:
            for w in words:
                tg.create_task(one(f"{w}.{domain}"))
        return found

    Path(out_file).write_text("".join(n + "\n" for n in _run(main)))


def _score(found: set[str], existing: set[str]) -> tuple[int, int]:
    return len(found & existing), len(found - existing)


def run_aioscout(
    address: str, domain: str, words: Path, n: int, existing: set[str], workers: int, conc: int
) -> Row:
    out = words.parent / f"aioscout-w{workers}.jsonl"
    cmd = [AIOSCOUT, "dns", domain, "-w", str(words), "-r", address, "-o", str(out)]
    cmd += ["--workers", str(workers), "-c", str(conc), "--no-progress", "-s"]
    run = run_measured(cmd, timeout=DEADLINE)
    found: set[str] = set()
    if out.exists():
        with out.open("rb") as f:
            found = {orjson.loads(line)["name"] for line in f if line.strip()}
        out.unlink()
    hit, wrong = _score(found, existing)
    return Row(
        f"aioscout dns -w {workers}",
        n,
        run.wall,
        hit,
        wrong,
        len(existing),
        run.peak_rss_mb,
        run.failure(),
    )


def run_plain(
    port: int, domain: str, words: Path, n: int, zone: LabZone, conc: int, sample: int
) -> Row:
    part = words.parent / "sample.txt"
    with words.open() as src, part.open("w") as dst:
        chosen = [w for _, w in zip(range(sample), src, strict=False)]
        dst.writelines(chosen)
    existing = {f"{w.strip()}.{domain}" for w in chosen if zone.exists(f"{w.strip()}.{domain}")}
    out = words.parent / "plain.txt"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import dns_bench as b; "
        "b._plain_aiodns(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])"
    )
    cmd = [sys.executable, "-c", code, str(Path(__file__).parent), str(port), domain]
    cmd += [str(part), str(conc), str(out)]
    run = run_measured(cmd, timeout=DEADLINE)
    found = set(out.read_text().split()) if out.exists() else set()
    hit, wrong = _score(found, existing)
    return Row(
        f"aiodns + Semaphore({conc})",
        len(chosen),
        run.wall,
        hit,
        wrong,
        len(existing),
        run.peak_rss_mb,
        run.failure(),
    )


def run_massdns(port: int, domain: str, words: Path, n: int, existing: set[str]) -> Row | None:
    exe = shutil.which("massdns")
    if exe is None:
        return None
    work = words.parent
    names = work / "names.txt"
    with words.open() as src, names.open("w") as dst:
        dst.writelines(f"{w.strip()}.{domain}\n" for w in src)
    (work / "resolvers.txt").write_text(f"127.0.0.1:{port}\n")
    out = work / "massdns.out"
    cmd = [exe, "-r", str(work / "resolvers.txt"), "-t", "A", "-o", "S", "-w", str(out), str(names)]
    run = run_measured(cmd, timeout=DEADLINE)
    found: set[str] = set()
    if out.exists():
        with out.open() as f:
            found = {line.split()[0].rstrip(".") for line in f if line.strip()}
    hit, wrong = _score(found, existing)
    return Row(
        "massdns (-s 10000)", n, run.wall, hit, wrong, len(existing), run.peak_rss_mb, run.failure()
    )


def report(rows: list[Row]) -> str:
    """The figures as a Markdown table, with ratios to massdns and the plain script."""
    ref = next((r for r in rows if r.tool.startswith("massdns")), None)
    plain = next((r for r in rows if r.tool.startswith("aiodns")), None)
    body = []
    for r in rows:
        vs_m = f"{r.rate / ref.rate:.2f}x" if ref is not None else "—"
        vs_p = f"{r.rate / plain.rate:.1f}x" if plain is not None else "—"
        body.append(
            [
                r.tool,
                f"{r.names:,}",
                f"{r.wall:.1f}",
                fmt_rate(r.rate),
                f"{r.recall:.4%}",
                str(r.wrong),
                fmt_mb(r.rss_mb),
                vs_m,
                vs_p,
                r.note or "",
            ]
        )
    head = [
        "tool",
        "names",
        "wall s",
        "names/s",
        "recall",
        "not in zone",
        "peak RSS",
        "vs massdns",
        "vs aiodns",
        "note",
    ]
    return table(head, body)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--names", type=int, default=100_000, help="bulk names in the zone")
    ap.add_argument(
        "--missing", type=int, default=0, help="absent words (default: 9x names → 10%% exist)"
    )
    ap.add_argument(
        "--server", choices=("lab", "nsd"), default="nsd" if shutil.which("nsd") else "lab"
    )
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--concurrency", type=int, default=2000)
    ap.add_argument("--plain-sample", type=int, default=100_000, help="words for aiodns")
    ap.add_argument("--quick", action="store_true", help="10,000 names, no codec part")
    ap.add_argument("--skip-aiodns", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.names = min(args.names, 10_000)
    else:
        bench_codec()
    zone = build_lab_zone(bulk_names=args.names)
    missing = args.missing or args.names * 9
    domain = zone.bulk_domain
    existing = {f"{zone.label(i)}{zone._suffix}" for i in range(args.names)}
    m = machine()
    print(f"machine: {m.get('cores')} cores, {m.get('memory')}, {m.get('cpu')}")
    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        words = workdir / "words.txt"
        n = 0
        with words.open("w") as f:
            for w in zone.wordlist(missing=missing):
                f.write(w + "\n")
                n += 1
        print(
            f"zone: {args.names:,} names under {domain}; wordlist {n:,} words; "
            f"server {args.server}; aioscout -c {args.concurrency}"
        )
        stop = ctx.Event()
        proc_lab = None
        nsd = None
        if args.server == "nsd":
            nsd, port = start_nsd(zone, workdir)
        else:
            ready: mp.Queue[int] = ctx.Queue()
            proc_lab = ctx.Process(target=_lab_server_proc, args=(args.names, ready, stop))
            proc_lab.start()
            port = ready.get(timeout=120)
        address = f"127.0.0.1:{port}"
        rows: list[Row] = []
        try:
            mrow = run_massdns(port, domain, words, n, existing)
            if mrow is not None:
                rows.append(mrow)
            rows.extend(
                run_aioscout(address, domain, words, n, existing, w, args.concurrency)
                for w in sorted({1, args.workers})
            )
            if not args.skip_aiodns:
                rows.append(run_plain(port, domain, words, n, zone, 500, args.plain_sample))
        finally:
            stop.set()
            if proc_lab is not None:
                proc_lab.join(timeout=10)
                if proc_lab.is_alive():
                    proc_lab.terminate()
            if nsd is not None:
                nsd.terminate()
                nsd.wait(timeout=10)
    print()
    print(report(rows))
    if mrow is None:
        print("\nmassdns: not on PATH, skipped (never vendored; build it and put it on PATH).")


if __name__ == "__main__":
    main()
    sys.exit(0)

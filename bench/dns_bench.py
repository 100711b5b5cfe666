"""DNS benchmark: names/s and recall of aioscout's DNS prober against peers, on loopback.

Usage::

    .venv/bin/python bench/dns_bench.py [--names 100000] [--server lab|nsd] [--workers 2]

Parts, all in one run against the same server:

1. codec: the hand-written question encoder / answer parser against dnspython's
   ``dns.message`` (why the hot path is hand-written);
2. the lab server alone (queries/s it answers);
3. ``DnsProbe`` (FastResolver) in one process and in ``--workers`` processes;
4. a plain aiodns + Semaphore script (the tutorial's approach);
5. massdns, when a ``massdns`` binary is on PATH (never vendored).

``--server nsd`` serves the same zone from Debian's ``nsd`` (``apt-get install nsd``)
so the Python lab server is not the bottleneck; ``lab`` runs the lab server in
its own process. Every loop is bounded in count and time; traffic stays on 127.0.0.1.
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
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, TypeVar

import dns.message
import dns.rdatatype
import dns.rrset
import uvloop

from aioscout._config import DnsOptions
from aioscout.dnsproto.wire import build_query, parse_response
from aioscout.lab.dns import DnsServer, LabZone, build_lab_zone
from aioscout.probes.dns import DnsProbe

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


# -- 3. aioscout ------------------------------------------------------------


def _aioscout_part(
    address: str,
    domain: str,
    words: Sequence[str],
    concurrency: int,
    out: mp.Queue[tuple[int, float]],
) -> None:
    async def main() -> None:
        probe = DnsProbe(
            DnsOptions(resolvers=(address,), query_timeout=1.0, wildcard_checks=2), domains=[domain]
        )
        await probe.start()
        it = iter(words)
        found = 0

        async def worker() -> None:
            nonlocal found
            for w in it:
                for target in probe.expand(w):
                    if probe.is_found(await probe.probe(w, target)):
                        found += 1

        t = time.perf_counter()
        async with asyncio.timeout(DEADLINE), asyncio.TaskGroup() as tg:
            for _ in range(concurrency):
                tg.create_task(worker())
        out.put((found, time.perf_counter() - t))
        await probe.aclose()

    _run(main)


def bench_aioscout(
    address: str, domain: str, words: list[str], workers: int, conc: int
) -> tuple[int, float]:
    ctx = mp.get_context("fork")
    out: mp.Queue[tuple[int, float]] = ctx.Queue()
    shards = [words[k::workers] for k in range(workers)]
    procs = [
        ctx.Process(target=_aioscout_part, args=(address, domain, s, conc, out)) for s in shards
    ]
    t = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get(timeout=DEADLINE) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    wall = time.perf_counter() - t
    return sum(f for f, _ in results), max(
        max(d for _, d in results), 1e-9
    ) if workers == 1 else wall


# -- 4. aiodns + Semaphore --------------------------------------------------


def bench_aiodns(port: int, domain: str, words: list[str], conc: int) -> tuple[int, float]:
    import aiodns

    async def main() -> tuple[int, float]:
        res = aiodns.DNSResolver(
            nameservers=["127.0.0.1"], udp_port=port, tcp_port=port, timeout=1.0, tries=3
        )
        sem = asyncio.Semaphore(conc)
        found = 0

        async def one(w: str) -> None:
            nonlocal found
            async with sem:
                try:
                    await res.query_dns(f"{w}.{domain}", "A")
                    found += 1
                except aiodns.error.DNSError:
                    pass

        t = time.perf_counter()
        async with asyncio.timeout(DEADLINE), asyncio.TaskGroup() as tg:
            for w in words:
                tg.create_task(one(w))
        return found, time.perf_counter() - t

    return _run(main)


# -- 5. massdns -------------------------------------------------------------


def bench_massdns(
    port: int, domain: str, words: list[str], workdir: Path
) -> tuple[int, float] | None:
    exe = shutil.which("massdns")
    if exe is None:
        return None
    names = workdir / "names.txt"
    names.write_text("".join(f"{w}.{domain}\n" for w in words))
    (workdir / "resolvers.txt").write_text(f"127.0.0.1:{port}\n")
    t = time.perf_counter()
    subprocess.run(
        [
            exe,
            "-r",
            str(workdir / "resolvers.txt"),
            "-t",
            "A",
            "-o",
            "S",
            "-w",
            str(workdir / "m.out"),
            str(names),
        ],
        check=True,
        timeout=DEADLINE,
        capture_output=True,
    )
    dt = time.perf_counter() - t
    found = {
        line.split()[0].rstrip(".") for line in (workdir / "m.out").read_text().splitlines() if line
    }
    return len(found), dt


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
    ap.add_argument("--skip-aiodns", action="store_true")
    args = ap.parse_args(argv)

    bench_codec()
    zone = build_lab_zone(bulk_names=args.names)
    missing = args.missing or args.names * 9
    words = list(zone.wordlist(missing=missing))
    domain = zone.bulk_domain
    print(f"zone: {args.names:,} names; wordlist {len(words):,} words; server {args.server}")
    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
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
        try:
            for workers in sorted({1, args.workers}):
                found, dt = bench_aioscout(address, domain, words, workers, args.concurrency)
                print(
                    f"aioscout  workers={workers}: {len(words) / dt:>10,.0f} names/s  "
                    f"recall {found / args.names:.4%}  ({dt:.1f}s)"
                )
            if not args.skip_aiodns:
                sample = words[: min(len(words), 100_000)]
                n_exist = sum(1 for w in sample if zone.exists(f"{w}.{domain}"))
                found, dt = bench_aiodns(port, domain, sample, 500)
                print(
                    f"aiodns+Semaphore:    {len(sample) / dt:>10,.0f} names/s  "
                    f"recall {found / max(1, n_exist):.4%}  ({dt:.1f}s, {len(sample):,} words)"
                )
            m = bench_massdns(port, domain, words, workdir)
            if m is None:
                print("massdns: not on PATH, skipped")
            else:
                rate, recall = len(words) / m[1], m[0] / args.names
                print(f"massdns:             {rate:>10,.0f} names/s  recall {recall:.4%}")
        finally:
            stop.set()
            if proc_lab is not None:
                proc_lab.join(timeout=10)
                if proc_lab.is_alive():
                    proc_lab.terminate()
            if nsd is not None:
                nsd.terminate()
                nsd.wait(timeout=10)


if __name__ == "__main__":
    main()
    sys.exit(0)

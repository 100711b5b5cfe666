"""A farm of whole loopback /24s: one site per address, plain HTTP on port 80 and HTTPS on 443.

The HTTP benchmark's farm when hosts are named by address: ``blocks`` /24
ranges ``127.77.B.0/24`` (B = 0 .. blocks-1) with their 254 host addresses
``127.77.B.1`` to ``127.77.B.254`` each (what a scanner given the range
probes: hprobe leaves out .0 and .255) bound on port 80 (HTTP) and 443
(HTTPS), nothing else. Address number ``k`` (in the order of
:func:`farm_addresses`) serves the lab's generated site number ``k + 1``: the
lab's own :class:`~aioscout.lab.http.HttpServer` and
:class:`~aioscout.lab.http.Router` over its :class:`~aioscout.lab.sites.Catalogue`,
with a router that maps the request's ``Host`` (the address the client
dialled) to that site's name. The ground truth (:func:`truth`) comes from the
catalogue, never from a prober's code.

The farm runs in its own processes (``processes`` of them, each holding every
``processes``-th address on both ports), so that its CPU time is not charged
to the tool under test and a client that walks the addresses in order keeps
every farm process busy. It needs root (ports below 1024) and two file descriptors
per address it holds; it raises its own descriptor limit as far as the hard
limit allows, and starts more processes when one cannot hold its share.

Run alone (in the foreground until SIGTERM)::

    .venv/bin/python bench/ip_farm.py --blocks 2 --part 0 --parts 1 --state /tmp/farm.json
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aioscout.lab import Catalogue, HttpServer, Router, check_loopback
from aioscout.lab.certs import self_signed_certificate, server_context, write_pair
from aioscout.lab.http import _Prepared  # what Router.respond returns

FARM_NET = "127.77"
"""The farm's /24s are ``127.77.B.0/24``: off the lab's 127.0.0.x and the scaling part's 127.1+."""
HTTP_PORT = 80
HTTPS_PORT = 443
HOSTS = range(1, 255)
"""Host numbers used in every /24 (.1 to .254)."""
HOSTS_PER_BLOCK = len(HOSTS)
MAX_BLOCKS = 256
_CONNECTION_ROOM = 4096
"""Descriptors a farm process keeps for connections, beyond its listeners."""

Outcome = tuple[int | None, str | None]


def block_cidrs(blocks: int) -> list[str]:
    """The farm's /24 ranges, as CIDR strings."""
    if not 1 <= blocks <= MAX_BLOCKS:
        raise ValueError(f"blocks must be 1..{MAX_BLOCKS}")
    return [f"{FARM_NET}.{b}.0/24" for b in range(blocks)]


def farm_addresses(blocks: int) -> list[str]:
    """Every address of the farm, range by range, .1 to .254 within each."""
    block_cidrs(blocks)  # checks the count
    return [f"{FARM_NET}.{b}.{h}" for b in range(blocks) for h in HOSTS]


def site_number(address: str) -> int:
    """The generated lab site that ``address`` serves (1-based, in farm order)."""
    ip = int(ipaddress.ip_address(address))
    block, host = (ip >> 8) & 255, ip & 255
    if ip >> 16 != int(ipaddress.ip_address(f"{FARM_NET}.0.0")) >> 16 or host not in HOSTS:
        raise ValueError(f"{address} is not a farm address")
    return block * HOSTS_PER_BLOCK + host - HOSTS.start + 1


def site_name(i: int, origin: str = "lab.test") -> str:
    """The name of generated lab site number ``i`` (as the catalogue spells it)."""
    return f"site-{i:05d}.{origin}"


def truth(urls: Sequence[str], *, blocks: int) -> dict[str, Outcome]:
    """(status, title) for every ``scheme://address/`` URL of the farm, from the catalogue."""
    cat = Catalogue(generated=blocks * HOSTS_PER_BLOCK)
    out: dict[str, Outcome] = {}
    for url in urls:
        parts = urlsplit(url)
        name = site_name(site_number(parts.hostname or ""))
        exp = cat.expected(name, parts.scheme, path=parts.path or "/")
        out[url] = (exp.status, exp.title)
    return out


class AddressRouter(Router):
    """The lab's router, with the farm's addresses standing for their sites' names."""

    def __init__(self, catalogue: Catalogue, names: dict[bytes, bytes]) -> None:
        super().__init__(catalogue)
        self._names = names

    def respond(
        self,
        scheme: str,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        peer: str,
    ) -> _Prepared:
        """Answer as the site whose address the ``Host`` header names (others: unchanged)."""
        for k, (name, value) in enumerate(headers):
            if name.lower() == b"host":
                host = value.strip()
                if host.count(b":") == 1:
                    host = host.split(b":", 1)[0]
                site = self._names.get(host)
                if site is not None:
                    headers = [*headers[:k], (name, site), *headers[k + 1 :]]
                break
        return super().respond(scheme, method, target, headers, body, peer)


def _raise_fd_limit(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(addresses: list[str], blocks: int, state: Path, cert_dir: Path) -> None:
    check_loopback(addresses)
    cat = Catalogue(generated=blocks * HOSTS_PER_BLOCK)
    names = {a.encode(): site_name(site_number(a)).encode() for a in addresses}
    router = AddressRouter(cat, names)
    pair = write_pair(cert_dir, "farm", *self_signed_certificate(["lab.test", "*.lab.test"]))
    http = HttpServer(router, backlog=4096)
    https = HttpServer(router, scheme="https", ssl_context=server_context(pair), backlog=4096)
    router.http_port, router.https_port = HTTP_PORT, HTTPS_PORT
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await http.start(addresses, HTTP_PORT)
        await https.start(addresses, HTTPS_PORT)
        if len(http.hosts) != len(addresses) or len(https.hosts) != len(addresses):
            raise SystemExit("ip_farm: some farm addresses could not be bound")
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "addresses": len(addresses)}))
        os.replace(tmp, state)
        await stop.wait()
    finally:
        await https.aclose()
        await http.aclose()


def serve(blocks: int, part: int, parts: int, state: Path) -> None:
    """Serve this process's share of the farm until SIGTERM."""
    addresses = farm_addresses(blocks)[part::parts]
    _raise_fd_limit(2 * len(addresses) + 2 * _CONNECTION_ROOM)
    with tempfile.TemporaryDirectory(prefix="aioscout-farm-") as cert_dir:
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        with runner:
            runner.run(_serve(addresses, blocks, state, Path(cert_dir)))


@dataclass(frozen=True, slots=True)
class Farm:
    """A running farm (what :func:`ip_farm` yields)."""

    blocks: int
    processes: int
    pids: tuple[int, ...]

    @property
    def cidrs(self) -> list[str]:
        """Its /24 ranges."""
        return block_cidrs(self.blocks)

    @property
    def addresses(self) -> list[str]:
        """Every address it serves, range by range."""
        return farm_addresses(self.blocks)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the farm's processes have used so far."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids:
            with suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def urls(self, scheme: str) -> list[str]:
        """``scheme://address/`` for every address (ports 80 and 443 are the defaults)."""
        return [f"{scheme}://{a}/" for a in self.addresses]


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        with suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def processes_for(blocks: int, wanted: int) -> int:
    """``wanted``, or more when one process could not hold its share of the listeners.

    Each process needs two descriptors per address it holds (ports 80 and 443) plus
    room for connections, within the hard descriptor limit it inherits.
    """
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return max(1, wanted)
    listeners = 2 * blocks * HOSTS_PER_BLOCK
    return max(1, wanted, -(-listeners // max(1, hard - _CONNECTION_ROOM)))


@contextmanager
def ip_farm(blocks: int, *, processes: int = 2, timeout: float = 180.0) -> Iterator[Farm]:
    """Start the farm for the block and yield it.

    It runs in ``processes`` processes of its own, or more (:func:`processes_for`).
    """
    processes = processes_for(blocks, processes)
    work = Path(tempfile.mkdtemp(prefix="aioscout-farm-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for part in range(processes):
            cmd = [sys.executable, __file__, "--blocks", str(blocks)]
            cmd += ["--part", str(part), "--parts", str(processes)]
            cmd += ["--state", str(work / f"farm-{part}.json")]
            log = (work / f"farm-{part}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
                )
            )
        deadline = time.monotonic() + timeout
        while not all((work / f"farm-{k}.json").exists() for k in range(processes)):
            failed = [p for p in procs if p.poll() is not None]
            if failed or time.monotonic() > deadline:
                logs = " | ".join(
                    (work / f"farm-{k}.log").read_text(errors="replace").strip()[-300:]
                    for k in range(processes)
                )
                raise RuntimeError(f"the farm did not start: {logs}")
            time.sleep(0.1)
        yield Farm(blocks, processes, tuple(p.pid for p in procs))
    finally:
        _stop(procs)
        for f in work.iterdir():
            f.unlink()
        work.rmdir()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve one part of the farm in the foreground."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--part", type=int, default=0)
    ap.add_argument("--parts", type=int, default=1)
    ap.add_argument("--state", required=True, help="written once every address listens")
    args = ap.parse_args(argv)
    if not 0 <= args.part < args.parts:
        ap.error("--part must be in 0 .. --parts - 1")
    serve(args.blocks, args.part, args.parts, Path(args.state))
    return 0


if __name__ == "__main__":
    sys.exit(main())

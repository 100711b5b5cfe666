"""``aioscout ports``: a TCP connect scan with banners, one engine item per host.

Why one item per host: the engine numbers items for the checkpoint, and a
host with nothing open must still give exactly one record. So an input line
expands to hosts (a CIDR to each of its addresses), never to host×port
pairs: the ports of a host are iterated lazily inside its item (an array of
the port list, shared by every host), so 10 million pairs cost no more
memory than the hosts in flight. The item answers with a
:class:`~aioscout.Records` group — a record per open port (per port with
``report_all``), or the one record that says the host had none — written and
checkpointed together, so ``--resume`` neither repeats nor loses a port.

The ports of every host in flight are swept by one :class:`~._sweep.Sweep`
(non-blocking sockets straight on the loop); an open port is identified by
what it says (:mod:`._banners`) in a task of its host's item.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import dataclasses
import resource
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import orjson

from .._config import PortOptions, ScanConfig
from .._exceptions import ConfigError, InvalidTarget
from .._models import ErrorInfo, ErrorKind, PortResult, Records
from ..targets.parse import MAX_LINE, parse_http_target
from ..targets.ports import parse_ports
from ._addresses import AddressBook, is_ip
from ._banners import (
    Asked,
    Identity,
    client_hello,
    ehlo_request,
    http_request,
    identify,
    ping_request,
)
from ._errors import ProbeError
from ._sweep import HostScan, Opened, Sweep, abort

__all__ = [
    "PortTarget",
    "PortsProbe",
    "fd_budget",
    "make_ports_probe",
    "port_list",
    "share_budget",
    "top_ports",
]

_DEFAULT_TOP = 100
_ASK_SHARE = 4  # a quarter of the connections serves questions asked on connections of their own
_ASK_ASIDE = 0.3  # seconds such a question waits for its answer (plus three round trips)
_FD_RESERVE = 64  # descriptors kept for the loop, sinks, resolvers and workers' pipes
_WEB = {"http": "http", "tls": "https"}


class PortTarget(NamedTuple):
    """One host to scan: its name or address, a port the line named, an address known."""

    host: str
    port: int | None = None
    ip: str | None = None


def top_ports(count: int) -> list[int]:
    """The first ``count`` ports of the shipped ranking (``probes/data/top_ports.txt``).

    Past the ranked list the remaining ports follow in ascending order, so any
    ``count`` from 1 to 65535 is defined.
    """
    if not 1 <= count <= 65535:
        raise ConfigError(f"--top-ports {count}: give a number from 1 to 65535")
    text = (Path(__file__).parent / "data" / "top_ports.txt").read_text(encoding="utf-8")
    ranked: dict[int, None] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            ranked[int(line.split()[0])] = None
    out = list(ranked)[:count]
    if len(out) < count:
        seen = set(out)
        out += [p for p in range(1, 65536) if p not in seen][: count - len(out)]
    return out


def port_list(options: PortOptions) -> array.array[int]:
    """The ports every host is scanned on, in order, without repeats (2 bytes each)."""
    if options.ports:
        ports: dict[int, None] = {}
        for spec in options.ports:
            text = "1-65535" if spec.strip() == "-" else spec
            for scheme, port in parse_ports(text):
                if scheme is not None:
                    raise ConfigError(f"port item {scheme}:{port}: ports take no scheme")
                ports[port] = None
        return array.array("H", ports)
    return array.array("H", top_ports(options.top_ports or _DEFAULT_TOP))


def fd_budget(wanted: int) -> tuple[int, str | None]:
    """Raise the descriptor limit towards its hard cap; the connections that then fit.

    Returns the connections allowed (at most ``wanted``) and, when fewer, a
    one-line notice saying why.
    """
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted + _FD_RESERVE)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
    except (ValueError, OSError):  # pragma: no cover - no rlimits on this platform
        return wanted, None
    room = max(1, soft - _FD_RESERVE) if soft != resource.RLIM_INFINITY else wanted
    if room >= wanted:
        return wanted, None
    return room, (
        f"connections capped at {room} (the open-file limit is {soft}; "
        f"raise it with ulimit -n to allow {wanted})"
    )


def share_budget(options: PortOptions, workers: int) -> PortOptions:
    """Each of ``workers`` processes sweeps its own hosts: give it its share of the
    connections and of the rate, so the whole run keeps the budget asked for."""
    if workers <= 1:
        return options
    return dataclasses.replace(
        options,
        connections=max(1, options.connections // workers),
        rate=options.rate / workers,
    )


def make_ports_probe(options: PortOptions, config: ScanConfig) -> PortsProbe:
    """Build a :class:`PortsProbe` (``options`` already hold this process's share: see
    :func:`share_budget`; ``config`` is the engine's, hosts in flight)."""
    return PortsProbe(options)


def _from_json(line: str) -> PortTarget:
    """The host of a JSON record of another command (``url``, ``host``, ``name``, ``ip``)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise InvalidTarget("line starts with '{' but is not a JSON object") from None
    if not isinstance(record, dict):
        raise InvalidTarget("JSON line is not an object")
    ip = record.get("ip") if isinstance(record.get("ip"), str) else None
    if ip is None:  # a DNS record: its first address
        for answer in record.get("answers") or ():
            if isinstance(answer, dict) and answer.get("type") in ("A", "AAAA"):
                ip = str(answer.get("data"))
                break
    for key in ("host", "name", "url"):
        value = record.get(key)
        if isinstance(value, str) and value:
            target = next(iter(parse_http_target(value)))
            return PortTarget(target.host, None, ip if ip and is_ip(ip) else None)
    if ip and is_ip(ip):
        return PortTarget(ip, None, ip)
    raise InvalidTarget("JSON record has no host, name, url or ip")


class PortsProbe:
    """The connect scan with service identification (see the module docstring).

    Example::

        probe = PortsProbe(PortOptions(ports=("22,80,8000-8100",)))
        async with probe:
            records = await probe.probe("127.0.0.1", PortTarget("127.0.0.1"))
    """

    keeps_deadline = True  # every port is bounded; a host's item takes as long as its ports

    def __init__(self, options: PortOptions, *, notices: list[str] | None = None) -> None:
        self.options = options
        self.ports = port_list(options)
        self._book = AddressBook(options.resolvers, max(options.connect_timeout, 1.0))
        self._sweep: Sweep | None = None
        self._extra: asyncio.Semaphore | None = None
        self.notices = notices if notices is not None else []

    # -- the Probe protocol -------------------------------------------------------

    def expand(self, line: str) -> Iterable[PortTarget]:
        """A line's hosts: a name, an address, ``host:port``, a URL, a CIDR or a JSON record."""
        if len(line) > MAX_LINE:
            raise InvalidTarget(f"line longer than {MAX_LINE} characters")
        text = line.strip()
        if text.startswith("{"):
            return (_from_json(text),)
        return (PortTarget(t.host, t.port) for t in parse_http_target(text))

    def host_of(self, target: PortTarget) -> str:
        return target.host

    def identity(self, target: PortTarget) -> str:
        return f"{target.host} {target.port}"

    def failed(self, line: str, target: PortTarget | None, error: ErrorInfo) -> PortResult:
        return PortResult(
            input=line,
            host=target.host if target is not None else None,
            ip=target.ip if target is not None else None,
            port=target.port if target is not None else None,
            error=error,
        )

    async def start(self) -> None:
        if self._sweep is not None:
            return
        opts = self.options
        budget, notice = fd_budget(opts.connections)
        if notice is not None:
            self.notices.append(notice)
        extra = max(2, budget // _ASK_SHARE) if opts.banners and budget > 4 else 0
        self._extra = asyncio.Semaphore(max(1, extra))
        self._sweep = Sweep(
            budget - extra,
            opts.per_host,
            opts.connect_timeout,
            opts.retries,
            rate=opts.rate,
            on_notice=self.notices.append,
        )
        await self._book.start()

    async def aclose(self) -> None:
        if self._sweep is not None:
            self._sweep.close()
            self._sweep = None
        await self._book.aclose()

    async def __aenter__(self) -> PortsProbe:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def probe(self, line: str, target: PortTarget) -> Records | PortResult:
        """Scan ``target``'s ports; a record per open port, or one saying none was open."""
        sweep = self._sweep
        if sweep is None:
            raise RuntimeError("PortsProbe.start() was not awaited")
        started = time.perf_counter()
        try:
            ip = target.ip or (await self._book.lookup(target.host))[0]
        except ProbeError as exc:
            return self._failed(line, target, exc.info, started)
        ports: Iterator[int] = iter((target.port,)) if target.port else iter(self.ports)
        scan = HostScan(ip, ports, keep_all=self.options.report_all)
        found: list[PortResult] = []
        try:
            sweep.add(scan)
            async with asyncio.TaskGroup() as tg:
                while (opened := await scan.opened.get()) is not None:
                    tg.create_task(self._open_port(line, target, ip, scan, opened, found))
        finally:
            sweep.drop(scan)
        return self._records(line, target, ip, scan, found, started)

    # -- records ------------------------------------------------------------------

    def _failed(
        self, line: str, target: PortTarget, error: ErrorInfo, started: float
    ) -> PortResult:
        result = self.failed(line, target, error)
        result.time_ms = round((time.perf_counter() - started) * 1000, 1)
        return result

    def _records(
        self,
        line: str,
        target: PortTarget,
        ip: str,
        scan: HostScan,
        found: list[PortResult],
        started: float,
    ) -> Records:
        host = target.host
        out = list(found)
        if scan.keep_all:
            out += [
                PortResult(input=line, host=host, ip=ip, port=p, state="closed")
                for p in scan.closed_ports
            ]
            out += [
                PortResult(input=line, host=host, ip=ip, port=p, state="filtered")
                for p in scan.filtered_ports
            ]
        out.sort(key=lambda r: r.port or 0)
        if not out:
            error = None
            if scan.unreachable is not None and scan.closed == 0:
                error = ErrorInfo(ErrorKind.UNREACHABLE, f"{ip}: {scan.unreachable}")
            out.append(
                PortResult(
                    input=line,
                    host=host,
                    ip=ip,
                    state="closed" if scan.closed else "filtered",
                    time_ms=round((time.perf_counter() - started) * 1000, 1),
                    scanned=scan.scanned,
                    error=error,
                )
            )
        return Records(line, out)

    async def _open_port(
        self,
        line: str,
        target: PortTarget,
        ip: str,
        scan: HostScan,
        opened: Opened,
        found: list[PortResult],
    ) -> None:
        """Identify one open port, then give its socket back to the sweep."""
        assert self._sweep is not None
        try:
            ident = Identity(None, None)
            if self.options.banners:
                ident = await self._identify(target.host, ip, opened)
        finally:
            abort(opened.sock)
            self._sweep.release(scan)
        web = _WEB.get(ident.service or "")
        netloc = f"[{target.host}]" if ":" in target.host else target.host
        found.append(
            PortResult(
                input=line,
                host=target.host,
                ip=ip,
                port=opened.port,
                state="open",
                service=ident.service,
                banner=ident.banner,
                url=f"{web}://{netloc}:{opened.port}" if web else None,
                time_ms=opened.connect_ms,
            )
        )

    # -- identification -------------------------------------------------------------

    async def _read(self, sock: socket.socket, seconds: float) -> bytes | None:
        """What the peer sends within ``seconds`` (up to a line, or ``banner_bytes``).

        ``b""`` when it sent nothing; ``None`` when it closed or reset first.
        """
        loop = asyncio.get_running_loop()
        cap = self.options.banner_bytes
        data = b""
        try:
            async with asyncio.timeout(seconds):
                while len(data) < cap:
                    chunk = await loop.sock_recv(sock, cap - len(data))
                    if not chunk:
                        return data or None
                    data += chunk
                    if b"\n" in data and not data.startswith(b"HTTP/"):
                        break
                    if b"\r\n\r\n" in data:
                        break
        except TimeoutError:
            pass
        except OSError:
            return data or None
        return data

    async def _identify(self, host: str, ip: str, opened: Opened) -> Identity:
        """Listen first; then ask the way silent services answer (see :mod:`._banners`)."""
        opts = self.options
        sock = opened.sock
        loop = asyncio.get_running_loop()
        # Three round trips more for a distant host: a question on a new connection
        # (TLS, PING) costs two before its answer can arrive.
        until = loop.time() + max(opts.read_timeout, opts.banner_wait) + opened.connect_ms * 0.003
        greeting = await self._read(sock, min(opts.banner_wait, opts.read_timeout))
        if greeting is None:
            return Identity("tcpwrapped", None)
        if greeting:
            ident = identify(greeting)
            if ident.ambiguous:
                follow = await self._ask(sock, ehlo_request(), max(0.05, until - loop.time()))
                if follow:
                    return Identity(identify(follow, Asked.EHLO).service, ident.banner)
            return ident
        name = None if is_ip(host) else host
        # However late this loop got here (a busy sweep), the asking gets a fair share.
        left = max(min(0.5, opts.read_timeout), until - loop.time())
        # A question on a connection of its own is answered at once or not at all: its
        # connection is given back early, while this one listens to the end (a late greeting).
        aside = min(left, _ASK_ASIDE + opened.connect_ms * 0.003)
        port = opened.port
        async with asyncio.TaskGroup() as tg:
            asks = {
                tg.create_task(self._ask(sock, http_request(host), left)): Asked.HTTP,
                tg.create_task(self._ask_new(ip, port, ping_request(), aside)): Asked.PING,
                tg.create_task(self._ask_new(ip, port, client_hello(name), aside)): Asked.TLS,
            }
            ident = await _first_answer(asks)
            for task in asks:
                task.cancel()
        return ident

    async def _ask(self, sock: socket.socket, payload: bytes, seconds: float) -> bytes | None:
        """Send ``payload``; what the peer answers within ``seconds`` (see :meth:`_read`)."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(seconds):
                await loop.sock_sendall(sock, payload)
        except (OSError, TimeoutError):
            return None
        return await self._read(sock, seconds)

    async def _ask_new(self, ip: str, port: int, payload: bytes, seconds: float) -> bytes | None:
        """``payload`` on a connection of its own, answered within ``seconds``."""
        assert self._extra is not None
        opts = self.options
        loop = asyncio.get_running_loop()
        async with self._extra:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            try:
                sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            except OSError:
                return None
            try:
                started = loop.time()
                try:
                    async with asyncio.timeout(min(opts.connect_timeout, seconds)):
                        await loop.sock_connect(sock, (ip, port))
                except (OSError, TimeoutError):
                    return None
                return await self._ask(sock, payload, max(0.05, seconds - (loop.time() - started)))
            finally:
                abort(sock)


_TLS_GRACE = 0.1  # seconds an HTTP answer waits for a TLS one (an HTTPS port may answer both)


async def _first_answer(asks: dict[asyncio.Task[bytes | None], Asked]) -> Identity:
    """The first answer that names a service (HTTP gives TLS a moment); else the best banner.

    An HTTPS server may answer a plain request with an HTTP error as well as
    a ClientHello with a ServerHello: it is reported ``tls``.
    """
    pending = set(asks)
    answers: list[tuple[bytes | None, Asked]] = []
    deadline: float | None = None
    loop = asyncio.get_running_loop()
    while pending:
        timeout = None if deadline is None else max(0.0, deadline - loop.time())
        done, pending = await asyncio.wait(
            pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            break  # the grace for a TLS answer ran out
        answers.extend((task.result(), asks[task]) for task in done)
        ident = _pick(answers)
        if ident.service in (None, "tcpwrapped"):
            continue
        if ident.service != "http" or Asked.TLS not in {asks[t] for t in pending}:
            return ident
        deadline = loop.time() + _TLS_GRACE
    return _pick(answers, complete=not pending)


def _pick(answers: Sequence[tuple[bytes | None, Asked]], *, complete: bool = True) -> Identity:
    """The first answer that names a service (TLS first); else the first banner; else nothing.

    ``complete``: every ask has answered (only then may no answer mean ``tcpwrapped``).
    """
    idents = [identify(data, asked) for data, asked in answers if data]
    for ident in sorted(idents, key=lambda i: i.service != "tls"):
        if ident.service is not None:
            return ident
    for ident in idents:
        if ident.banner:
            return ident
    if complete and answers and all(data is None for data, _ in answers):
        return Identity("tcpwrapped", None)
    return Identity(None, None)

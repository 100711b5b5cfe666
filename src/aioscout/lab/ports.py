"""A port farm on loopback: hosts with known open ports and what each one says.

Each host is its own 127.x address; on it, one server per service kind
listens at a port drawn (seeded) from the host's range: SSH-, SMTP-, FTP-,
POP3-, IMAP-, MySQL- and MariaDB-like greeters, a Redis-like server that
answers ``PING``, HTTP, TLS, a silent port (accepts, says nothing), a slow
one (an SMTP greeting after a delay) and one that accepts and resets; with
``filtered``, ports that drop every SYN as a firewall would (a listener whose
one-place accept queue is kept full, so the kernel answers nothing). Before
anything is chosen, every port of every range is bound and closed again: a
port someone else holds (a server on 0.0.0.0 answers on every 127.x address)
is left out of the ranges the farm hands to scanners, so a scan of
:meth:`PortFarm.scan_ports` touches only ports this farm owns or has just
seen unbound. The ground truth (:attr:`PortFarm.expected`) comes from the
farm's own table, never from the code it checks.

``python -m aioscout.lab.ports --hosts 20 --ports 10000 [--filtered 1] [--copies 1]``
runs a farm and prints its ground truth as one JSON line, then serves until
stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import json
import random
import socket
import ssl
import struct
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from aioscout.lab.certs import self_signed_certificate, server_context, write_pair

__all__ = ["KINDS", "FarmPort", "PortFarm", "compact_ranges"]

_MYSQL_SALT = b"abcdefgh"


def _mysql_handshake(version: str) -> bytes:
    """A protocol-10 handshake packet as a MySQL or MariaDB server sends first."""
    body = (
        b"\x0a"
        + version.encode()
        + b"\x00"
        + struct.pack("<I", 7)
        + _MYSQL_SALT
        + b"\x00"
        + struct.pack("<H", 0xF7FF)
        + b"\x21"
        + struct.pack("<H", 2)
        + struct.pack("<H", 0x81FF)
        + b"\x15"
        + b"\x00" * 10
        + b"ijklmnopqrst\x00"
        + b"mysql_native_password\x00"
    )
    return struct.pack("<I", len(body))[:3] + b"\x00" + body


@dataclass(frozen=True, slots=True)
class _Kind:
    greeting: bytes | None  # sent on accept
    service: str | None  # what a correct scanner reports
    delay: float = 0.0  # seconds before the greeting


KINDS: dict[str, _Kind] = {
    "ssh": _Kind(b"SSH-2.0-OpenSSH_9.6p1 labssh\r\n", "ssh"),
    "smtp": _Kind(b"220 mx.lab.test ESMTP Postfix (lab)\r\n", "smtp"),
    "ftp": _Kind(b"220 (vsFTPd 3.0.5)\r\n", "ftp"),
    "ftp-plain": _Kind(b"220 lab file exchange ready\r\n", "ftp"),  # settled by EHLO
    "pop3": _Kind(b"+OK Dovecot (lab) ready.\r\n", "pop3"),
    "imap": _Kind(b"* OK [CAPABILITY IMAP4rev1] lab IMAP ready\r\n", "imap"),
    "mysql": _Kind(_mysql_handshake("8.0.36-lab"), "mysql"),
    "mariadb": _Kind(_mysql_handshake("5.5.5-10.11.6-MariaDB-lab"), "mysql"),
    "redis": _Kind(None, "redis"),
    "http": _Kind(None, "http"),
    "tls": _Kind(None, "tls"),
    "silent": _Kind(None, None),
    "slow": _Kind(b"220 slow.lab.test ESMTP slowpoke\r\n", "smtp", delay=0.5),
    "reset": _Kind(None, "tcpwrapped"),
}
"""Every service kind of the farm: what it sends first and the service it is."""

_HTTP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: labhttpd/1.0\r\nContent-Type: text/html\r\n"
    b"Content-Length: 40\r\nConnection: close\r\n\r\n<html><title>lab port</title></html>\r\n"
)
_SILENCE = 30.0  # seconds a silent or slow connection is kept before the farm closes it


class _Server(asyncio.Protocol):
    """One connection to a farm port, behaving as its kind says."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.greeted = KINDS[kind].delay == 0  # a slow server answers nothing before its greeting
        self.timers: list[asyncio.TimerHandle] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        loop = asyncio.get_running_loop()
        if self.kind == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return
        spec = KINDS[self.kind]
        if spec.greeting is not None:
            if spec.delay:
                self.timers.append(loop.call_later(spec.delay, self._greet, spec.greeting))
            else:
                transport.write(spec.greeting)
        self.timers.append(loop.call_later(_SILENCE, transport.close))

    def _greet(self, greeting: bytes) -> None:
        self.greeted = True
        self._write(greeting)
        self.data_received(b"")

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer = (self.buffer + data)[-4096:]
        kind = self.kind
        if not self.greeted:
            return
        if kind in ("http", "tls"):
            if b"\r\n\r\n" in self.buffer:
                self._write(_HTTP_RESPONSE)
                assert self.transport is not None
                self.transport.close()
            return
        while b"\n" in self.buffer:
            line, _, self.buffer = self.buffer.partition(b"\n")
            self._answer(line.strip())

    def _answer(self, line: bytes) -> None:
        word = line.split(b" ", 1)[0].upper()
        if self.kind == "redis":
            self._write(b"+PONG\r\n" if word == b"PING" else b"-ERR unknown command\r\n")
        elif self.kind in ("smtp", "slow"):
            self._write(
                b"250-mx.lab.test\r\n250 SIZE 1000000\r\n"
                if word == b"EHLO"
                else b"502 5.5.2 Error\r\n"
            )
        elif self.kind in ("ftp", "ftp-plain"):
            self._write(b"500 Unknown command.\r\n")
        elif self.kind == "pop3":
            self._write(b"-ERR Unknown command.\r\n")
        elif self.kind == "imap":
            self._write(b"* BAD Error in IMAP command.\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self.timers:
            timer.cancel()
        self.transport = None


@dataclass(frozen=True, slots=True)
class FarmPort:
    """One listening port of the farm: where, which kind, what a scanner should report."""

    ip: str
    port: int
    kind: str
    service: str | None


def compact_ranges(ports: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` as ``"1-3,7"`` (sorted, for a ``-p`` flag)."""
    out: list[str] = []
    run: list[int] = []
    for port in sorted(set(ports)):
        if run and port == run[-1] + 1:
            run.append(port)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [port]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


def _unbound(ip: str, ports: range) -> list[int]:
    """The ports of ``ports`` nothing holds on ``ip`` now (each bound, then closed)."""
    free = []
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    for port in ports:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((ip, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
        free.append(port)
    return free


class PortFarm:
    """``hosts`` addresses (``127.<net>.<n>.1``), each with every kind of :data:`KINDS`.

    Ports come from ``first_port`` to ``first_port + ports_per_host - 1`` on
    every host. Example::

        async with PortFarm(hosts=2, ports_per_host=300) as farm:
            spec = farm.scan_ports(farm.addresses[0])   # for -p
            truth = farm.expected                       # {(ip, port): service}
    """

    def __init__(
        self,
        hosts: int = 3,
        ports_per_host: int = 300,
        *,
        net: int = 201,
        first_port: int = 20000,
        kinds: Iterable[str] = tuple(KINDS),
        filtered: int = 0,
        seed: int = 19,
    ) -> None:
        self.kinds = tuple(kinds)
        self.filtered_per_host = filtered
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds: {sorted(unknown)}")
        if filtered < 0 or ports_per_host < len(self.kinds) + filtered + 1:
            raise ValueError("ports_per_host must leave room for every kind and a closed port")
        if not 1024 <= first_port <= 65535 - ports_per_host:
            raise ValueError("the port range must lie within 1024-65535")
        self.addresses = [f"127.{net}.{n}.1" for n in range(hosts)]
        for addr in self.addresses:
            if not ipaddress.ip_address(addr).is_loopback:
                raise ValueError(f"{addr} is not a loopback address")
        self.range = range(first_port, first_port + ports_per_host)
        self.seed = seed
        self.ports: list[FarmPort] = []
        self.filtered: list[tuple[str, int]] = []  # ports that drop SYNs: not open
        self.free: dict[str, list[int]] = {}
        self._held: list[socket.socket] = []  # the filtered ports' listeners and fillers
        self._servers: list[asyncio.Server] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def expected(self) -> dict[tuple[str, int], str | None]:
        """Every open port of the farm and the service a scanner should name there."""
        return {(p.ip, p.port): p.service for p in self.ports}

    def scan_ports(self, ip: str) -> str:
        """The ``-p`` spec for ``ip``: its range without the ports someone else held."""
        return compact_ranges(self.free[ip])

    def closed_ports(self, ip: str) -> list[int]:
        """Ports of ``ip``'s range that were unbound and hold no farm server."""
        taken = {p.port for p in self.ports if p.ip == ip}
        taken.update(port for host, port in self.filtered if host == ip)
        return [p for p in self.free[ip] if p not in taken]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(self.seed)
        tls = self._tls_context()
        try:
            for ip in self.addresses:
                self.free[ip] = _unbound(ip, self.range)
                chosen = rng.sample(self.free[ip], len(self.kinds) + self.filtered_per_host)
                for port in chosen[len(self.kinds) :]:
                    self._hold_full(ip, port)
                for kind, port in zip(self.kinds, chosen, strict=False):
                    server = await loop.create_server(
                        self._factory(kind),
                        ip,
                        port,
                        ssl=tls if kind == "tls" else None,
                        backlog=512,
                        reuse_address=False,
                    )
                    self._servers.append(server)
                    self.ports.append(FarmPort(ip, port, kind, KINDS[kind].service))
        except BaseException:
            await self.aclose()
            raise

    def _hold_full(self, ip: str, port: int) -> None:
        """A listener on ``ip:port`` that never accepts, its one-place queue filled:
        the kernel drops every further SYN, so the port times out (filtered)."""
        listener = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
        self._held.append(listener)
        listener.bind((ip, port))
        listener.listen(0)
        self._held.append(socket.create_connection((ip, port), timeout=2))
        self.filtered.append((ip, port))

    @staticmethod
    def _factory(kind: str) -> Callable[[], asyncio.Protocol]:
        return lambda: _Server(kind)

    def _tls_context(self) -> ssl.SSLContext:
        self._tmp = tempfile.TemporaryDirectory(prefix="aioscout-portfarm-")
        cert, key = self_signed_certificate(["ports.lab.test"], self.addresses)
        return server_context(write_pair(Path(self._tmp.name), "ports", cert, key))

    async def aclose(self) -> None:
        held, self._held = self._held, []
        for sock in held:
            sock.close()
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def truth(self) -> dict[str, object]:
        """The farm as JSON: addresses, each one's scan spec, and every open port."""
        return {
            "addresses": self.addresses,
            "scan": {ip: self.scan_ports(ip) for ip in self.addresses},
            "open": [[p.ip, p.port, p.kind, p.service] for p in self.ports],
            "filtered": [[ip, port] for ip, port in self.filtered],
        }


async def _serve(args: argparse.Namespace) -> None:
    farm = PortFarm(
        args.hosts,
        args.ports,
        net=args.net,
        first_port=args.first_port,
        kinds=tuple(KINDS) * args.copies,
        filtered=args.filtered,
    )
    async with farm:
        print(json.dumps(farm.truth()), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until stdin closes


def main(argv: list[str] | None = None) -> None:
    """Run a farm until stdin closes; print its ground truth first."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--ports", type=int, default=300)
    parser.add_argument("--net", type=int, default=201)
    parser.add_argument("--first-port", type=int, default=20000)
    parser.add_argument("--filtered", type=int, default=0, help="ports per host that drop SYNs")
    parser.add_argument("--copies", type=int, default=1, help="ports per host of each kind")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

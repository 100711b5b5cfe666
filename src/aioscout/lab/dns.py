"""The lab's authoritative DNS server: UDP and TCP on one loopback port.

It frames answers from a :class:`~aioscout.lab.dnszone.Zone` by hand (the zone
keeps rdata in wire form), so one process serves tens of thousands of queries
a second. It can misbehave on purpose: drop every n-th query (a lossy
resolver), poison the A answers of every name or of a fixed fraction of them,
or run one hostile mode (wrong query ID, cut
packets, garbage, oversized answers, SERVFAIL for all, silence).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import socket
import struct
from collections.abc import Iterable
from typing import Literal, cast

from .dnszone import (
    RCODE_NOERROR,
    RCODE_SERVFAIL,
    RTYPES,
    LabZone,
    Lookup,
    Zone,
    build_lab_zone,
    encode_name,
    lab_wordlist,
)

__all__ = [
    "RTYPES",
    "DnsServer",
    "HostileMode",
    "LabZone",
    "Lookup",
    "Zone",
    "build_lab_zone",
    "lab_wordlist",
    "poisoned",
]

HostileMode = Literal[
    "wrong_id", "truncated_packet", "malformed", "oversized", "servfail_all", "silent"
]
_MODES = ("wrong_id", "truncated_packet", "malformed", "oversized", "servfail_all", "silent")
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_TCP_IDLE = 10.0


def _parse_query(data: bytes) -> tuple[int, int, str, int, int, int] | None:
    """(id, flags, qname, qtype, end of question, udp payload size) or ``None``."""
    if len(data) < 17:
        return None
    qid, flags, qd, _an, _ns, ar = _HEADER.unpack_from(data)
    if flags & 0x8000 or qd != 1:
        return None
    i, labels = 12, []
    try:
        while True:
            n = data[i]
            if n == 0:
                i += 1
                break
            if n & 0xC0:
                return None
            labels.append(data[i + 1 : i + 1 + n])
            i += 1 + n
        qtype = (data[i] << 8) | data[i + 1]
        end = i + 4
        if end > len(data):
            return None
        size = 512
        if (
            ar
            and len(data) >= end + 11
            and data[end] == 0
            and data[end + 1 : end + 3] == b"\x00\x29"
        ):
            size = max(512, (data[end + 3] << 8) | data[end + 4])
        qname = b".".join(labels).decode("ascii").lower()
    except (IndexError, UnicodeDecodeError):
        return None
    return qid, flags, qname, qtype, end, size


def _poison_ip(name: str) -> bytes:
    h = hashlib.blake2s(name.encode(), digest_size=2).digest()
    return bytes([127, 66, h[0], h[1]])


def poisoned(name: str, fraction: float) -> bool:
    """Whether a server poisoning ``fraction`` of the names lies about ``name``.

    The choice depends on the name alone (the same name is always lied about
    or never), so a test knows which answers a partial liar rewrites.
    """
    if fraction >= 1.0:
        return True
    if fraction <= 0.0:
        return False
    h = hashlib.blake2s(name.lower().encode(), digest_size=4, person=b"poison").digest()
    return int.from_bytes(h, "big") < fraction * (1 << 32)


class _Responder:
    """Builds responses for a zone; shared by the UDP and TCP sides."""

    def __init__(
        self, zone: Zone, poison: float, mode: str | None, only: frozenset[str] | None = None
    ) -> None:
        self.zone = zone
        self.poison = poison  # the fraction of names whose A answers are fake (1.0: all)
        self.only = only  # when set, poison only these names
        self.mode = mode

    def _frame(
        self,
        query: bytes,
        qid: int,
        flags: int,
        qname: str,
        qend: int,
        look: Lookup,
        size: int | None,
        edns: bool,
    ) -> bytes:
        rcode = look.rcode if look.rcode is not None else RCODE_SERVFAIL
        out_flags = 0x8400 | (flags & 0x0100) | rcode
        body = bytearray(query[12:qend])
        names: dict[str, bytes] = {qname: b"\xc0\x0c"}
        for owner, rtype, ttl, rdata in (*look.answers, *look.authority):
            body += names.get(owner) or encode_name(owner)
            body += _RR.pack(rtype, 1, ttl, len(rdata))
            body += rdata
        an = len(look.answers)
        ar = 0
        if edns:
            body += b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00"
            ar = 1
        msg = _HEADER.pack(qid, out_flags, 1, an, len(look.authority), ar) + body
        if size is not None and len(msg) > size:
            tc = _HEADER.pack(qid, out_flags | 0x0200, 1, 0, 0, 0)
            return tc + query[12:qend]
        return msg

    def respond(self, data: bytes, udp: bool) -> bytes | None:
        """The response to one query, or ``None`` to stay silent."""
        parsed = _parse_query(data)
        if parsed is None:
            return None
        qid, flags, qname, qtype, qend, size = parsed
        edns = size > 512 or (len(data) > qend)
        mode = self.mode
        if mode == "silent":
            return None
        if mode == "servfail_all":
            look = Lookup(RCODE_SERVFAIL, [], [])
        elif mode == "oversized":
            rr = [(qname, 1, 60, bytes([127, 0, k >> 8 & 255, k & 255])) for k in range(4000)]
            look = Lookup(RCODE_NOERROR, rr, [])
            return self._frame(data, qid, flags, qname, qend, look, None, False)
        else:
            look = self.zone.lookup(qname, qtype)
            if look.rcode is None:
                return None
            if (
                self.poison
                and qtype == 1
                and (self.only is None or qname in self.only)
                and poisoned(qname, self.poison)
            ):
                fake = [(qname, 1, 60, _poison_ip(qname))]
                look = Lookup(RCODE_NOERROR, fake, [])
        msg = self._frame(data, qid, flags, qname, qend, look, size if udp else None, edns)
        if mode == "wrong_id":
            return struct.pack("!H", qid ^ 0x5A5A) + msg[2:]
        if mode == "truncated_packet":
            return msg[: max(14, len(msg) - 7)]
        if mode == "malformed":
            # the right ID and question, then five answers that are garbage: a reply
            # that is surely to this query and surely unreadable (garbage in the
            # question could read as another name, and such a reply is rightly ignored)
            garbage = hashlib.sha256(data).digest() * 2
            head = msg[:2] + b"\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00"
            return head + data[12:qend] + b"\xff" + garbage
        return msg


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, responder: _Responder, drop_every: int) -> None:
        self.responder = responder
        self.drop_every = drop_every
        self.count = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.count += 1
        if self.drop_every and self.count % self.drop_every == 0:
            return
        msg = self.responder.respond(data, True)
        if msg is not None and self.transport is not None:
            self.transport.sendto(msg, addr)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        return


class DnsServer:
    """An authoritative DNS server for one zone, UDP and TCP on the same loopback port.

    Example::

        async with DnsServer(build_lab_zone(bulk_names=1000)) as server:
            print(server.address)  # "127.0.0.1:PORT"

    ``drop_every=n`` silently drops every n-th UDP query; ``poison=True``
    answers every A question (existing or not) with a fake 127.66.x.x
    address, and ``poison=0.2`` does so for a fixed fifth of the names
    (:func:`poisoned`): their addresses rewritten, or an address invented
    where the name does not exist; ``poison_only`` restricts the lies to the
    names it lists (a liar that random names never catch); ``mode`` picks one
    hostile behaviour (see :data:`HostileMode`).
    UDP answers larger than 512 bytes (or the client's EDNS size) are sent
    truncated (TC bit); TCP answers are always complete.
    """

    def __init__(
        self,
        zone: Zone,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        drop_every: int = 0,
        poison: bool | float = False,
        poison_only: Iterable[str] | None = None,
        mode: HostileMode | None = None,
    ) -> None:
        if mode is not None and mode not in _MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(_MODES)}")
        if drop_every < 0:
            raise ValueError("drop_every must not be negative")
        if not 0.0 <= float(poison) <= 1.0:
            raise ValueError("poison is a fraction of the names, from 0 to 1")
        self.zone = zone
        self.host = host
        self._want_port = port
        self.port = 0
        self.drop_every = drop_every
        only = None if poison_only is None else frozenset(n.lower() for n in poison_only)
        self._responder = _Responder(zone, float(poison), mode, only)
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_proto: _UdpProtocol | None = None
        self._tcp: asyncio.Server | None = None

    @property
    def address(self) -> str:
        """``"host:port"``, the form resolvers are given in."""
        return f"{self.host}:{self.port}"

    @property
    def poison(self) -> float:
        """The fraction of names whose A answers are fake (0: none, 1.0: all); set it
        (``True``/``False`` or a fraction) to start or stop lying mid-run."""
        return self._responder.poison

    @poison.setter
    def poison(self, value: bool | float) -> None:
        self._responder.poison = float(value)

    @property
    def queries(self) -> int:
        """UDP queries received so far (dropped ones included)."""
        return self._udp_proto.count if self._udp_proto else 0

    async def start(self) -> None:
        """Bind UDP and TCP on the same port (a free one when ``port`` is 0)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        last: OSError | None = None
        for _ in range(50):
            usock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                    with contextlib.suppress(OSError):
                        usock.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
                usock.bind((self.host, self._want_port))
                port = usock.getsockname()[1]
                tcp = await asyncio.start_server(
                    self._serve_tcp, self.host, port, reuse_address=True
                )
            except OSError as exc:
                usock.close()
                last = exc
                if self._want_port:
                    raise
                continue
            usock.setblocking(False)
            self._tcp = tcp
            self.port = port
            transport, proto = await loop.create_datagram_endpoint(
                functools.partial(_UdpProtocol, self._responder, self.drop_every), sock=usock
            )
            self._udp, self._udp_proto = transport, proto
            return
        raise OSError(f"could not bind UDP and TCP on one port: {last}")

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(_TCP_IDLE):
                    head = await reader.readexactly(2)
                    data = await reader.readexactly(int.from_bytes(head, "big"))
                msg = self._responder.respond(data, False)
                if msg is None:
                    break
                writer.write(len(msg).to_bytes(2, "big") + msg)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def aclose(self) -> None:
        """Stop serving and release the port."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._tcp.wait_closed()
            self._tcp = None

    async def __aenter__(self) -> DnsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _serve_forever(port: int, bulk: int) -> None:  # pragma: no cover - manual use
    async with DnsServer(build_lab_zone(bulk_names=bulk), port=port) as srv:
        print(f"lab DNS on {srv.address}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    import sys

    asyncio.run(_serve_forever(int(sys.argv[1]) if len(sys.argv) > 1 else 5353, 100_000))

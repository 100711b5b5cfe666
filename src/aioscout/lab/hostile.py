"""A farm of hostile HTTP, TLS and TCP servers on loopback, one behaviour per port.

Each endpoint misbehaves in one way a prober meets on the internet (slowloris,
resets, endless or bomb bodies, broken framing, redirect traps, bad
certificates, non-HTTP services, late answers) and comes with an
:class:`Expected` saying what a correct prober reports for it under the
default :class:`aioscout.Limits` and :class:`aioscout.Timeouts`. The ground
truth is the farm's own data, never the output of aioscout's probes.

Example::

    async with HostileFarm() as farm:
        host, port = farm.endpoints["gzip_bomb"]
        expected = farm.expected["gzip_bomb"]  # success, status 200, title "Bomb"
        url = farm.url("gzip_bomb")
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from cryptography import x509
from cryptography.x509.oid import NameOID

from .._models import ErrorKind
from ._hostile_handlers import (
    BACKTRACK_TITLE,
    DRIP_AFTER_TITLE,
    PLAIN_ON_TLS_TITLE,
    REDIRECT_HOPS,
    TITLE_50MB_TEXT,
    Behaviours,
    Handler,
)
from .certs import CertPair, generate_lab_certificates, server_context

__all__ = ["CertFacts", "Expected", "HostileFarm"]

_READ_LIMIT = 32 * 1024  # largest request head a hostile server buffers


@dataclass(frozen=True, slots=True, kw_only=True)
class CertFacts:
    """What the certificate an endpoint presents really is (read back from the PEM)."""

    subject_cn: str
    self_signed: bool
    expired: bool
    names: tuple[str, ...]  # DNS and IP subject alternative names
    matches_host: bool  # whether the farm's host is among ``names``


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """What a correct prober reports for one endpoint (default limits and timeouts).

    ``kind`` is the error kind, or ``None`` for a success with ``status`` and
    ``title`` (or a title starting with ``title_prefix``). With ``partial`` the
    record carries ``kind`` *and* keeps the ``status``/``title`` read before the
    failure. ``verify_kind`` is the kind when certificates are verified against
    :attr:`HostileFarm.ca_file`. ``forbidden_url`` is a URL that must never be
    fetched; ``max_hits`` bounds the connections a correct prober makes to the
    endpoint for one probe. ``waits`` marks endpoints that only end by the
    prober's own timeout (tests should shorten it).
    """

    scheme: Literal["http", "https"]
    path: str = "/"
    kind: ErrorKind | None = None
    status: int | None = None
    title: str | None = None
    title_prefix: str | None = None
    partial: bool = False
    verify_kind: ErrorKind | None = None
    forbidden_url: str | None = None
    max_hits: int | None = 1
    waits: bool = False
    cert: CertFacts | None = None
    note: str = ""


def _http(
    note: str,
    kind: ErrorKind | None = None,
    *,
    path: str = "/",
    status: int | None = None,
    title: str | None = None,
    title_prefix: str | None = None,
    partial: bool = False,
    forbidden_url: str | None = None,
    max_hits: int = 1,
    waits: bool = False,
) -> Expected:
    return Expected(
        scheme="http",
        path=path,
        kind=kind,
        status=status,
        title=title,
        title_prefix=title_prefix,
        partial=partial,
        verify_kind=kind,
        forbidden_url=forbidden_url,
        max_hits=max_hits,
        waits=waits,
        note=note,
    )


def _catalogue(
    behaviours: Behaviours, certs: dict[str, CertFacts], late_delay: float
) -> dict[str, Expected]:
    timeout, reset, protocol = ErrorKind.TIMEOUT, ErrorKind.RESET, ErrorKind.PROTOCOL
    too_large, blocked = ErrorKind.TOO_LARGE, ErrorKind.BLOCKED_SCHEME
    table = {
        "canary": _http(
            "a normal page; forbidden ftp:/gopher: redirects point here", status=200, title="Canary"
        ),
        "slowloris": _http(
            "status line, then header bytes one per drip interval, forever", timeout, waits=True
        ),
        "slowloris_body": _http(
            "complete headers, then body bytes one per drip interval",
            timeout,
            waits=True,
            status=200,
            partial=True,
        ),
        "accept_never_answer": _http("accepts, reads, never writes", timeout, waits=True),
        "reset_at_once": _http("accepts, then RST (SO_LINGER 0)", reset),
        "close_mid_headers": _http("closes (FIN) in the middle of the header block", reset),
        "huge_body": _http(
            "Content-Length 4 GiB streamed as read; title at the start", status=200, title="Huge"
        ),
        "endless_chunked": _http(
            "chunked body that never ends; title in the first chunk", status=200, title="Endless"
        ),
        "gzip_bomb": _http(
            "10 GiB of zeros in ~10 MB of gzip; title first", status=200, title="Bomb"
        ),
        "deflate_bomb": _http(
            "10 GiB of zeros in ~10 MB of zlib deflate; title first", status=200, title="Bomb"
        ),
        "brotli_bomb": _http(
            "10 GiB of zeros in ~130 KB of brotli; title first", status=200, title="Bomb"
        ),
        "invalid_status_line": _http("'HTTP/1.1 OK two hundred'", protocol),
        "binary_garbage": _http("16 KiB of random bytes instead of a response", protocol),
        "redirect_loop": _http(
            "/a -> /b (relative) -> http://host/a (absolute), each a 302 'Moved'",
            ErrorKind.REDIRECT_LOOP,
            path="/a",
            status=302,
            title="Moved",
            partial=True,
            max_hits=2,
        ),
        "thirty_redirects": _http(
            f"/hop/{REDIRECT_HOPS} -> ... -> /hop/0 (200 'Arrived'), each a 302 'Hop'; more "
            "hops than the default max_redirects (10)",
            ErrorKind.TOO_MANY_REDIRECTS,
            path=f"/hop/{REDIRECT_HOPS}",
            status=302,
            title="Hop",
            partial=True,
            max_hits=11,
        ),
        "bad_chunk_size": _http(
            "valid first chunk with the title, then a non-hex chunk size",
            protocol,
            status=200,
            title="Chunk",
            partial=True,
        ),
        "bad_chunk_first": _http("the first chunk size is '-5'", protocol),
        "http10_no_length": _http(
            "HTTP/1.0, no Content-Length, body until close", status=200, title="HTTP/1.0"
        ),
        "title_50mb": _http(
            "<title> followed by 50 MiB of title text",
            status=200,
            title_prefix=TITLE_50MB_TEXT.strip(),
        ),
        "thousands_of_headers": _http("5,000 header lines", too_large),
        "huge_header": _http("one header of 100 KiB", too_large),
        "ssh_banner": _http("'SSH-2.0-OpenSSH_9.6' banner, then silence", protocol),
        "answer_after_timeout": _http(
            f"answers 200 'Too late' after {late_delay:g} s", timeout, waits=True
        ),
        "http_on_tls_port": _http(
            "TLS-only port hit with plain HTTP: nginx-style 400; a "
            "normal page 'TLS only' over https",
            status=400,
            title=PLAIN_ON_TLS_TITLE,
        ),
        "tls_stall": Expected(
            scheme="https",
            kind=timeout,
            verify_kind=timeout,
            waits=True,
            note="accepts TCP, never answers the ClientHello",
        ),
    }
    table.update(_second_round(behaviours))
    table["backtrack_page"] = _http(
        "150 KB of <script tags full of '<' after words fingerprints look for",
        status=200,
        title=BACKTRACK_TITLE,
    )
    for name, location in behaviours.scheme_redirects().items():
        table[name] = _http(
            f"302 'Moved' to {location}",
            blocked,
            status=302,
            title="Moved",
            partial=True,
            forbidden_url=location,
        )
    tls_pages = {
        "tls_ok": ("leaf", "TLS ok", "issued by the farm CA for the loopback addresses"),
        "tls_expired": ("expired", "Expired", "issued by the farm CA, expired"),
        "tls_wrong_host": ("wrong_host", "Wrong host", "issued by the farm CA for wrong.invalid"),
        "tls_self_signed": ("self_signed", "Self signed", "self-signed"),
    }
    for name, (cert, title, note) in tls_pages.items():
        verify = None if name == "tls_ok" else ErrorKind.TLS
        table[name] = Expected(
            scheme="https",
            status=200,
            title=title,
            verify_kind=verify,
            cert=certs[cert],
            note=f"certificate {note}",
        )
    return table


def _second_round(behaviours: Behaviours) -> dict[str, Expected]:
    """Interim responses, bodies cut by the deadline, failing redirects, odd header bytes."""
    timeout = ErrorKind.TIMEOUT
    ipv6 = ErrorKind.REFUSED if behaviours.dead_ports.get("ipv6") else ErrorKind.UNREACHABLE
    return {
        "endless_continue": _http(
            "an endless stream of '100 Continue' interim responses", ErrorKind.PROTOCOL
        ),
        "short_body": _http(
            "Content-Length 100000; a page titled 'Short' is sent, the rest never",
            timeout,
            status=200,
            title="Short",
            partial=True,
            waits=True,
        ),
        "drip_after_title": _http(
            f"a page titled 'Drip' at once, then one body byte every {DRIP_AFTER_TITLE:g} s",
            timeout,
            status=200,
            title="Drip",
            partial=True,
            waits=True,
        ),
        "redirect_refused": _http(
            "302 'Moved' to a loopback port that refuses connections",
            ErrorKind.REFUSED,
            status=302,
            title="Moved",
            partial=True,
        ),
        "redirect_ipv6": _http(
            "302 'Moved' to an IPv6 loopback port that refuses (unreachable without IPv6)",
            ipv6,
            status=302,
            title="Moved",
            partial=True,
        ),
        "close_mid_body": _http(
            "Content-Length 100000; a page titled 'Cut' is sent, then the connection closes",
            ErrorKind.PROTOCOL,
            status=200,
            title="Cut",
            partial=True,
        ),
        "huge_status_line": _http(
            "a status line with a 100 KiB reason phrase", ErrorKind.TOO_LARGE
        ),
        "header_control_byte": _http(
            "a header value holding SOH, ESC and DEL bytes; page 'Control'",
            status=200,
            title="Control",
        ),
    }


def _facts(pair: CertPair, host: str) -> CertFacts:
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(
            [*sans.get_values_for_type(x509.DNSName)]
            + [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
        )
    except x509.ExtensionNotFound:
        names = ()
    return CertFacts(
        subject_cn=str(cn[0].value) if cn else "",
        self_signed=cert.issuer == cert.subject,
        expired=cert.not_valid_after_utc < dt.datetime.now(dt.UTC),
        names=names,
        matches_host=str(ipaddress.ip_address(host)) in names,
    )


class HostileFarm:
    """Hostile servers on loopback, one behaviour per port (see the module docstring).

    Args:
        host: a loopback IP literal to bind (127.0.0.0/8 or ::1); anything else
            raises ValueError.
        late_delay: seconds ``answer_after_timeout`` waits before answering
            (default 11, just over the default total timeout of 10).
        drip: seconds between two bytes of the slowloris endpoints.
        hold: the longest any connection is kept open, in seconds.

    After :meth:`start`: ``endpoints`` (name -> (host, port)), ``expected``
    (name -> :class:`Expected`), ``hits`` (name -> connections accepted),
    ``requests`` (name -> request targets received, first 1000), ``ca_file``
    (the farm CA in PEM, for verified probes).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        late_delay: float = 11.0,
        drip: float = 1.0,
        hold: float = 300.0,
    ) -> None:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"HostileFarm binds only to a loopback IP literal, not {host!r}"
            ) from None
        if not address.is_loopback:
            raise ValueError(f"HostileFarm binds only to loopback, not {host!r}")
        if min(late_delay, drip, hold) <= 0:
            raise ValueError("late_delay, drip and hold must be positive")
        self.host = str(address)
        self.late_delay = late_delay
        self.hold = hold
        self.endpoints: dict[str, tuple[str, int]] = {}
        self.expected: dict[str, Expected] = {}
        self.hits: dict[str, int] = {}
        self.ca_file: str | None = None
        self._behaviours = Behaviours(host=self.host, drip=drip, late_delay=late_delay)
        self._cert_facts: dict[str, CertFacts] = {}
        self._servers: list[asyncio.Server] = []
        self._tasks: dict[asyncio.Task[Any], asyncio.Timeout] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._tmpdir: str | None = None
        self._closing = False
        self._dead: list[socket.socket] = []

    @property
    def requests(self) -> dict[str, list[str]]:
        """Request targets each endpoint received (the first 1000 per endpoint)."""
        return self._behaviours.requests

    def url(self, name: str, *, scheme: str | None = None) -> str:
        """The URL a prober should be given for endpoint ``name``."""
        host, port = self.endpoints[name]
        expected = self.expected[name]
        authority = f"[{host}]" if ":" in host else host
        return f"{scheme or expected.scheme}://{authority}:{port}{expected.path}"

    async def start(self) -> None:
        """Make the certificates and bind every endpoint on an ephemeral port."""
        if self._servers or self._closing:
            raise RuntimeError("HostileFarm.start() may be called once")
        try:
            await self._start_tls()
            self._bind_dead_ports()
            for name, handler in self._behaviours.handlers().items():
                server = await asyncio.start_server(
                    self._connection_handler(name, handler), self.host, 0, limit=_READ_LIMIT
                )
                self._servers.append(server)
                port = server.sockets[0].getsockname()[1]
                self.endpoints[name] = (self.host, port)
                self._behaviours.ports[name] = port
                self.hits[name] = 0
            self.expected = _catalogue(self._behaviours, self._cert_facts, self.late_delay)
        except BaseException:
            await self.aclose()
            raise

    async def _start_tls(self) -> None:
        self._tmpdir = tempfile.mkdtemp(prefix="aioscout-hostile-")
        ips = sorted({self.host, "127.0.0.1", "::1"})
        certs = await asyncio.to_thread(generate_lab_certificates, self._tmpdir, ips=ips)
        pairs = {
            "leaf": certs.leaf,
            "expired": certs.expired,
            "wrong_host": certs.wrong_host,
            "self_signed": certs.self_signed,
        }
        for key, pair in pairs.items():
            self._behaviours.contexts[key] = server_context(pair)
            self._cert_facts[key] = _facts(pair, self.host)
        self._behaviours.contexts["ok"] = self._behaviours.contexts["leaf"]
        self.ca_file = str(certs.ca.cert)

    def _bind_dead_ports(self) -> None:
        """Ports held bound but never listening: a connection to one is refused."""
        for which, host in (("refused", self.host), ("ipv6", "::1")):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.bind((host, 0))
            except OSError:
                sock.close()
                continue
            self._dead.append(sock)
            self._behaviours.dead_ports[which] = sock.getsockname()[1]

    def _connection_handler(
        self, name: str, handler: Handler
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self._closing:
                writer.transport.abort()
                return
            task = asyncio.current_task()
            assert task is not None
            self.hits[name] += 1
            self._writers.add(writer)
            try:
                async with asyncio.timeout(self.hold) as scope:
                    self._tasks[task] = scope
                    await handler(name, reader, writer)
            except (OSError, EOFError, asyncio.LimitOverrunError, ValueError):
                pass  # the client left, broke the protocol, the hold expired or the farm closed
            finally:
                self._tasks.pop(task, None)
                self._release(writer)

        return serve

    def _release(self, writer: asyncio.StreamWriter) -> None:
        """Close a connection: gracefully while serving, at once when the farm closes."""
        self._writers.discard(writer)
        if self._closing:
            writer.transport.abort()
        else:
            writer.close()

    async def aclose(self) -> None:
        """Stop listening, cancel every connection and remove the certificates."""
        self._closing = True
        for server in self._servers:
            server.close()
        await asyncio.sleep(0)  # let connections accepted just now start, see _closing, leave
        # Expiring each connection's hold ends its handler from inside (a TimeoutError it
        # handles), so no connection task is cancelled from outside.
        loop = asyncio.get_running_loop()
        while self._tasks:
            pending = dict(self._tasks)
            for scope in pending.values():
                scope.reschedule(loop.time())
            _, stuck = await asyncio.wait(pending, timeout=5.0)
            for task in stuck:  # pragma: no cover - a handler ignoring its deadline
                task.cancel()
            for task in pending:
                self._tasks.pop(task, None)
        for writer in list(self._writers):
            writer.transport.abort()
        for server in self._servers:
            await server.wait_closed()
        for sock in self._dead:
            sock.close()
        self._dead.clear()
        if self._tmpdir is not None:
            await asyncio.to_thread(shutil.rmtree, self._tmpdir, True)
            self._tmpdir = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

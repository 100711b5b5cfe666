"""The lab's HTTP/1.1 server: raw asyncio protocols, httptools parsing, virtual hosts.

Why not aiohttp.web: the benchmarks need tens of thousands of new connections
per second per core, so the hot path is a parser callback, a dict lookup of
pre-rendered response bytes and one ``transport.write``. Delays (the
server-wide ``latency`` and per-page delays) are timers (``call_later``), never
sleeping tasks; responses leave in request order even when pipelined requests
have different delays. The same class serves HTTPS when given an SSL context.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import ssl
import struct
from collections import deque
from collections.abc import Sequence
from html import escape
from http import HTTPStatus
from typing import Final, cast

import httptools
import orjson

from aioscout.lab.sites import Catalogue, Page, render_location

__all__ = ["DEFAULT_SERVER_HEADER", "HttpServer", "Router", "decode_echo"]

DEFAULT_SERVER_HEADER: Final = "aioscout-lab"
_WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_URL: Final = 8192
_MAX_HEADERS: Final = 100
_MAX_HEADER_BYTES: Final = 64 * 1024
_MAX_BODY: Final = 1024 * 1024
_MAX_PENDING: Final = 32
_CACHE_SIZE: Final = 65536
_ECHO_OPEN: Final = '<pre id="echo">'


class _Prepared:
    """A response ready to write: the head without its Connection line and blank line."""

    __slots__ = ("body", "body_delay", "delay", "head", "upgrade")

    def __init__(
        self,
        head: bytes,
        body: bytes,
        delay: float = 0.0,
        body_delay: float = 0.0,
        upgrade: bool = False,
    ) -> None:
        self.head = head
        self.body = body
        self.delay = delay
        self.body_delay = body_delay
        self.upgrade = upgrade


def _head(status: int, headers: Sequence[tuple[str, str]]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}\r\n"]
    lines.extend(f"{k}: {v}\r\n" for k, v in headers)
    return "".join(lines).encode("latin-1")


def _chunked(body: bytes, size: int = 1024) -> bytes:
    parts = [
        b"%x\r\n%b\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def _host_of(value: bytes) -> str:
    host = value.decode("latin-1").strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def decode_echo(body: bytes) -> dict[str, object]:
    """The request an echo page describes (the JSON inside its ``<pre id="echo">``).

    Keys: ``method``, ``path`` (with query), ``query``, ``host``, ``scheme``,
    ``headers`` (list of ``[name, value]``), ``cookies`` (dict), ``body``
    (text, undecodable bytes replaced), ``body_b64``, ``client`` (peer IP).
    """
    text = body.decode("utf-8")
    start = text.find(_ECHO_OPEN)
    if start < 0:
        data = orjson.loads(body)
    else:
        inner = text[start + len(_ECHO_OPEN) : text.index("</pre>", start)]
        for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):
            inner = inner.replace(entity, char)
        data = orjson.loads(inner)
    if not isinstance(data, dict):
        raise ValueError("not an echo body")
    return data


class Router:
    """Maps a request to response bytes using a :class:`Catalogue`; caches static pages.

    ``http_port``/``https_port`` fill Location templates; set them once the
    servers are bound (before the first request).
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.http_port = 0
        self.https_port = 0
        self._cache: dict[tuple[str, str, str, bool, bool], _Prepared] = {}

    def respond(
        self,
        scheme: str,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        peer: str,
    ) -> _Prepared:
        """The response to one request (``target`` is the raw request-target)."""
        host_b = b""
        accept_gzip = False
        for name, value in headers:
            lname = name.lower()
            if lname == b"host":
                host_b = value
            elif lname == b"accept-encoding" and b"gzip" in value:
                accept_gzip = True
        host = _host_of(host_b)
        path = target.decode("latin-1")
        if path.startswith(("http://", "https://")):  # absolute-form (proxy style)
            rest = path.split("://", 1)[1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        head_only = method == b"HEAD"
        site = self.catalogue.get(host)
        if site is not None and site.dynamic == "echo":
            return self._echo(scheme, method, path, host, headers, body, peer, head_only)
        if site is not None and site.dynamic == "websocket" and path.split("?")[0] == "/ws":
            return self._websocket(headers)
        key = (scheme, host, path, head_only, accept_gzip)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        page = self.catalogue.page_for(scheme, host, path)
        prepared = self._prepare(scheme, page, head_only, accept_gzip)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = prepared
        return prepared

    def _prepare(self, scheme: str, page: Page, head_only: bool, accept_gzip: bool) -> _Prepared:
        body = page.body
        headers: list[tuple[str, str]] = []
        if not any(k.lower() == "server" for k, _ in page.headers):
            headers.append(("Server", DEFAULT_SERVER_HEADER))
        if page.content_type is not None:
            headers.append(("Content-Type", page.content_type))
        if page.location is not None:
            loc = render_location(page.location, scheme, self.http_port, self.https_port)
            headers.append(("Location", loc))
        if page.gzip:
            headers.append(("Vary", "Accept-Encoding"))
            if accept_gzip:
                body = gzip.compress(body, mtime=0)
                headers.append(("Content-Encoding", "gzip"))
        if page.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
            body = _chunked(body)
        else:
            headers.append(("Content-Length", str(len(body))))
        headers.extend(page.headers)
        return _Prepared(
            _head(page.status, headers),
            b"" if head_only else body,
            delay=page.delay,
            body_delay=page.body_delay,
        )

    def _echo(
        self,
        scheme: str,
        method: bytes,
        path: str,
        host: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        peer: str,
        head_only: bool,
    ) -> _Prepared:
        cookies: dict[str, str] = {}
        pairs = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers]
        for name, value in pairs:
            if name.lower() == "cookie":
                for part in value.split(";"):
                    key, sep, val = part.strip().partition("=")
                    if sep:
                        cookies[key] = val
        data = orjson.dumps(
            {
                "method": method.decode("latin-1"),
                "path": path,
                "query": path.partition("?")[2],
                "host": host,
                "scheme": scheme,
                "headers": pairs,
                "cookies": cookies,
                "body": body.decode("utf-8", "replace"),
                "body_b64": base64.b64encode(body).decode("ascii"),
                "client": peer,
            },
            option=orjson.OPT_INDENT_2,
        )
        if path.startswith("/json"):
            out, ctype = data, "application/json"
        else:
            doc = (
                '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>echo</title>\n'
                f"</head>\n<body>\n{_ECHO_OPEN}{escape(data.decode(), quote=False)}</pre>\n"
                "</body>\n</html>\n"
            )
            out, ctype = doc.encode(), "text/html; charset=utf-8"
        head = _head(
            200,
            [
                ("Server", DEFAULT_SERVER_HEADER),
                ("Content-Type", ctype),
                ("Content-Length", str(len(out))),
                ("Cache-Control", "no-store"),
            ],
        )
        return _Prepared(head, b"" if head_only else out)

    def _websocket(self, headers: list[tuple[bytes, bytes]]) -> _Prepared:
        key = b""
        upgrade = False
        for name, value in headers:
            lname = name.lower()
            if lname == b"sec-websocket-key":
                key = value.strip()
            elif lname == b"upgrade" and value.strip().lower() == b"websocket":
                upgrade = True
        if not (upgrade and key):
            body = b"Upgrade Required\n"
            head = _head(
                426,
                [
                    ("Server", DEFAULT_SERVER_HEADER),
                    ("Upgrade", "websocket"),
                    ("Content-Type", "text/plain"),
                    ("Content-Length", str(len(body))),
                ],
            )
            return _Prepared(head, body)
        accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode()
        head = _head(
            101,
            [
                ("Server", DEFAULT_SERVER_HEADER),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Accept", accept),
            ],
        )
        return _Prepared(head, b"", upgrade=True)


class _WebSocket:
    """Echoes text and binary frames, answers pings and closes (RFC 6455, unfragmented)."""

    __slots__ = ("_buf", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._buf = bytearray()

    def _send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        self._transport.write(head + payload)

    def feed(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if len(buf) > _MAX_BODY:
            self._transport.close()
            return
        while len(buf) >= 2:
            opcode, length, pos = buf[0] & 0x0F, buf[1] & 0x7F, 2
            masked = buf[1] & 0x80
            if length == 126:
                if len(buf) < 4:
                    return
                (length,), pos = struct.unpack_from("!H", buf, 2), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                (length,), pos = struct.unpack_from("!Q", buf, 2), 10
            end = pos + (4 if masked else 0) + length
            if len(buf) < end:
                return
            payload = bytes(buf[end - length : end])
            if masked:
                mask = buf[pos : pos + 4]
                payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
            del buf[:end]
            if opcode == 0x8:
                self._send(0x8, payload[:2])
                self._transport.close()
                return
            if opcode == 0x9:
                self._send(0xA, payload)
            elif opcode in (0x1, 0x2):
                self._send(opcode, payload)


class _Slot:
    __slots__ = ("body_sent", "close", "handle", "prepared", "ready")

    def __init__(self, prepared: _Prepared, close: bool) -> None:
        self.prepared = prepared
        self.close = close
        self.ready = False
        self.body_sent = False
        self.handle: asyncio.TimerHandle | None = None


class _RequestError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Connection(asyncio.Protocol):
    """One client connection: parse, route, answer in order, honour keep-alive."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._router = server.router
        self._loop = server.loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = bytearray()
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._body = bytearray()
        self._pending: deque[_Slot] = deque()
        self._paused = False
        self._closing = False
        self._ws: _WebSocket | None = None
        self._peer = ""
        self._last = 0.0
        self._idle: asyncio.TimerHandle | None = None

    # -- transport events ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else ""
        self._server.connections.add(self)
        self._server.accepted += 1
        self._last = self._loop.time()
        self._idle = self._loop.call_later(self._server.idle_timeout, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._server.connections.discard(self)
        if self._idle is not None:
            self._idle.cancel()
        for slot in self._pending:
            if slot.handle is not None:
                slot.handle.cancel()
        self._pending.clear()

    def data_received(self, data: bytes) -> None:
        self._last = self._loop.time()
        if self._ws is not None:
            self._ws.feed(data)
            return
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgraded(data[exc.args[0] :])
        except httptools.HttpParserError as exc:
            cause = exc.__context__ if isinstance(exc.__context__, _RequestError) else None
            self._fail(cause.status if cause else 400)

    def _upgraded(self, rest: bytes) -> None:
        if self._ws is not None:
            self._ws.feed(rest)
        else:  # an Upgrade this server does not accept: answer, then close
            self._closing = True

    def abort(self) -> None:
        """Drop the connection now (server shutdown)."""
        if self._transport is not None:
            self._transport.abort()

    # -- parser callbacks ----------------------------------------------------

    def on_message_begin(self) -> None:
        self._url.clear()
        self._headers = []
        self._header_bytes = 0
        self._body.clear()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > _MAX_URL:
            raise _RequestError(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._header_bytes += len(name) + len(value)
        if len(self._headers) > _MAX_HEADERS or self._header_bytes > _MAX_HEADER_BYTES:
            raise _RequestError(431)

    def on_body(self, body: bytes) -> None:
        self._body += body
        if len(self._body) > _MAX_BODY:
            raise _RequestError(413)

    def on_message_complete(self) -> None:
        if self._closing or self._transport is None:
            return
        server = self._server
        server.requests += 1
        parser = self._parser
        prepared = self._router.respond(
            server.scheme,
            parser.get_method(),
            bytes(self._url),
            self._headers,
            bytes(self._body),
            self._peer,
        )
        if prepared.upgrade:
            if parser.should_upgrade() and not self._pending:
                self._transport.write(prepared.head + b"Connection: Upgrade\r\n\r\n")
                self._ws = _WebSocket(self._transport)
            else:
                self._fail(400)
            return
        close = not (server.keep_alive and parser.should_keep_alive()) or parser.should_upgrade()
        slot = _Slot(prepared, close)
        self._pending.append(slot)
        if close:
            self._closing = True
        if len(self._pending) >= _MAX_PENDING and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        delay = server.latency + prepared.delay
        if delay > 0:
            slot.handle = self._loop.call_later(delay, self._mark_ready, slot)
        else:
            slot.ready = True
            self._flush()

    # -- writing -------------------------------------------------------------

    def _mark_ready(self, slot: _Slot) -> None:
        slot.handle = None
        slot.ready = True
        self._flush()

    def _send_body(self, slot: _Slot) -> None:
        slot.handle = None
        slot.body_sent = True
        self._flush()

    def _flush(self) -> None:
        transport = self._transport
        pending = self._pending
        while pending and transport is not None:
            slot = pending[0]
            if not slot.ready or slot.handle is not None:
                return
            p = slot.prepared
            if slot.body_sent:
                transport.write(p.body)
            else:
                conn = b"Connection: close\r\n" if slot.close else b"Connection: keep-alive\r\n"
                head = p.head + conn + self._server.extra_header + b"\r\n"
                if p.body_delay > 0:
                    transport.write(head)
                    slot.handle = self._loop.call_later(p.body_delay, self._send_body, slot)
                    return
                transport.write(head + p.body)
            pending.popleft()
            if slot.close:
                transport.close()
                return
        if self._paused and transport is not None and len(pending) < _MAX_PENDING // 2:
            self._paused = False
            transport.resume_reading()

    def _fail(self, status: int) -> None:
        self._closing = True
        transport = self._transport
        if transport is None:
            return
        if not self._pending:
            body = f"{status} {HTTPStatus(status).phrase}\n".encode()
            head = _head(
                status,
                [
                    ("Server", DEFAULT_SERVER_HEADER),
                    ("Content-Type", "text/plain"),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                ],
            )
            transport.write(head + b"\r\n" + body)
        transport.close()

    def _check_idle(self) -> None:
        transport = self._transport
        if transport is None:
            return
        idle = self._server.idle_timeout
        remaining = self._last + idle - self._loop.time()
        if remaining <= 0 and not self._pending and self._ws is None:
            transport.close()
            return
        self._idle = self._loop.call_later(max(remaining, idle / 4), self._check_idle)


class HttpServer:
    """An HTTP/1.1 (or, with ``ssl_context``, HTTPS) virtual-host server on loopback.

    ``latency`` seconds are added before every response (and announced in an
    ``X-Lab-Latency`` header); ``keep_alive=False`` closes every connection
    after one response; idle keep-alive connections close after
    ``idle_timeout`` seconds.

    Example::

        server = HttpServer(Router(Catalogue()))
        port = await server.start(["127.0.0.1"])
        ...
        await server.aclose()
    """

    def __init__(
        self,
        router: Router,
        *,
        scheme: str = "http",
        ssl_context: ssl.SSLContext | None = None,
        latency: float = 0.0,
        keep_alive: bool = True,
        idle_timeout: float = 15.0,
        backlog: int = 4096,
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError("scheme must be 'http' or 'https'")
        if (scheme == "https") != (ssl_context is not None):
            raise ValueError("an https server needs an ssl_context, an http server none")
        if latency < 0 or idle_timeout <= 0:
            raise ValueError("latency must be >= 0 and idle_timeout > 0")
        self.router = router
        self.scheme = scheme
        self.ssl_context = ssl_context
        self.latency = latency
        self.keep_alive = keep_alive
        self.idle_timeout = idle_timeout
        self.backlog = backlog
        self.extra_header = f"X-Lab-Latency: {latency:g}\r\n".encode() if latency else b""
        self.port = 0
        self.hosts: list[str] = []
        self.connections: set[_Connection] = set()
        self.accepted = 0
        self.requests = 0
        self._servers: list[asyncio.Server] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on (set by :meth:`start`)."""
        if self._loop is None:
            raise RuntimeError("server not started")
        return self._loop

    async def start(self, hosts: Sequence[str] = ("127.0.0.1",), port: int = 0) -> int:
        """Listen on every address of ``hosts`` with one common port; return it.

        The first host must be bindable; later ones that do not exist on this
        machine (``EADDRNOTAVAIL``, e.g. 127.0.0.2 on macOS) are skipped.
        """
        if not hosts:
            raise ValueError("at least one host is needed")
        self._loop = asyncio.get_running_loop()
        last: OSError | None = None
        for _ in range(20):
            try:
                await self._bind_all(hosts, port)
            except OSError as exc:
                await self._close_servers()
                last = exc
                if port != 0:
                    raise
                continue
            return self.port
        assert last is not None
        raise last

    async def _bind_all(self, hosts: Sequence[str], port: int) -> None:
        loop = self.loop
        self.hosts = []
        for i, host in enumerate(hosts):
            try:
                srv = await loop.create_server(
                    lambda: _Connection(self),
                    host,
                    port,
                    ssl=self.ssl_context,
                    backlog=self.backlog,
                    ssl_handshake_timeout=10.0 if self.ssl_context else None,
                )
            except OSError as exc:
                if i > 0 and exc.errno == 99:  # EADDRNOTAVAIL: alias missing
                    continue
                raise
            if port == 0:
                port = srv.sockets[0].getsockname()[1]
            self._servers.append(srv)
            self.hosts.append(host)
        self.port = port

    async def _close_servers(self) -> None:
        servers, self._servers = self._servers, []
        for srv in servers:
            srv.close()
        for conn in list(self.connections):
            conn.abort()
        async with asyncio.timeout(5.0):
            for srv in servers:
                await srv.wait_closed()

    async def aclose(self) -> None:
        """Stop listening and drop every open connection."""
        await self._close_servers()

"""The hostile behaviours themselves: one coroutine per behaviour, over raw asyncio streams.

Every behaviour serves one connection. The farm runs each under its hold time
and cancels it on close, so "forever" here means "until the client leaves, the
hold expires or the farm closes". Generated bodies are written piece by piece
with ``drain()``, so a server never holds more than one piece per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ._hostile_payloads import Bomb, brotli_bomb, deflate_bomb, gzip_bomb

__all__ = ["HANDSHAKE_TIMEOUT", "Behaviours", "Handler", "page"]

Handler = Callable[[str, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

HANDSHAKE_TIMEOUT = 10.0  # seconds to receive a request head or finish a TLS handshake
_PIECE = 64 * 1024
_REQUEST_LOG_CAP = 1000
_SPLIT_PAUSE = 0.05

HUGE_BODY_SIZE = 4 * 1024**3
TITLE_50MB_SIZE = 50 * 1024**2
TITLE_50MB_TEXT = "Fifty megabytes of title. "
MANY_HEADERS = 5000
HUGE_HEADER_SIZE = 100 * 1024
REDIRECT_HOPS = 30
SSH_BANNER = b"SSH-2.0-OpenSSH_9.6\r\n"
PLAIN_ON_TLS_TITLE = "400 The plain HTTP request was sent to HTTPS port"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
DRIP_AFTER_TITLE = 0.2  # seconds between two body bytes after the title
BACKTRACK_TITLE = "Backtrack"


def page(title: str, body: str = "") -> bytes:
    """A small valid HTML page with ``title``."""
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1>{body}</body></html>\n"
    ).encode()


def _head(status: int, reason: str, headers: Sequence[tuple[str, str]], *, v: str = "1.1") -> bytes:
    lines = [f"HTTP/{v} {status} {reason}", *(f"{k}: {val}" for k, val in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _response(
    status: int, reason: str, body: bytes, headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    base = [
        ("Server", "aioscout-hostile"),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    return _head(status, reason, [*base, *headers]) + body


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _sized(prefix: bytes, filler: bytes, size: int, suffix: bytes = b"") -> Iterator[bytes]:
    """``prefix``, then ``filler`` repeated, then ``suffix``: exactly ``size`` bytes in all."""
    yield prefix
    left = size - len(prefix) - len(suffix)
    block = filler * max(1, _PIECE // len(filler))
    while left > 0:
        piece = block[:left]
        left -= len(piece)
        yield piece
    yield suffix


async def _send(writer: asyncio.StreamWriter, pieces: Iterable[bytes]) -> None:
    for piece in pieces:
        writer.write(piece)
        await writer.drain()


async def _discard_until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(4096):
        pass


async def _drip(writer: asyncio.StreamWriter, data: bytes, interval: float) -> None:
    """Write ``data`` cycled one byte per ``interval`` seconds, until cancelled or gone."""
    index = 0
    while True:
        writer.write(data[index : index + 1])
        await writer.drain()
        index = (index + 1) % len(data)
        await asyncio.sleep(interval)


@dataclass(slots=True)
class Behaviours:
    """The behaviours of one farm: settings, TLS contexts and the request log."""

    host: str
    drip: float
    late_delay: float
    contexts: dict[str, ssl.SSLContext] = field(default_factory=dict)
    # Ports bound but never listening (a connection to one is refused), by "refused"
    # (the farm's host) and "ipv6" (::1, or 0 when this machine has no IPv6 loopback).
    dead_ports: dict[str, int] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    requests: dict[str, list[str]] = field(default_factory=dict)

    def handlers(self) -> dict[str, Handler]:
        """Behaviour name -> connection handler, in a stable order."""
        table: dict[str, Handler] = {
            "canary": self._canary,
            "slowloris": self._slowloris,
            "slowloris_body": self._slowloris_body,
            "accept_never_answer": self._never_answer,
            "reset_at_once": self._reset_at_once,
            "close_mid_headers": self._close_mid_headers,
            "huge_body": self._huge_body,
            "endless_chunked": self._endless_chunked,
            "gzip_bomb": self._bomb_handler(gzip_bomb),
            "deflate_bomb": self._bomb_handler(deflate_bomb),
            "brotli_bomb": self._bomb_handler(brotli_bomb),
            "invalid_status_line": self._invalid_status_line,
            "binary_garbage": self._binary_garbage,
            "redirect_loop": self._redirect_loop,
            "thirty_redirects": self._thirty_redirects,
            "bad_chunk_size": self._bad_chunk_size,
            "bad_chunk_first": self._bad_chunk_first,
            "http10_no_length": self._http10_no_length,
            "title_50mb": self._title_50mb,
            "thousands_of_headers": self._thousands_of_headers,
            "huge_header": self._huge_header,
            "ssh_banner": self._ssh_banner,
            "answer_after_timeout": self._answer_after_timeout,
            "tls_stall": self._never_answer,
            "tls_ok": self._tls_page("ok", "TLS ok"),
            "tls_expired": self._tls_page("expired", "Expired"),
            "tls_wrong_host": self._tls_page("wrong_host", "Wrong host"),
            "tls_self_signed": self._tls_page("self_signed", "Self signed"),
            "http_on_tls_port": self._http_on_tls_port,
            "endless_continue": self._endless_continue,
            "short_body": self._short_body,
            "drip_after_title": self._drip_after_title,
            "redirect_refused": self._redirect_to_dead("refused"),
            "redirect_ipv6": self._redirect_to_dead("ipv6"),
            "header_control_byte": self._header_control_byte,
            "close_mid_body": self._close_mid_body,
            "huge_status_line": self._huge_status_line,
            "backtrack_page": self._backtrack_page,
        }
        for name in self.scheme_redirects():
            table[name] = self._redirect_to_forbidden
        return table

    def scheme_redirects(self) -> dict[str, str]:
        """Redirect behaviour name -> the forbidden Location it sends.

        The ftp:// and gopher:// targets point at the canary endpoint, so a
        prober that wrongly follows them shows up in the canary's hits.
        """
        canary = f"{self._authority()}:{self.ports.get('canary', 9)}"
        return {
            "redirect_file": "file:///etc/passwd",
            "redirect_ftp": f"ftp://{canary}/pub/passwd",
            "redirect_gopher": f"gopher://{canary}/1",
            "redirect_javascript": "javascript:alert(document.domain)",
            "redirect_data": "data:text/html,<title>Data</title>",
        }

    def _authority(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def _origin(self, name: str) -> str:
        return f"http://{self._authority()}:{self.ports[name]}"

    async def _read_request(self, name: str, reader: asyncio.StreamReader) -> str:
        """Read one request head (bounded by the reader's limit), log and return its target."""
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
        return self._log(name, head)

    def _log(self, name: str, head: bytes) -> str:
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        target = parts[1] if len(parts) >= 3 else ""
        log = self.requests.setdefault(name, [])
        if len(log) < _REQUEST_LOG_CAP:
            log.append(target)
        return target

    async def _canary(self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await self._read_request(name, r)
        await _send(w, [_response(200, "OK", page("Canary"))])

    async def _slowloris(self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await self._read_request(name, r)
        w.write(b"HTTP/1.1 200 OK\r\n")
        await _drip(w, b"X-Slow: " + b"a" * 4000 + b"\r\n", self.drip)

    async def _slowloris_body(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        w.write(_head(200, "OK", [("Content-Type", "text/html"), ("Content-Length", "1000000")]))
        await _drip(w, page("Slow"), self.drip)

    async def _never_answer(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await _discard_until_eof(r)

    async def _reset_at_once(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.transport.abort()

    async def _close_mid_headers(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        await _send(w, [b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Len"])

    async def _huge_body(self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await self._read_request(name, r)
        head = _head(
            200,
            "OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(HUGE_BODY_SIZE))],
        )
        body = page("Huge").removesuffix(b"</body></html>\n")
        await _send(w, [head])
        await _send(w, _sized(body, b"<p>huge body</p>\n", HUGE_BODY_SIZE))

    async def _endless_chunked(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        head = _head(200, "OK", [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")])
        first = page("Endless").removesuffix(b"</body></html>\n")
        await _send(w, [head + _chunk(first)])
        filler = _chunk(b"<p>endless</p>\n" * 1000)
        while True:
            w.write(filler)
            await w.drain()

    def _bomb_handler(self, build: Callable[[], Bomb]) -> Handler:
        async def serve(name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await self._read_request(name, r)
            bomb = build()
            head = _head(
                200,
                "OK",
                [
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Content-Encoding", bomb.encoding),
                    ("Content-Length", str(bomb.size)),
                    ("Connection", "close"),
                ],
            )
            await _send(w, [head])
            await _send(w, bomb.chunks())

        return serve

    async def _invalid_status_line(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        body = page("Invalid status")
        await _send(
            w, [b"HTTP/1.1 OK two hundred\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)]
        )

    async def _binary_garbage(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        noise = random.Random(6).randbytes(16 * 1024)
        await _send(w, [b"\x00\xff\xfe\x16\x03" + noise])

    async def _redirect_loop(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        target = await self._read_request(name, r)
        # /a sends a relative Location, /b an absolute one: loop detection must normalise.
        location = "/b" if target == "/a" else f"{self._origin(name)}/a"
        await _send(w, [_response(302, "Found", page("Moved"), [("Location", location)])])

    async def _thirty_redirects(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        target = await self._read_request(name, r)
        _, _, number = target.rpartition("/hop/")
        if not number.isdigit() or not 0 <= int(number) <= REDIRECT_HOPS:
            await _send(w, [_response(404, "Not Found", page("No such hop"))])
        elif int(number) == 0:
            await _send(w, [_response(200, "OK", page("Arrived"))])
        else:
            location = f"/hop/{int(number) - 1}"
            await _send(w, [_response(302, "Found", page("Hop"), [("Location", location)])])

    async def _redirect_to_forbidden(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        location = self.scheme_redirects()[name]  # now: the canary's port is known
        await _send(w, [_response(302, "Found", page("Moved"), [("Location", location)])])

    async def _bad_chunk_size(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        head = _head(200, "OK", [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")])
        first = page("Chunk").removesuffix(b"</body></html>\n")
        await _send(w, [head + _chunk(first)])
        # A pause so the valid part arrives on its own, as it would from a real server
        # that breaks later in the body: a prober can keep what it read before the error.
        await asyncio.sleep(_SPLIT_PAUSE)
        await _send(w, [b"zz-not-hex\r\nrest\r\n0\r\n\r\n"])

    async def _bad_chunk_first(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        head = _head(200, "OK", [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")])
        await _send(w, [head + b"-5\r\n" + page("Never") + b"\r\n0\r\n\r\n"])

    async def _http10_no_length(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        head = _head(200, "OK", [("Content-Type", "text/html")], v="1.0")
        await _send(w, [head, page("HTTP/1.0", "<p>no length</p>" * 100)])

    async def _title_50mb(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        prefix = b"<!DOCTYPE html>\n<html><head><title>"
        suffix = b"</title></head><body></body></html>\n"
        size = len(prefix) + TITLE_50MB_SIZE + len(suffix)
        head = _head(200, "OK", [("Content-Type", "text/html"), ("Content-Length", str(size))])
        await _send(w, [head])
        await _send(w, _sized(prefix, TITLE_50MB_TEXT.encode(), size, suffix))

    async def _thousands_of_headers(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        many = [(f"X-Filler-{i:04d}", "hostile") for i in range(MANY_HEADERS)]
        await _send(w, [_response(200, "OK", page("Many headers"), many)])

    async def _huge_header(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        huge = [("X-Huge", "a" * HUGE_HEADER_SIZE)]
        await _send(w, [_response(200, "OK", page("Huge header"), huge)])

    async def _ssh_banner(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await _send(w, [SSH_BANNER])
        await _discard_until_eof(r)

    async def _answer_after_timeout(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        await asyncio.sleep(self.late_delay)
        await _send(w, [_response(200, "OK", page("Too late"))])

    def _tls_page(self, cert: str, title: str) -> Handler:
        async def serve(name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                await w.start_tls(self.contexts[cert])
            await self._read_request(name, r)
            await _send(w, [_response(200, "OK", page(title))])

        return serve

    async def _http_on_tls_port(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            first = await r.read(4096)
        if first[:1] == b"\x16":  # a TLS record: ClientHello
            tls = _BioTls(r, w, self.contexts["ok"], first)
            await tls.handshake()
            head = await tls.read_head()
            self._log(name, head)
            await tls.send(_response(200, "OK", page("TLS only")))
            await tls.close()
            return
        buffer = bytearray(first)
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            while b"\r\n\r\n" not in buffer and len(buffer) < 32 * 1024:
                more = await r.read(4096)
                if not more:
                    break
                buffer += more
        self._log(name, bytes(buffer))
        body = (
            f"<html>\r\n<head><title>{PLAIN_ON_TLS_TITLE}</title></head>\r\n<body>\r\n"
            "<center><h1>400 Bad Request</h1></center>\r\n"
            "<center>The plain HTTP request was sent to HTTPS port</center>\r\n"
            "</body>\r\n</html>\r\n"
        ).encode()
        await _send(w, [_response(400, "Bad Request", body)])

    async def _endless_continue(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        block = CONTINUE * (_PIECE // len(CONTINUE))
        while True:
            w.write(block)
            await w.drain()

    async def _short_body(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        body = page("Short")
        head = _head(200, "OK", [("Content-Type", "text/html"), ("Content-Length", str(100_000))])
        await _send(w, [head + body])
        await _discard_until_eof(r)  # the rest of the promised body never comes

    async def _drip_after_title(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        head = _head(200, "OK", [("Content-Type", "text/html"), ("Content-Length", "1000000")])
        await _send(w, [head + page("Drip").removesuffix(b"</body></html>\n")])
        await _drip(w, b"<p>drip</p>\n", DRIP_AFTER_TITLE)

    def _redirect_to_dead(self, which: str) -> Handler:
        async def serve(name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await self._read_request(name, r)
            port = self.dead_ports.get(which) or 9
            host = "[::1]" if which == "ipv6" else "127.0.0.1"
            location = f"http://{host}:{port}/gone"
            await _send(w, [_response(302, "Found", page("Moved"), [("Location", location)])])

        return serve

    async def _close_mid_body(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        head = _head(200, "OK", [("Content-Type", "text/html"), ("Content-Length", "100000")])
        await _send(w, [head + page("Cut").removesuffix(b"</body></html>\n")])
        # Then FIN: the rest of the promised body never comes.

    async def _huge_status_line(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        reason = b"O" + b"K" * HUGE_HEADER_SIZE
        await _send(w, [b"HTTP/1.1 200 " + reason + b"\r\nContent-Length: 0\r\n\r\n"])

    async def _header_control_byte(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        body = page("Control")
        head = (
            b"HTTP/1.1 200 OK\r\nServer: aioscout-hostile\r\nX-Odd: a\x01b\x1bc\x7fd\r\n"
            b"Content-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        ) % len(body)
        await _send(w, [head + body])

    async def _backtrack_page(
        self, name: str, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await self._read_request(name, r)
        await _send(w, [_response(200, "OK", backtrack_page())])


def backtrack_page() -> bytes:
    """About 150 KB built to make fingerprint regexes backtrack.

    The words many ``html`` fingerprints require sit in a paragraph where no
    pattern can match them, followed by a hundred ``<script `` tags of 1,500
    ``<`` each: a backtracking search for ``<[^>]+data-react`` restarts at
    every ``<`` and runs to the end of the text each time.
    """
    words = (
        "data-react wp-content x-data phabricator- ng-app= data-bem livefyre "
        "gravatar.com/avatar/ //assets.ctfassets.net wire: data-controller"
    )
    head = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{BACKTRACK_TITLE}</title>'
        f"</head><body><p>{words}</p>"
    )
    tags = ("<script " + "<" * 1500 + ">") * 100
    return (head + tags + "</body></html>\n").encode()


class _BioTls:
    """Server-side TLS over a stream whose first bytes were already read (to sniff them)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        context: ssl.SSLContext,
        first: bytes,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._incoming.write(first)
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._writer.write(data)
            await self._writer.drain()

    async def _fill(self) -> None:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            data = await self._reader.read(_PIECE)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    async def handshake(self) -> None:
        """Complete the server handshake."""
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
        await self._flush()

    async def read_head(self) -> bytes:
        """Decrypted bytes up to the end of the request head (at most 32 KiB)."""
        head = bytearray()
        while b"\r\n\r\n" not in head and len(head) < 32 * 1024:
            try:
                data = self._tls.read(_PIECE)
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
                continue
            if not data:
                break
            head += data
        return bytes(head)

    async def send(self, data: bytes) -> None:
        """Encrypt and send ``data``."""
        self._tls.write(data)
        await self._flush()

    async def close(self) -> None:
        """Send close_notify (the peer's answer is not awaited)."""
        with contextlib.suppress(ssl.SSLWantReadError):
            self._tls.unwrap()
        await self._flush()

"""One connection of the HTTP fast path: an asyncio protocol parsing with httptools.

A :class:`Conn` carries one request's response: it parses the head with
httptools (llhttp, with the same leniencies aiohttp's parser uses, so both
client paths read the same responses), skips interim (1xx) responses up to
:data:`~._http_core.MAX_INFORMATIONAL`, decodes the body with the bounded
decoders of :mod:`._http_body` as it arrives, and stops at ``max_body``
decoded bytes: a huge or endless body is never drained. Its failures are
named through the error catalogue of :mod:`._errors`.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from typing import cast

import brotli
import httptools

from .._config import Limits
from .._models import ErrorKind
from ._errors import (
    BODY_INCOMPLETE,
    NUL_IN_HEADER,
    READ_TIMED_OUT,
    ProbeError,
    bad_body,
    bad_head,
    classify,
    header_too_long,
    no_response,
    parser_failure,
    read_timeout,
    too_many_headers,
    too_many_informational,
)
from ._http_body import _IDENTITY, BodyHead, make_decoder
from ._http_core import MAX_INFORMATIONAL

__all__ = ["Conn", "PoolKey", "idle_cap"]


def _leniencies() -> dict[str, bool]:
    """The llhttp leniencies aiohttp's parser uses, as far as this httptools offers them.

    With them both client paths read the same bytes (a control byte in a header
    value, a bare LF, spaces after a chunk size).
    """
    wanted = ("lenient_headers", "lenient_optional_cr_before_lf", "lenient_spaces_after_chunk_size")
    probe = httptools.HttpResponseParser(object())
    given: dict[str, bool] = {}
    for name in wanted:
        try:
            probe.set_dangerous_leniencies(**{name: True})
        except (AttributeError, TypeError):
            continue
        given[name] = True
    return given


_LENIENCIES = _leniencies()

IDLE_MAX = 2048  # idle keep-alive connections held, at most (also capped by the fd limit)


class _Done(Exception):
    """Internal: the response (or as much of it as wanted) is in."""


class Conn(asyncio.Protocol):
    """One connection, one response: parse, decode on the fly, stop at the caps."""

    __slots__ = (
        "body_waiter",
        "broken",
        "complete",
        "cut",
        "decoder",
        "early",
        "ended",
        "error",
        "failed_early",
        "head_waiter",
        "headers_done",
        "informational",
        "interim",
        "keep_alive",
        "kept",
        "last_data",
        "loop",
        "max_body",
        "max_field",
        "max_headers",
        "out",
        "parser",
        "peer",
        "pool_key",
        "raw",
        "raw_cap",
        "raw_headers",
        "read_timeout",
        "reason_len",
        "reusable",
        "reused",
        "sized",
        "status",
        "timer",
        "trailing",
        "transport",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, limits: Limits, read_timeout: float
    ) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        # The parser holds this protocol's callbacks: a reference cycle, broken in
        # _release() so that a finished connection is freed at once by reference
        # counting instead of piling up for the cyclic collector.
        parser = httptools.HttpResponseParser(self)
        if _LENIENCIES:
            parser.set_dangerous_leniencies(**_LENIENCIES)
        self.parser: httptools.HttpResponseParser | None = parser
        self.max_body = limits.max_body
        self.max_field = limits.max_header_bytes
        self.max_headers = limits.max_headers
        self.read_timeout = read_timeout
        self.raw_cap = limits.max_body + 65536
        self.head_waiter: asyncio.Future[None] = loop.create_future()
        self.body_waiter: asyncio.Future[None] = loop.create_future()
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.informational = 0  # interim (1xx) responses skipped so far
        self.interim = False  # the message being parsed is an interim one
        self.status = 0
        self.decoder = _IDENTITY
        self.out = bytearray()
        self.raw = 0
        self.complete = False
        self.ended = False  # the response's last byte was parsed
        self.cut: str | None = None
        self.broken = False  # the cut is a parser error in the body
        self.error: ProbeError | None = None
        self.last_data = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.sized = False  # a Content-Length or chunked framing was announced
        self.kept = 0  # bytes that arrived before the end of the head
        self.reason_len = 0  # bytes of the status line's reason phrase so far
        self.early = False  # this read began before the end of the headers
        self.failed_early = False  # a parser error in the read that ended the headers
        self.reusable = False  # the response was read to its end and the server keeps it open
        self.trailing = False  # another message began after the response
        self.keep_alive = False  # the response did not ask to close (HTTP/1.1, no "close")
        self.pool_key: PoolKey | None = None  # (scheme, address, port, host|SNI) if reusable
        self.peer: str | None = None
        self.reused = False  # an idle connection carrying its next request

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        if self.reusable:  # bytes on an idle connection: it can no longer be trusted
            self.reusable = False
            if self.transport is not None:
                self.transport.abort()
            return
        self.last_data = self.loop.time()
        head = not self.headers_done
        if head:
            self.kept += len(data)
            if self.kept > self.max_field * (self.max_headers + 2):
                self._fail(too_many_headers())
                return
        self.early = head
        parser = self.parser
        if parser is None:
            return  # finished: nothing more is wanted
        try:
            parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            self._callback_failed(exc)
            return
        except httptools.HttpParserUpgrade:
            self._finish()
            return
        except httptools.HttpParserError as err:
            if self.ended:
                self.trailing = True
                self._finish()  # bytes after the response: not wanted, as aiohttp ignores them
            else:
                self._parser_failed(err)
            return
        if self.ended:
            self._finish()

    def _callback_failed(self, exc: httptools.HttpParserCallbackError) -> None:
        # A method of its own: the inner exception's traceback holds data_received's
        # frame, so a local there naming it would make a cycle per response.
        inner = exc.__context__
        if isinstance(inner, _Done):
            self._finish()
        elif isinstance(inner, ProbeError):
            self._fail(inner)
        else:
            self._parser_failed(exc)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._stop_timer()
        if self.body_waiter.done():
            self._release()
            return
        try:
            self._lost(exc)
        finally:
            self._release()

    def _lost(self, exc: Exception | None) -> None:
        if exc is not None and not isinstance(exc, ProbeError):
            if self.headers_done and self.out and isinstance(exc, ssl.SSLError):
                self.cut = "bad body: connection lost"
                self._finish()
                return
            self._fail(classify(exc))
            return
        if not self.headers_done:
            self._fail(no_response())
            return
        if not self.sized:  # read until close: the close is the end
            self.complete = True
            self._flush()
            self._finish()
            return
        if self.out:  # the record keeps what came, and says the body broke off
            self.cut = bad_body(BODY_INCOMPLETE).detail
            self.broken = True
            self._finish()
            return
        self._fail(bad_body(BODY_INCOMPLETE))

    # -- httptools callbacks -------------------------------------------------

    def on_message_begin(self) -> None:
        if self.ended:
            self.trailing = True  # bytes past the response: the connection is not reused

    def on_status(self, reason: bytes) -> None:
        # Called once per piece of the reason phrase: aiohttp caps the whole of it.
        self.reason_len += len(reason)
        if self.reason_len > self.max_field:
            raise header_too_long()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.ended:
            return  # a second message after the response: ignored
        if len(name) > self.max_field or len(value) > self.max_field:
            raise header_too_long()
        if len(self.raw_headers) >= self.max_headers:
            raise too_many_headers()
        if b"\x00" in value:  # what aiohttp's lenient parser still refuses
            raise bad_head(NUL_IN_HEADER)
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.ended:
            return
        assert self.parser is not None  # only called from its own feed_data
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # An interim response is never the answer: skip it, up to a cap.
            self.informational += 1
            if self.informational > MAX_INFORMATIONAL:
                raise too_many_informational(MAX_INFORMATIONAL)
            self.interim = True
            self.raw_headers = []
            self.reason_len = 0
            return
        self.headers_done = True
        self.status = status
        coding: str | None = None
        for name, value in self.raw_headers:
            lname = name.lower()
            if lname == b"content-encoding":
                coding = value.decode("utf-8", "surrogateescape")
            elif lname in (b"content-length", b"transfer-encoding"):
                self.sized = True
        if coding is not None:
            self.decoder = make_decoder(coding)
        if not self.head_waiter.done():
            self.head_waiter.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.ended or self.body_waiter.done():
            return
        self.raw += len(body)
        want = self.max_body - len(self.out)
        try:
            self.out += self.decoder.feed(body, want)
        except (zlib.error, brotli.error) as exc:
            if not self.out:
                raise ProbeError(ErrorKind.PROTOCOL, f"undecodable body: {exc}") from exc
            self.cut = f"undecodable body: {exc}"
            raise _Done from exc
        if len(self.out) >= self.max_body or self.raw >= self.raw_cap:
            self.cut = "max_body"
            raise _Done

    def on_message_complete(self) -> None:
        # No exception to stop the parser (an exception, two tracebacks and three
        # frames per response): data_received finishes once feed_data returns, and
        # the callbacks ignore anything that follows in the same read.
        if self.interim:
            self.interim = False
            return
        if self.ended or self.body_waiter.done():
            return
        self.complete = True
        self._flush()
        self.ended = True
        # Asked now: once the message is over the parser forgets its framing.
        assert self.parser is not None  # only called from its own feed_data
        self.keep_alive = self.parser.should_keep_alive()

    # -- helpers -------------------------------------------------------------

    def _flush(self) -> None:
        try:
            self.out += self.decoder.flush(self.max_body - len(self.out))
        except (zlib.error, brotli.error) as exc:
            self.cut = f"undecodable body: {exc}"

    def _parser_failed(self, exc: httptools.HttpParserError) -> None:
        if self.headers_done and self.out:
            self.cut = parser_failure(exc, body=True).detail
            self.broken = True
            self._finish()
            return
        self.failed_early = self.early
        self._fail(parser_failure(exc, body=self.headers_done and not self.early))

    def _finish(self) -> None:
        self._stop_timer()
        if not self.head_waiter.done():
            self.head_waiter.set_result(None)
        if not self.body_waiter.done():
            self.body_waiter.set_result(None)
        if (
            self.ended
            and self.keep_alive
            and not self.trailing
            and self.cut is None
            and self.error is None
            and self.parser is not None
        ):
            self.reusable = True  # read to its end and not closing: may carry another request
            return
        if self.transport is not None:
            # Reset rather than close: nothing more is wanted from this connection,
            # and a reset leaves no TIME_WAIT socket behind on this side (at tens
            # of thousands of hosts a second those exhaust the local ports).
            self.transport.abort()

    def _fail(self, exc: ProbeError) -> None:
        self._stop_timer()
        self.error = exc
        for fut in (self.head_waiter, self.body_waiter):
            if not fut.done():
                fut.set_result(None)
        if self.transport is not None:
            self.transport.abort()

    def start_timer(self) -> None:
        self.last_data = self.loop.time()
        self.timer = self.loop.call_at(self.last_data + self.read_timeout, self._on_timer)

    def _on_timer(self) -> None:
        now = self.loop.time()
        due = self.last_data + self.read_timeout
        if now < due:
            self.timer = self.loop.call_at(due, self._on_timer)
            return
        self.timer = None
        if not self.headers_done or not self.out:
            self._fail(read_timeout())
        else:
            self.cut = READ_TIMED_OUT
            self._finish()

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self) -> None:
        self.reusable = False
        self._stop_timer()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()
        self._release()

    def head(self, max_body: int, cut: str | None = None) -> BodyHead:
        """The body as far as it arrived (``cut`` names why, when it is not complete)."""
        out = bytes(self.out[:max_body])
        return BodyHead(out, self.raw, self.complete, self.cut or cut, self.broken)

    def _release(self) -> None:
        """Drop the parser and the transport: both refer back to this protocol."""
        self.parser = None
        self.transport = None


PoolKey = tuple[str, str, int, str]


def idle_cap() -> int:
    """Idle connections a process may hold: a quarter of its file descriptors at most."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 64
    if soft == resource.RLIM_INFINITY:
        return IDLE_MAX
    return max(0, min(IDLE_MAX, soft // 4))

"""Read the head of a response body, decompressing it ourselves with a hard cap.

Why not aiohttp's decompression: it inflates whole network chunks with no
bound on the output, so a few kilobytes of gzip bomb become gigabytes. Here
each decoder is asked for at most the bytes still wanted (zlib's
``max_length``, brotli's ``output_buffer_limit``), reading stops as soon as
``max_body`` decoded bytes are held, and the caller closes the connection
instead of draining the rest. A bomb therefore yields a partial body (and a
title), never a memory blow-up.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import brotli

from .._models import ErrorKind
from ._errors import READ_TIMED_OUT, ProbeError, bad_body, classify, parser_reason
from ._errors import read_timeout as timed_out

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEADLINE_CUT",
    "REDIRECT_UNREAD",
    "BodyHead",
    "buffered_head",
    "make_decoder",
    "read_head",
]

DEADLINE_CUT = "the deadline ended the body"
REDIRECT_UNREAD = "a redirect's body is not waited for"


class _Decoder(Protocol):
    def feed(self, data: bytes, want: int) -> bytes: ...

    def flush(self, want: int) -> bytes: ...


class _Identity:
    __slots__ = ()

    def feed(self, data: bytes, want: int) -> bytes:
        return data[:want]

    def flush(self, want: int) -> bytes:
        return b""


_IDENTITY: _Decoder = _Identity()  # no state: one serves every body without a Content-Encoding


class _Zlib:
    """gzip (multi-member) and deflate (zlib-wrapped or raw, sniffed)."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._d: zlib._Decompress | None = zlib.decompressobj(31) if gzip else None
        self._pending = b""

    def _sniff(self, data: bytes) -> zlib._Decompress:
        # RFC 9110 deflate is zlib-wrapped; many servers send raw deflate.
        b0, b1 = data[0], data[1]
        wrapped = b0 & 0x0F == 8 and (b0 << 8 | b1) % 31 == 0
        return zlib.decompressobj(15 if wrapped else -15)

    def feed(self, data: bytes, want: int) -> bytes:
        if self._d is None:
            self._pending += data
            if len(self._pending) < 2:
                return b""
            data, self._pending = self._pending, b""
            self._d = self._sniff(data)
        out = bytearray()
        d = self._d
        while want - len(out) > 0 and data:
            out += d.decompress(data, want - len(out))
            data = d.unconsumed_tail
            if d.eof:
                rest = d.unused_data
                if not (self._gzip and rest[:2] == b"\x1f\x8b"):
                    break  # trailing garbage after the stream is ignored
                d = self._d = zlib.decompressobj(31)
                data = rest
        return bytes(out)

    def flush(self, want: int) -> bytes:
        if self._d is None or want <= 0:
            return b""
        return self._d.flush()[:want]


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes, want: int) -> bytes:
        if want <= 0:
            return b""
        out = bytearray(self._d.process(data, output_buffer_limit=want))
        while len(out) < want and not self._d.can_accept_more_data():
            more = self._d.process(b"", output_buffer_limit=want - len(out))
            if not more:
                break
            out += more
        return bytes(out[:want])

    def flush(self, want: int) -> bytes:
        return b""


def make_decoder(content_encoding: str | None) -> _Decoder:
    """A bounded decoder for a Content-Encoding value (unknown codings pass through)."""
    if content_encoding is None:
        return _IDENTITY
    coding = content_encoding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return _Zlib(gzip=True)
    if coding == "deflate":
        return _Zlib(gzip=False)
    if coding == "br":
        return _Brotli()
    return _IDENTITY


@dataclass(slots=True)
class BodyHead:
    """The decoded head of a body: at most ``max_body`` bytes.

    ``complete`` is true when the whole body was read; ``cut`` names why it
    was not (the cap, a broken transfer encoding, an undecodable tail).
    ``broken``: the cut is a protocol error in the body, which the record
    reports (``protocol``) beside what was read before it.
    """

    data: bytes
    raw_bytes: int
    complete: bool
    cut: str | None = None
    broken: bool = False  # cut by a protocol error in the body (a bad chunk size, ...)


def buffered_head(resp: aiohttp.ClientResponse, max_body: int) -> BodyHead:
    """What of ``resp``'s body already arrived, decoded, without waiting for more."""
    try:
        raw = resp.content.read_nowait(max_body + 65536)
    except Exception:  # an error already set on the stream: nothing usable
        raw = b""
    decoder = make_decoder(resp.headers.get("Content-Encoding"))
    try:
        out = decoder.feed(raw, max_body)
    except (zlib.error, brotli.error):
        out = b""
    complete = resp.content.is_eof()
    return BodyHead(out, len(raw), complete, None if complete else REDIRECT_UNREAD)


async def read_head(
    resp: aiohttp.ClientResponse,
    max_body: int,
    read_timeout: float,
    keep: Callable[[BodyHead], None] | None = None,
) -> BodyHead:
    """Read and decode at most ``max_body`` bytes of ``resp``'s body.

    The caller must ``close()`` the response when ``complete`` is false: the
    rest of the body is never read. A broken chunk or a decoding error after
    some bytes were decoded keeps those bytes (a partial body still has a
    title); with nothing decoded it raises :class:`ProbeError` (``protocol``).

    Each read has its own ``read_timeout``, and a read timeout after some bytes
    keeps them too; when the task is cancelled (the probe's deadline), ``keep``
    is handed what was read so far. A parser error in the body (a bad chunk size) is one aiohttp
    keeps on the connection: it closes it and drops its read timer, but never
    wakes the body's reader. Here the connection's close hands that error to the
    reader, which ends the body as ``broken`` with what came before it.
    """
    protocol = resp.connection.protocol if resp.connection is not None else None
    closed = protocol.closed if protocol is not None else None
    if protocol is None or closed is None:  # no connection, or closed already
        if protocol is not None:
            _hand_over_parser_error(protocol, resp.content)
        return await _read_head(resp, max_body, read_timeout, keep)

    def on_close(_: object) -> None:
        _hand_over_parser_error(protocol, resp.content)

    # Asking for ``closed`` made the future; an unclean close sets an exception on
    # it, which is marked seen (once per connection, however many responses).
    closed.remove_done_callback(_seen)
    closed.add_done_callback(_seen)
    closed.add_done_callback(on_close)
    try:
        return await _read_head(resp, max_body, read_timeout, keep)
    finally:
        closed.remove_done_callback(on_close)


def _seen(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()


class _BrokenBody(Exception):
    """A parser error in the body, handed from aiohttp's connection to the reader."""


def _hand_over_parser_error(protocol: Any, content: Any) -> None:
    from aiohttp.http_exceptions import HttpProcessingError

    exc = protocol.exception()
    if (
        isinstance(exc, HttpProcessingError)
        and not content.is_eof()
        and content.exception() is None
    ):
        content.set_exception(_BrokenBody(parser_reason(exc.message or type(exc).__name__)))


async def _read_head(
    resp: aiohttp.ClientResponse,
    max_body: int,
    read_timeout: float,
    keep: Callable[[BodyHead], None] | None,
) -> BodyHead:
    import aiohttp  # already loaded: the response came through it

    decoder = make_decoder(resp.headers.get("Content-Encoding"))
    out = bytearray()
    raw = 0
    # Compressed input is read up to the cap plus slack; past that the stream
    # is not compressing and reading more would only grow the buffer.
    raw_cap = max_body + 65536
    complete = False
    broken = False
    cut: str | None = None
    while len(out) < max_body:
        try:
            async with asyncio.timeout(read_timeout):
                chunk = await resp.content.readany()
        except asyncio.CancelledError:
            if keep is not None:
                keep(BodyHead(bytes(out[:max_body]), raw, False, DEADLINE_CUT))
            raise
        except _BrokenBody as exc:
            if not out:
                raise bad_body(str(exc)) from exc
            cut, broken = bad_body(str(exc)).detail, True
            break
        except aiohttp.ClientPayloadError as exc:
            if not out:
                raise classify(exc) from exc
            cut, broken = classify(exc).detail, True  # what came is kept beside the error
            break
        except TimeoutError as exc:
            if not out:
                raise timed_out() from exc
            cut = READ_TIMED_OUT
            break
        if not chunk:
            complete = True
            break
        raw += len(chunk)
        try:
            out += decoder.feed(chunk, max_body - len(out))
        except (zlib.error, brotli.error) as exc:
            if not out:
                raise ProbeError(ErrorKind.PROTOCOL, f"undecodable body: {exc}") from exc
            cut = f"undecodable body: {exc}"
            break
        if raw >= raw_cap:
            break
    if complete:
        try:
            out += decoder.flush(max_body - len(out))
        except (zlib.error, brotli.error) as exc:
            cut = f"undecodable body: {exc}"
    elif cut is None:
        cut = "max_body"
    return BodyHead(bytes(out[:max_body]), raw, complete, cut, broken)

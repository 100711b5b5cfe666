"""Translate the HTTP stack's exceptions into aioscout's closed set of error kinds.

This is the one place where aiohttp, ssl, socket, python-socks and the body
decoders are turned into :class:`~aioscout.ErrorKind` values (the pattern of
httpcore's ``map_exceptions``): the prober raises :class:`ProbeError` with the
original exception as its cause, and builds the record from it. An exception
nothing here recognises becomes kind ``internal`` with its type name, because
it is a bug, not a property of the peer.

Error details are redacted before they reach a record (see :mod:`._http_secrets`).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import brotli

from .._models import ErrorInfo, ErrorKind
from ..dnsproto.resolver import ResolveError

__all__ = ["ProbeError", "classify", "map_exceptions"]

_REFUSED = {errno.ECONNREFUSED}
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN}
_RESET = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}
_TIMEOUT = {errno.ETIMEDOUT}
_MAX_DETAIL = 300


class ProbeError(Exception):
    """A classified failure of one probe attempt.

    ``connect`` is true when nothing reached the peer's HTTP layer (refused,
    unreachable, connect timeout, DNS): the scheme fallback uses it.
    """

    def __init__(self, kind: ErrorKind, detail: str, *, connect: bool = False) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.connect = connect

    @property
    def info(self) -> ErrorInfo:
        """The record form of this failure."""
        return ErrorInfo(self.kind, self.detail)


# -- the catalogue ------------------------------------------------------------
# Every failure of a response either client path reports, in our own words. The
# fast path (httptools) and the aiohttp path both parse with llhttp; where a
# parser's reason is kept it is llhttp's one-line reason, never the bytes the
# server sent nor a library's wrapping of them.

BODY_INCOMPLETE = "connection closed before the end of the body"
NUL_IN_HEADER = "Invalid header value char"
READ_TIMED_OUT = "read timed out"
CONNECT_TIMED_OUT = "connect timed out"
_REASON_MAX = 120
_WRAPPERS = ("bad status line", "400, message")


def parser_reason(message: str) -> str:
    """The parser's one-line reason in ``message`` (llhttp's words, no bytes, no pointer).

    Example::

        parser_reason("Bad status line:\n  Invalid status code:\n\n  b'HTTP/1.1 OK'\n ^")
        == "Invalid status code"
    """
    for raw in message.splitlines():
        line = raw.strip()
        if not line or line.lower().startswith(_WRAPPERS):
            continue
        if line.startswith(("b'", 'b"', "^")):
            break
        reason = line.rstrip(":").strip()
        return "".join(c if c.isprintable() else "?" for c in reason[:_REASON_MAX]) or "unknown"
    return "unknown"


def no_response() -> ProbeError:
    """The peer closed before a whole response head arrived."""
    return ProbeError(ErrorKind.RESET, "server closed the connection without a response")


def bad_head(reason: str) -> ProbeError:
    """The status line or a header broke the protocol."""
    return ProbeError(ErrorKind.PROTOCOL, f"invalid response: {reason}"[:_MAX_DETAIL])


def bad_body(reason: str) -> ProbeError:
    """The body's framing broke the protocol (bad chunk, short Content-Length)."""
    return ProbeError(ErrorKind.PROTOCOL, f"bad body: {reason}"[:_MAX_DETAIL])


def header_too_long() -> ProbeError:
    """A status or header line past ``Limits.max_header_bytes``."""
    return ProbeError(ErrorKind.TOO_LARGE, "header line too long")


def too_many_headers() -> ProbeError:
    """More header lines than ``Limits.max_headers``."""
    return ProbeError(ErrorKind.TOO_LARGE, "too many headers")


def too_many_informational(cap: int) -> ProbeError:
    """More interim (1xx) responses than a client accepts before the final one."""
    return ProbeError(
        ErrorKind.PROTOCOL, f"invalid response: more than {cap} informational (1xx) responses"
    )


def read_timeout() -> ProbeError:
    """No byte within ``Timeouts.read``."""
    return ProbeError(ErrorKind.TIMEOUT, READ_TIMED_OUT)


def connect_timeout() -> ProbeError:
    """No connection within ``Timeouts.connect``."""
    return ProbeError(ErrorKind.TIMEOUT, CONNECT_TIMED_OUT, connect=True)


def resolve_failure(host: str, exc: BaseException) -> ProbeError:
    """A lookup of ``host`` that failed (our resolver's ResolveError, or any other)."""
    kind = getattr(exc, "kind", None)
    if kind == "timeout":
        detail = f"DNS timeout resolving {host}"
    else:
        why = getattr(exc, "detail", None) or _text(exc)
        detail = f"DNS failure resolving {host}: {why}"
    return ProbeError(ErrorKind.DNS, f"cannot resolve {host}: {detail}"[:_MAX_DETAIL], connect=True)


def no_address(host: str) -> ProbeError:
    """A name that resolved to no A/AAAA address."""
    detail = f"cannot resolve {host}: {host}: no address (NXDOMAIN or no A/AAAA record)"
    return ProbeError(ErrorKind.DNS, detail[:_MAX_DETAIL], connect=True)


def parser_failure(exc: BaseException, *, body: bool) -> ProbeError:
    """An httptools (llhttp) parser error, in the head or in the body."""
    reason = parser_reason(str(exc) or type(exc).__name__)
    return bad_body(reason) if body else bad_head(reason)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then the errors it wraps (os_error, cause, context), each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        cur = todo.pop(0)
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        os_error = getattr(cur, "os_error", None)
        if isinstance(os_error, BaseException):
            todo.append(os_error)
        todo.extend(arg for arg in cur.args if isinstance(arg, BaseException))
        if cur.__cause__ is not None:
            todo.append(cur.__cause__)
        if cur.__context__ is not None:
            todo.append(cur.__context__)


def _text(exc: BaseException) -> str:
    msg = str(exc).strip() or type(exc).__name__
    return msg[:_MAX_DETAIL]


def _loaded(module: str) -> bool:
    """Whether ``module`` was imported: none of its exceptions can exist before that.

    aiohttp and python_socks are imported only by the runs that use them (the
    fast path needs neither), so their exception types are checked only then.
    """
    return module in sys.modules


def _aiohttp_client_error() -> tuple[type[BaseException], ...]:
    if not _loaded("aiohttp"):
        return ()
    import aiohttp

    return (aiohttp.ClientError,)


def _ssl_reason(exc: BaseException) -> str:
    client_error = _aiohttp_client_error()
    for cur in _chain(exc):
        if isinstance(cur, client_error):
            continue  # aiohttp's wrappers inherit from ssl errors without their fields
        if isinstance(cur, ssl.SSLCertVerificationError):
            why = getattr(cur, "verify_message", None) or getattr(cur, "reason", None) or cur
            return f"certificate: {why}"
        if isinstance(cur, ssl.CertificateError):
            return f"certificate: {cur}"
        if isinstance(cur, ssl.SSLError):
            why = getattr(cur, "reason", None) or getattr(cur, "strerror", None) or cur
            return f"handshake: {why}"
    return f"handshake: {_text(exc)}"


def _from_errno(exc: OSError) -> ProbeError | None:
    code = exc.errno
    if isinstance(exc, socket.gaierror):
        return ProbeError(ErrorKind.DNS, _text(exc), connect=True)
    if isinstance(exc, ConnectionRefusedError) or code in _REFUSED:
        return ProbeError(ErrorKind.REFUSED, "connection refused", connect=True)
    if code in _UNREACHABLE:
        return ProbeError(ErrorKind.UNREACHABLE, _text(exc), connect=True)
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return ProbeError(ErrorKind.RESET, "connection reset by peer")
    if code in _RESET:
        return ProbeError(ErrorKind.RESET, "connection reset by peer")
    if code in _TIMEOUT:
        return ProbeError(ErrorKind.TIMEOUT, "connect timed out", connect=True)
    return None


def _parser_error(exc: BaseException) -> ProbeError:
    from aiohttp import http_exceptions  # only reached for aiohttp's errors

    for cur in _chain(exc):
        if isinstance(cur, http_exceptions.LineTooLong):
            return header_too_long()
        if isinstance(cur, http_exceptions.InvalidHeader):
            return bad_head(NUL_IN_HEADER)
        if (
            isinstance(cur, http_exceptions.HttpProcessingError)
            and "too many headers" in str(cur.message).lower()
        ):
            return too_many_headers()
    msg = str(getattr(exc, "message", "") or _text(exc))
    if "too long" in msg.lower():
        return header_too_long()
    return bad_head(parser_reason(msg))


def _payload_error(exc: BaseException) -> ProbeError:
    """A body that broke, in the catalogue's words (aiohttp wraps the parser's error)."""
    from aiohttp import http_exceptions

    for cur in _chain(exc):
        if isinstance(cur, http_exceptions.ContentLengthError):
            return bad_body(BODY_INCOMPLETE)
        if isinstance(cur, http_exceptions.ContentEncodingError):
            return ProbeError(ErrorKind.PROTOCOL, f"undecodable body: {parser_reason(_text(cur))}")
        if isinstance(cur, http_exceptions.HttpProcessingError):
            return bad_body(parser_reason(str(cur.message) or type(cur).__name__))
    text = _text(exc)
    if "not completed" in text.lower() or "not enough data" in text.lower():
        return bad_body(BODY_INCOMPLETE)
    return bad_body(parser_reason(text))


def _classify_aiohttp(exc: BaseException) -> ProbeError | None:
    """aiohttp's own errors, in the order classify checks them (before ssl and timeouts:
    its timeout errors are TimeoutErrors, its TLS errors need their wrapper's message).
    """
    import aiohttp
    from aiohttp import http_exceptions

    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return ProbeError(ErrorKind.PROXY, f"cannot connect to proxy: {_text(exc)}", connect=True)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return ProbeError(ErrorKind.PROXY, f"proxy answered {exc.status} {exc.message}")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return ProbeError(ErrorKind.TLS, _ssl_reason(exc))
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return ProbeError(ErrorKind.TLS, "certificate fingerprint mismatch")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        detail = f"cannot resolve {exc.host}: {_text(exc.os_error)}"
        return ProbeError(ErrorKind.DNS, detail, connect=True)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return connect_timeout()
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return read_timeout()
    if isinstance(exc, aiohttp.ClientConnectorError):
        for cur in _chain(exc.os_error):
            if isinstance(cur, ssl.SSLError | ssl.CertificateError):
                return ProbeError(ErrorKind.TLS, _ssl_reason(cur))
            if isinstance(cur, OSError) and (mapped := _from_errno(cur)) is not None:
                return mapped
        return ProbeError(ErrorKind.UNREACHABLE, _text(exc), connect=True)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return no_response()
    if isinstance(exc, aiohttp.ClientPayloadError):
        return _payload_error(exc)
    if isinstance(
        exc, aiohttp.ClientResponseError | http_exceptions.HttpProcessingError
    ) and not isinstance(exc, aiohttp.TooManyRedirects):
        return _parser_error(exc)
    return _classify_aiohttp_rest(exc)


def _classify_aiohttp_rest(exc: BaseException) -> ProbeError | None:
    """aiohttp's URL, redirect and bare connection errors (after the specific ones)."""
    import aiohttp

    if isinstance(exc, aiohttp.TooManyRedirects):
        return ProbeError(ErrorKind.TOO_MANY_REDIRECTS, "too many redirects")
    if isinstance(exc, aiohttp.InvalidURL):
        return ProbeError(ErrorKind.PROTOCOL, f"invalid URL: {_text(exc)}")
    non_http = getattr(aiohttp, "NonHttpUrlClientError", None)
    if non_http is not None and isinstance(exc, non_http):
        return ProbeError(ErrorKind.BLOCKED_SCHEME, "not an http(s) URL: not followed")
    redirect = getattr(aiohttp, "RedirectClientError", None)
    if redirect is not None and isinstance(exc, redirect):
        return ProbeError(ErrorKind.PROTOCOL, "invalid redirect")
    if isinstance(exc, OSError | TimeoutError):
        return None  # mapped by errno (ClientOSError and friends), as the OS's own are
    if isinstance(exc, aiohttp.ClientConnectionError):
        return ProbeError(ErrorKind.RESET, f"connection closed: {_text(exc)}")
    if isinstance(exc, aiohttp.ClientError):
        return ProbeError(ErrorKind.PROTOCOL, f"invalid response: {_text(exc)}")
    return None


def classify(exc: BaseException) -> ProbeError:
    """The most specific :class:`ProbeError` for an exception of the HTTP stack.

    Example::

        classify(ConnectionRefusedError()).kind == ErrorKind.REFUSED
    """
    if isinstance(exc, ProbeError):
        return exc
    if isinstance(exc, asyncio.CancelledError):
        raise TypeError("CancelledError must propagate, not be classified")
    if _loaded("python_socks"):
        from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError

        for cur in _chain(exc):
            if isinstance(cur, ProxyTimeoutError):
                return ProbeError(ErrorKind.PROXY, "proxy timed out", connect=True)
            if isinstance(cur, ProxyConnectionError | ProxyError):
                return ProbeError(ErrorKind.PROXY, _text(cur), connect=True)
    if _loaded("aiohttp"):
        mapped = _classify_aiohttp(exc)
        if mapped is not None:
            return mapped
    if _loaded("httptools"):
        import httptools

        if isinstance(exc, httptools.HttpParserError):
            return parser_failure(exc, body=False)
    if isinstance(exc, ResolveError):
        detail = f"DNS {exc.kind}: {exc.detail}"[:_MAX_DETAIL]
        return ProbeError(ErrorKind.DNS, detail, connect=True)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return ProbeError(ErrorKind.TLS, _ssl_reason(exc))
    if isinstance(exc, TimeoutError):
        return ProbeError(ErrorKind.TIMEOUT, "timed out")
    if isinstance(exc, EOFError):
        return ProbeError(ErrorKind.RESET, "connection closed early")
    if isinstance(exc, zlib.error | brotli.error):
        return ProbeError(ErrorKind.PROTOCOL, f"undecodable body: {_text(exc)}")
    if isinstance(exc, OSError):
        for cur in _chain(exc):
            if isinstance(cur, ssl.SSLError):
                return ProbeError(ErrorKind.TLS, _ssl_reason(cur))
            if isinstance(cur, OSError) and (mapped := _from_errno(cur)) is not None:
                return mapped
        return ProbeError(ErrorKind.RESET, _text(exc))
    if isinstance(exc, UnicodeError | ValueError) and not isinstance(exc, LookupError):
        return ProbeError(ErrorKind.PROTOCOL, f"invalid response: {_text(exc)}")
    return ProbeError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {_text(exc)}")


@contextmanager
def map_exceptions() -> Iterator[None]:
    """Re-raise any exception of the HTTP stack as a :class:`ProbeError` (cause kept)."""
    try:
        yield
    except ProbeError:
        raise
    except Exception as exc:
        raise classify(exc) from exc

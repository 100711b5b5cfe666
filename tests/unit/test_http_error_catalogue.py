"""Every exception either HTTP client path can raise maps into the error catalogue.

In the spirit of httpcore's exception-mapping tests: the exception classes of
aiohttp, its parser, httptools, python-socks, ssl, the socket layer, the body
decoders and our resolver are enumerated (aiohttp's and httptools' by walking
their class trees, so a class a new release adds fails this test until it is
mapped), one instance of each is classified, and none may come out as
``internal`` (which is kept for our own bugs) or with a detail that carries the
peer's bytes.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import zlib
from collections.abc import Callable

import aiohttp
import brotli
import httptools
import pytest
import python_socks
from aiohttp import client_exceptions, http_exceptions
from aiohttp.client_reqrep import ConnectionKey

from aioscout._models import ErrorKind
from aioscout.dnsproto.resolver import ResolveError
from aioscout.probes._errors import ProbeError, bad_head, classify, parser_reason

_KEY = ConnectionKey("h.test", 80, False, True, None, None, None)
_OS = ConnectionRefusedError(errno.ECONNREFUSED, "refused")


def _subclasses(base: type[BaseException]) -> set[type[BaseException]]:
    out = {base}
    for sub in base.__subclasses__():
        out |= _subclasses(sub)
    return out


def _response_error(cls: type[aiohttp.ClientResponseError]) -> BaseException:
    return cls(None, (), status=400, message="Bad Request")  # type: ignore[arg-type]


_AIOHTTP: dict[type[BaseException], Callable[[], BaseException]] = {
    aiohttp.ClientError: lambda: aiohttp.ClientError("x"),
    aiohttp.ClientResponseError: lambda: _response_error(aiohttp.ClientResponseError),
    aiohttp.ContentTypeError: lambda: _response_error(aiohttp.ContentTypeError),
    aiohttp.WSServerHandshakeError: lambda: _response_error(aiohttp.WSServerHandshakeError),
    aiohttp.ClientHttpProxyError: lambda: _response_error(aiohttp.ClientHttpProxyError),
    aiohttp.TooManyRedirects: lambda: _response_error(aiohttp.TooManyRedirects),
    aiohttp.ClientConnectionError: lambda: aiohttp.ClientConnectionError("x"),
    aiohttp.ClientConnectionResetError: lambda: aiohttp.ClientConnectionResetError("x"),
    aiohttp.ClientOSError: lambda: aiohttp.ClientOSError(errno.ECONNRESET, "reset"),
    aiohttp.ClientConnectorError: lambda: aiohttp.ClientConnectorError(_KEY, _OS),
    aiohttp.ClientConnectorDNSError: lambda: aiohttp.ClientConnectorDNSError(
        _KEY, socket.gaierror(-2, "Name or service not known")
    ),
    aiohttp.ClientProxyConnectionError: lambda: aiohttp.ClientProxyConnectionError(_KEY, _OS),
    client_exceptions.UnixClientConnectorError: lambda: client_exceptions.UnixClientConnectorError(
        "/s", _KEY, _OS
    ),
    aiohttp.ClientSSLError: lambda: aiohttp.ClientSSLError(_KEY, ssl.SSLError(1, "bad")),
    aiohttp.ClientConnectorSSLError: lambda: aiohttp.ClientConnectorSSLError(
        _KEY, ssl.SSLError(1, "bad")
    ),
    aiohttp.ClientConnectorCertificateError: lambda: aiohttp.ClientConnectorCertificateError(
        _KEY, ssl.SSLCertVerificationError(1, "certificate verify failed")
    ),
    aiohttp.ServerConnectionError: lambda: aiohttp.ServerConnectionError("x"),
    aiohttp.ServerDisconnectedError: lambda: aiohttp.ServerDisconnectedError(),
    aiohttp.ServerTimeoutError: lambda: aiohttp.ServerTimeoutError("x"),
    aiohttp.ConnectionTimeoutError: lambda: aiohttp.ConnectionTimeoutError("x"),
    aiohttp.SocketTimeoutError: lambda: aiohttp.SocketTimeoutError("x"),
    aiohttp.ServerFingerprintMismatch: lambda: aiohttp.ServerFingerprintMismatch(
        b"a", b"b", "h", 443
    ),
    aiohttp.ClientPayloadError: lambda: aiohttp.ClientPayloadError(
        "Response payload is not completed"
    ),
    http_exceptions.HttpProcessingError: lambda: http_exceptions.HttpProcessingError(
        code=400, message="too many headers"
    ),
    http_exceptions.BadHttpMessage: lambda: http_exceptions.BadHttpMessage("bad"),
    http_exceptions.HttpBadRequest: lambda: http_exceptions.HttpBadRequest("bad"),
    http_exceptions.PayloadEncodingError: lambda: http_exceptions.PayloadEncodingError("bad"),
    http_exceptions.ContentEncodingError: lambda: http_exceptions.ContentEncodingError("bad"),
    http_exceptions.TransferEncodingError: lambda: http_exceptions.TransferEncodingError(
        "Invalid character in chunk size:\n\n  b'zz'\n  ^"
    ),
    http_exceptions.ContentLengthError: lambda: http_exceptions.ContentLengthError("short"),
    http_exceptions.DecompressSizeError: lambda: http_exceptions.DecompressSizeError("big"),
    http_exceptions.LineTooLong: lambda: http_exceptions.LineTooLong(b"aaaa", 8190),
    http_exceptions.InvalidHeader: lambda: http_exceptions.InvalidHeader(b"a\x00b"),
    http_exceptions.BadStatusLine: lambda: http_exceptions.BadStatusLine(
        "", "Bad status line:\n  Invalid status code:\n\n  b'HTTP/1.1 OK'\n  ^"
    ),
    http_exceptions.BadHttpMethod: lambda: http_exceptions.BadHttpMethod("\x16\x03"),
    http_exceptions.InvalidURLError: lambda: http_exceptions.InvalidURLError("bad"),
}
# Names that moved between releases: looked up, so an older aiohttp still runs the test.
for _name, _make in {
    "InvalidURL": lambda: aiohttp.InvalidURL("x:y"),
    "InvalidUrlClientError": lambda: aiohttp.InvalidUrlClientError("x:y"),
    "InvalidUrlRedirectClientError": lambda: aiohttp.InvalidUrlRedirectClientError("x:y"),
    "RedirectClientError": lambda: aiohttp.RedirectClientError("x"),
    "NonHttpUrlRedirectClientError": lambda: aiohttp.NonHttpUrlRedirectClientError("ftp://x"),
    "NonHttpUrlClientError": lambda: aiohttp.NonHttpUrlClientError("ftp://x"),
    "UploadAbortedError": lambda: aiohttp.UploadAbortedError("x"),
}.items():
    if hasattr(aiohttp, _name):
        _AIOHTTP[getattr(aiohttp, _name)] = _make

_HTTPTOOLS: dict[type[BaseException], Callable[[], BaseException]] = {
    httptools.HttpParserError: lambda: httptools.HttpParserError("Expected HTTP/"),
    httptools.HttpParserCallbackError: lambda: httptools.HttpParserCallbackError("cb"),
    httptools.HttpParserInvalidStatusError: lambda: httptools.HttpParserInvalidStatusError(
        "Invalid status code"
    ),
    httptools.HttpParserInvalidMethodError: lambda: httptools.HttpParserInvalidMethodError("m"),
    httptools.HttpParserInvalidURLError: lambda: httptools.HttpParserInvalidURLError("u"),
}

_OTHERS: list[tuple[BaseException, ErrorKind]] = [
    (ConnectionRefusedError(errno.ECONNREFUSED, "x"), ErrorKind.REFUSED),
    (ConnectionResetError(errno.ECONNRESET, "x"), ErrorKind.RESET),
    (BrokenPipeError(errno.EPIPE, "x"), ErrorKind.RESET),
    (ConnectionAbortedError(errno.ECONNABORTED, "x"), ErrorKind.RESET),
    (OSError(errno.ENETUNREACH, "x"), ErrorKind.UNREACHABLE),
    (OSError(errno.EHOSTUNREACH, "x"), ErrorKind.UNREACHABLE),
    (OSError(errno.EADDRNOTAVAIL, "x"), ErrorKind.UNREACHABLE),
    (OSError(errno.ETIMEDOUT, "x"), ErrorKind.TIMEOUT),
    (OSError(errno.EIO, "x"), ErrorKind.RESET),
    (socket.gaierror(-2, "Name or service not known"), ErrorKind.DNS),
    (TimeoutError(), ErrorKind.TIMEOUT),
    (ssl.SSLError(1, "handshake failure"), ErrorKind.TLS),
    (ssl.SSLCertVerificationError(1, "verify failed"), ErrorKind.TLS),
    (ssl.SSLEOFError(8, "EOF"), ErrorKind.TLS),
    (ssl.SSLZeroReturnError(6, "zero"), ErrorKind.TLS),
    (ssl.SSLSyscallError(5, "syscall"), ErrorKind.TLS),
    (ssl.CertificateError("hostname mismatch"), ErrorKind.TLS),
    (EOFError(), ErrorKind.RESET),
    (asyncio.IncompleteReadError(b"", 10), ErrorKind.RESET),
    (zlib.error("bad"), ErrorKind.PROTOCOL),
    (brotli.error("bad"), ErrorKind.PROTOCOL),
    (ValueError("bad"), ErrorKind.PROTOCOL),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), ErrorKind.PROTOCOL),
    (python_socks.ProxyError("denied"), ErrorKind.PROXY),
    (python_socks.ProxyConnectionError(errno.ECONNREFUSED, "x"), ErrorKind.PROXY),
    (python_socks.ProxyTimeoutError("slow"), ErrorKind.PROXY),
    (ResolveError("timeout", "no answer", 3, "127.0.0.1"), ErrorKind.DNS),
    (aiohttp.ClientOSError(errno.ECONNREFUSED, "refused"), ErrorKind.REFUSED),
    (aiohttp.ClientOSError(errno.EHOSTUNREACH, "unreachable"), ErrorKind.UNREACHABLE),
]


def _check(exc: BaseException) -> ProbeError:
    mapped = classify(exc)
    assert mapped.kind is not ErrorKind.INTERNAL, (type(exc), mapped)
    assert mapped.detail and len(mapped.detail) <= 300
    return mapped


def test_every_aiohttp_exception_class_is_in_the_table() -> None:
    walked = _subclasses(aiohttp.ClientError) | _subclasses(http_exceptions.HttpProcessingError)
    assert walked - set(_AIOHTTP) == set()


def test_every_httptools_exception_class_is_in_the_table() -> None:
    assert _subclasses(httptools.HttpParserError) - set(_HTTPTOOLS) == set()


@pytest.mark.parametrize("cls", sorted(_AIOHTTP, key=str))
def test_each_aiohttp_exception_maps(cls: type[BaseException]) -> None:
    exc = _AIOHTTP[cls]()
    assert type(exc) is cls
    mapped = _check(exc)
    assert "\\x" not in mapped.detail and "b'" not in mapped.detail  # no peer bytes echoed


@pytest.mark.parametrize("cls", sorted(_HTTPTOOLS, key=str))
def test_each_httptools_exception_maps(cls: type[BaseException]) -> None:
    assert _check(_HTTPTOOLS[cls]()).kind is ErrorKind.PROTOCOL


@pytest.mark.parametrize(("exc", "kind"), _OTHERS, ids=lambda v: type(v).__name__)
def test_each_other_exception_maps(exc: BaseException, kind: ErrorKind) -> None:
    assert _check(exc).kind is kind


def test_both_parsers_name_the_same_failure_in_the_same_words() -> None:
    aiohttp_words = classify(
        http_exceptions.BadStatusLine(
            "", "Bad status line:\n  Invalid status code:\n\n  b'HTTP/1.1 OK'\n             ^"
        )
    )
    httptools_words = classify(httptools.HttpParserInvalidStatusError("Invalid status code"))
    assert aiohttp_words.detail == httptools_words.detail == bad_head("Invalid status code").detail


def test_reason_drops_the_peer_bytes_and_control_characters() -> None:
    assert parser_reason("Bad status line:\n  Expected HTTP/:\n\n  b'\\x1b[2J'\n ^") == (
        "Expected HTTP/"
    )
    assert parser_reason("odd \x1b[2J reason") == "odd ?[2J reason"
    assert parser_reason("") == "unknown"


def test_cancellation_is_never_classified() -> None:
    with pytest.raises(TypeError):
        classify(asyncio.CancelledError())

"""The narrow HTTP/1.1 fast path of the HTTP prober: asyncio protocol + httptools.

Why it exists: for the plain probe (GET, no proxy, no request body, no
hooks) aiohttp's per-request machinery (connector bookkeeping, request and
response objects, stream readers, timers, the thread-pool or per-query DNS
resolver) costs several times the work of the probe itself. This path opens
a connection per hop (or reuses an idle one, below), writes the same request
bytes aiohttp writes, parses
the answer with httptools (llhttp), decodes the body with the same bounded
decoders (:mod:`._http_body`) as it arrives, and closes the connection as soon
as ``max_body`` decoded bytes are held: a huge or endless body is never
drained. Names are resolved through :class:`~aioscout.dnsproto.FastResolver`
with a small per-run cache.

Keep-alive: a connection whose response was read to its end (no cut at
``max_body``, no bytes after it, HTTP/1.1 without ``Connection: close``) waits
idle for the next request to the same origin on the same address (scheme,
address, port, host name and SNI): a name's connection never carries another
name's request, even where many names share one address. It waits at
most ``_IDLE_FOR`` seconds and ``_IDLE_MAX`` connections (the oldest go first).
Anything arriving on an idle connection, an error or a partial read closes it
instead. A reused connection the server dropped as the request went out
(reset, nothing read) is replaced by a new one once.

It fills the same attempt fields the aiohttp path fills (status, headers,
peer address, TLS facts, body head, redirect chain) and raises the same
:class:`ProbeError` kinds, so :class:`~aioscout.probes.http.HttpProbe` builds
identical records from either. Anything outside that narrow case (proxies,
bodies, parameters, cookies given by the user, hooks) stays on aiohttp.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import ssl
import zlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol, cast

import brotli
import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._config import HttpOptions, Limits, Timeouts
from .._deadline import Deadline
from .._models import ErrorKind, RedirectHop, TlsInfo
from ..dnsproto.resolver import FastResolver, ResolveError
from ._addresses import is_ip, pinned_address
from ._errors import ProbeError, classify
from ._http_body import _IDENTITY, BodyHead, make_decoder
from ._http_common import next_url

if TYPE_CHECKING:
    import aiohttp

__all__ = ["FastHttp", "LazyJar", "fast_path_applies"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_UNSAFE_HEADERS = frozenset(
    {"host", "connection", "content-length", "transfer-encoding", "cookie", "expect", "upgrade"}
)
_DNS_CACHE = 65536
_A, _AAAA = 1, 28
_KEEP = 256 * 1024  # head bytes kept for naming a parser error
_IDLE_MAX = 2048  # idle keep-alive connections held, at most (also capped by the fd limit)
_IDLE_FOR = 4.0  # seconds an idle connection may wait for its next request


# A URL yarl would give back unchanged: scheme, lower-case name (no trailing dot:
# yarl drops it from the Host value) or IPv4 address, no port or a port other
# than the scheme's default, a path and query of
# characters yarl never re-quotes (no %, no dot segment: checked apart).
_SIMPLE_URL = re.compile(
    r"(https?)://([a-z0-9][a-z0-9.-]*[a-z0-9])(?::([1-9][0-9]{0,4}))?"
    r"(/[A-Za-z0-9_~/.-]*(?:\?[A-Za-z0-9_~/.=&-]+)?)"
)


class _Where:
    """What one hop needs of its URL, without building a yarl URL for plain ones.

    Parsing a URL and computing its parts with yarl cost about 20 us a host;
    the fast path needs only the scheme, host, port, request target and Host
    value, which are plain slices of a simple URL. Anything else (and any
    redirect or cookie) goes through yarl, so the parts are always yarl's.
    """

    __slots__ = ("_url", "authority", "host", "path_qs", "port", "scheme", "text")

    def __init__(
        self, text: str, scheme: str, host: str, port: int, path_qs: str, authority: str
    ) -> None:
        self.text = text
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path_qs = path_qs
        self.authority = authority
        self._url: URL | None = None

    @classmethod
    def parse(cls, text: str) -> _Where:
        """The parts of ``text`` (by slicing when it is simple, else through yarl)."""
        m = _SIMPLE_URL.fullmatch(text)
        if m is not None and "/." not in m[4]:
            scheme, host, given, path_qs = m.groups()
            default = 443 if scheme == "https" else 80
            port = int(given) if given else default
            if port != default and port < 65536:
                return cls(text, scheme, host, port, path_qs, f"{host}:{port}")
            if given is None:
                return cls(text, scheme, host, port, path_qs, host)
        return cls.of(URL(text))

    @classmethod
    def of(cls, url: URL) -> _Where:
        """The parts of a yarl URL."""
        where = cls(
            str(url),
            url.scheme,
            url.raw_host or "",
            url.port or (443 if url.scheme == "https" else 80),
            url.raw_path_qs,
            url.host_port_subcomponent or "",
        )
        where._url = url
        return where

    def url(self) -> URL:
        """The yarl URL (built on first use: redirects and cookies need it)."""
        if self._url is None:
            self._url = URL(self.text)
        return self._url


def fast_path_applies(options: HttpOptions) -> bool:
    """True when ``options`` ask for nothing the fast path does not do exactly like aiohttp.

    Response hooks (favicon, technology, storage) do not matter: they see the
    same response view and make their extra requests through aiohttp.
    """
    return (
        options.fast_path
        and options.method == "GET"
        and options.proxy is None
        and not options.params
        and not options.cookies
        and options.data is None
        and options.json is None
        and not options.form
        and not options.files
        and not any(name.strip().lower() in _UNSAFE_HEADERS for name, _ in options.headers)
    )


class AttemptLike(Protocol):
    """The fields of the prober's attempt that a chain fills in."""

    url: str
    chain: list[RedirectHop]
    final_url: str | None
    status: int | None
    headers: CIMultiDictProxy[str] | None
    ip: str | None
    last_ip: str | None
    tls: TlsInfo | None
    body: BodyHead | None


class LazyJar:
    """A probe's cookie jar, built on first use: most probes never see a cookie.

    Building it imports aiohttp, which a run on the fast path alone never needs.
    """

    __slots__ = ("_jar",)

    def __init__(self) -> None:
        self._jar: aiohttp.CookieJar | None = None

    def get(self) -> aiohttp.CookieJar:
        """The jar (created now if it does not exist yet)."""
        if self._jar is None:
            import aiohttp

            self._jar = aiohttp.CookieJar(unsafe=True, quote_cookie=False)
        return self._jar

    def __len__(self) -> int:
        return 0 if self._jar is None else len(self._jar)


class _Done(Exception):
    """Internal: the response (or as much of it as wanted) is in."""


class _Conn(asyncio.Protocol):
    """One connection, one response: parse, decode on the fly, stop at the caps."""

    __slots__ = (
        "body_waiter",
        "broken",
        "chunks",
        "complete",
        "cut",
        "decoder",
        "early",
        "ended",
        "error",
        "failed_early",
        "head_waiter",
        "headers_done",
        "in_value",
        "keep_alive",
        "kept",
        "last_data",
        "loop",
        "max_body",
        "max_field",
        "max_headers",
        "name",
        "out",
        "parser",
        "peer",
        "pool_key",
        "raw",
        "raw_cap",
        "raw_headers",
        "read_timeout",
        "reusable",
        "reused",
        "sized",
        "status",
        "timer",
        "trailing",
        "transport",
        "value",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, limits: Limits, read_timeout: float
    ) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        # The parser holds this protocol's callbacks: a reference cycle, broken in
        # _release() so that a finished connection is freed at once by reference
        # counting instead of piling up for the cyclic collector.
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self.max_body = limits.max_body
        self.max_field = limits.max_header_bytes
        self.max_headers = limits.max_headers
        self.read_timeout = read_timeout
        self.raw_cap = limits.max_body + 65536
        self.head_waiter: asyncio.Future[None] = loop.create_future()
        self.body_waiter: asyncio.Future[None] = loop.create_future()
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.name = b""
        self.value = b""
        self.in_value = False
        self.headers_done = False
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
        # What arrived before the headers were complete, kept to name a parser
        # error exactly as aiohttp does (see _aiohttp_error); bounded.
        self.chunks: list[bytes] | None = []
        self.kept = 0
        self.early = False  # this read began before the end of the headers
        self.failed_early = False  # a parser error in the read that ended the headers
        self.reusable = False  # the response was read to its end and the server keeps it open
        self.trailing = False  # another message began after the response
        self.keep_alive = False  # the response did not ask to close (HTTP/1.1, no "close")
        self.pool_key: _PoolKey | None = None  # (scheme, address, port, host|SNI) if reusable
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
            if self.chunks is not None:
                self.chunks.append(data)
                if self.kept > _KEEP:
                    named = _aiohttp_error(self.chunks, self.max_field, self.max_headers)
                    if named is not None:
                        self._fail(named)
                        return
                    self.chunks = None
            if self.kept > self.max_field * (self.max_headers + 2):
                self._fail(ProbeError(ErrorKind.TOO_LARGE, "too many headers"))
                return
        elif self.chunks:
            self.chunks = [data]
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
        except httptools.HttpParserError as exc:
            if self.ended:
                self.trailing = True
                self._finish()  # bytes after the response: not wanted, as aiohttp ignores them
            else:
                self._parser_failed(exc)
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
            self._fail(
                ProbeError(ErrorKind.RESET, "server closed the connection without a response")
            )
            return
        if not self.sized:  # read until close: the close is the end
            self.complete = True
            self._flush()
            self._finish()
            return
        if self.out:
            self.cut = "bad body: connection closed early"
            self._finish()
            return
        self._fail(
            ProbeError(
                ErrorKind.PROTOCOL,
                "bad body: Response payload is not completed: "
                "<ContentLengthError: 400, message='Not enough data to satisfy "
                "content length header.'>",
            )
        )

    # -- httptools callbacks -------------------------------------------------

    def on_message_begin(self) -> None:
        if self.ended:
            self.trailing = True  # bytes past the response: the connection is not reused

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.ended:
            return  # a second message after the response: ignored
        if len(name) > self.max_field:
            raise _too_long(name, self.max_field)
        if len(value) > self.max_field:
            raise _too_long(value, self.max_field)
        if len(self.raw_headers) >= self.max_headers:
            raise ProbeError(ErrorKind.TOO_LARGE, "too many headers")
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.ended:
            return
        self.headers_done = True
        assert self.parser is not None  # only called from its own feed_data
        self.status = self.parser.get_status_code()
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
        reason = str(exc) or type(exc).__name__
        if self.headers_done and self.out:
            self.cut = f"bad body: {reason}"
            self.broken = True
            self._finish()
            return
        named = _aiohttp_error(self.chunks, self.max_field, self.max_headers)
        self.failed_early = self.early
        if self.headers_done and not self.early:
            reason = named.detail.removeprefix("invalid response: ") if named else reason
            self._fail(ProbeError(ErrorKind.PROTOCOL, f"bad body: {reason}"[:300]))
            return
        self._fail(named or ProbeError(ErrorKind.PROTOCOL, f"invalid response: {reason}"[:300]))

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
            self._fail(ProbeError(ErrorKind.TIMEOUT, "read timed out"))
        else:
            self.cut = "read timed out"
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

    def _release(self) -> None:
        """Drop the parser and the transport: both refer back to this protocol."""
        self.parser = None
        self.transport = None
        self.chunks = None


_PoolKey = tuple[str, str, int, str]


def _idle_cap() -> int:
    """Idle connections a process may hold: a quarter of its file descriptors at most."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 64
    if soft == resource.RLIM_INFINITY:
        return _IDLE_MAX
    return max(0, min(_IDLE_MAX, soft // 4))


def _aiohttp_error(
    chunks: list[bytes] | None, max_field: int, max_headers: int
) -> ProbeError | None:
    """The error aiohttp's parser reports for the same bytes (same words, same pointer)."""
    if not chunks:
        return None
    from aiohttp import http_parser as aiohttp_parser  # only on a parser error

    parser = aiohttp_parser.HttpResponseParser(
        None,
        asyncio.get_running_loop(),
        2**16,
        max_line_size=max_field,
        max_field_size=max_field,
        max_headers=max_headers,
    )
    try:
        for chunk in chunks:
            parser.feed_data(chunk)
    except Exception as exc:  # whatever it raises is what aiohttp would have raised
        return classify(exc)
    return None


def _too_long(data: bytes, limit: int) -> ProbeError:
    shown = data[:100] + b"..."
    detail = (
        "header line too long: 400, message:\n"
        f"  Got more than {limit} bytes when reading: {shown!r}."
    )
    return ProbeError(ErrorKind.TOO_LARGE, detail[:300])


class FastHttp:
    """Runs one attempt's redirect chain over plain asyncio connections.

    Example::

        fast = FastHttp(options, timeouts, limits, ssl_context)
        await fast.start()
        await fast.run_chain(attempt, headers)  # fills attempt, raises ProbeError
        await fast.aclose()
    """

    def __init__(
        self,
        options: HttpOptions,
        timeouts: Timeouts,
        limits: Limits,
        ssl_context: ssl.SSLContext,
    ) -> None:
        self._options = options
        self._timeouts = timeouts
        self._limits = limits
        self._ssl = ssl_context
        self._resolver: FastResolver | None = None
        self._cache: OrderedDict[str, list[str]] = OrderedDict()
        self._lookups: dict[str, asyncio.Task[list[str]]] = {}  # queries under way, by name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_headers: CIMultiDict[str] | None = None
        self._block = ""
        # Keep-alive: connections whose last response was read to its end, by
        # (scheme, address, port, host|SNI); the oldest go first past the cap or _IDLE_FOR.
        self._idle: OrderedDict[_PoolKey, list[tuple[_Conn, float]]] = OrderedDict()
        self._idle_count = 0
        self._idle_max = _idle_cap()

    async def start(self) -> None:
        """Open the DNS sockets when resolvers are given (inside the running loop)."""
        self._loop = asyncio.get_running_loop()
        if self._options.resolvers and self._resolver is None:
            timeout = min(self._timeouts.connect, 1.0)
            self._resolver = FastResolver(self._options.resolvers, timeout=timeout, retries=2)
            await self._resolver.start()

    async def aclose(self) -> None:
        """Close the idle connections and the DNS sockets."""
        idle, self._idle, self._idle_count = self._idle, OrderedDict(), 0
        for entries in idle.values():
            for conn, _ in entries:
                conn.close()
        lookups, self._lookups = self._lookups, {}
        for lookup in lookups.values():
            lookup.cancel()
        resolver, self._resolver = self._resolver, None
        if resolver is not None:
            await resolver.aclose()

    # -- names -----------------------------------------------------------------

    async def _addresses(self, host: str, port: int) -> list[str]:
        pinned = pinned_address(host)  # --all-ips: this probe connects to one address
        if pinned is not None:
            return [pinned]
        if is_ip(host):
            return [host]
        cached = self._cache.get(host)
        if cached is not None:
            return cached
        if self._resolver is not None:
            # One query per name however many targets wait for it: a list that names
            # a host several times in a row (its paths, one after the other) sends
            # them all at once, and each would otherwise ask the same question.
            lookup = self._lookups.get(host)
            if lookup is None:
                assert self._loop is not None
                lookup = self._lookups[host] = self._loop.create_task(self._lookup(host))
                lookup.add_done_callback(functools.partial(self._looked_up, host))
            try:
                # Shielded: a target whose own deadline ends its wait does not end
                # the query for the others.
                addrs = await asyncio.shield(lookup)
            except ProbeError as exc:  # a fresh one each: tracebacks are not shared
                raise ProbeError(exc.kind, exc.detail, connect=True) from None
        else:
            assert self._loop is not None
            try:
                infos = await self._loop.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG
                )
            except socket.gaierror as exc:
                raise ProbeError(
                    ErrorKind.DNS, f"cannot resolve {host}: {str(exc)[:300]}", connect=True
                ) from exc
            addrs = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self._cache[host] = addrs
        if len(self._cache) > _DNS_CACHE:
            self._cache.popitem(last=False)
        return addrs

    def _looked_up(self, host: str, lookup: asyncio.Task[list[str]]) -> None:
        if self._lookups.get(host) is lookup:
            del self._lookups[host]
        if not lookup.cancelled():
            lookup.exception()  # seen: a failure whose waiters all gave up is not a leak

    async def _lookup(self, host: str) -> list[str]:
        assert self._resolver is not None
        addrs: list[str] = []
        try:
            for qtype in (_A, _AAAA):
                reply = await self._resolver.resolve(host, qtype)
                addrs = [data for _, rtype, _, data in reply.answers if rtype == qtype]
                if addrs:
                    break
        except ResolveError as exc:
            what = "DNS timeout resolving" if exc.kind == "timeout" else "DNS failure resolving"
            detail = f"{what} {host}" if exc.kind == "timeout" else f"{what} {host}: {exc.detail}"
            raise ProbeError(
                ErrorKind.DNS, f"cannot resolve {host}: {detail}"[:300], connect=True
            ) from exc
        if not addrs:
            detail = f"{host}: no address (NXDOMAIN or no A/AAAA record)"
            raise ProbeError(ErrorKind.DNS, f"cannot resolve {host}: {detail}"[:300], connect=True)
        return addrs

    # -- idle connections --------------------------------------------------------

    def _take_idle(self, key: _PoolKey) -> _Conn | None:
        """A fresh protocol on an idle connection to ``key``, or None."""
        entries = self._idle.get(key)
        if not entries:
            return None
        assert self._loop is not None
        now = self._loop.time()
        while entries:
            old, since = entries.pop()
            self._idle_count -= 1
            transport = old.transport
            if (
                old.reusable
                and transport is not None
                and not transport.is_closing()
                and now - since < _IDLE_FOR
            ):
                conn = _Conn(self._loop, self._limits, self._timeouts.read)
                conn.transport, conn.pool_key, conn.peer = transport, key, old.peer
                conn.reused = True
                old.reusable = False
                old._release()
                transport.set_protocol(conn)
                if not entries:
                    del self._idle[key]
                return conn
            old.close()
        del self._idle[key]
        return None

    def _done_with(self, conn: _Conn) -> None:
        """Keep ``conn`` for the next request to its peer when it may carry one, else close it."""
        key, transport = conn.pool_key, conn.transport
        if (
            not conn.reusable
            or key is None
            or transport is None
            or transport.is_closing()
            or not self._idle_max
        ):
            conn.close()
            return
        assert self._loop is not None
        now = self._loop.time()
        self._idle.setdefault(key, []).append((conn, now))
        self._idle.move_to_end(key)
        self._idle_count += 1
        idle = self._idle
        while idle:  # the oldest first: past the cap, or idle too long
            first = next(iter(idle))
            entries = idle[first]
            old, since = entries[0]
            if self._idle_count <= self._idle_max and now - since < _IDLE_FOR:
                break
            del entries[0]
            self._idle_count -= 1
            old.close()
            if not entries:
                del idle[first]

    # -- one hop ---------------------------------------------------------------

    async def _connect(self, url: _Where, *, fresh: bool = False) -> tuple[_Conn, str | None]:
        """A connected protocol, and the peer address when it is known without asking.

        An address from DNS or getaddrinfo is already in the form ``getpeername``
        gives; an IPv6 literal from the input may not be (``::ffff:1.2.3.4``,
        zero-padding, a scope), so for those the socket is asked.
        """
        loop = self._loop
        assert loop is not None
        host, port = url.host, url.port
        addrs = await self._addresses(host, port)
        known = not (":" in host or "%" in host)  # no IPv6 literal from the input
        tls = url.scheme == "https"
        server_hostname = (self._options.sni or host.rstrip(".")) if tls else None
        last: BaseException | None = None
        origin = f"{host}|{server_hostname}" if tls else host  # never shared between names
        if self._idle and not fresh:
            for addr in addrs:
                reused = self._take_idle((url.scheme, addr, port, origin))
                if reused is not None:
                    return reused, reused.peer
        task = asyncio.current_task(loop)
        assert task is not None
        for addr in addrs:
            conn = _Conn(loop, self._limits, self._timeouts.read)
            conn.pool_key = (url.scheme, addr, port, origin)
            # asyncio.timeout's work, without its lookups of the loop and the task
            # (three getpid calls and a few objects per use in Python 3.11).
            deadline = Deadline(loop, task, self._timeouts.connect)
            try:
                await loop.create_connection(
                    lambda c=conn: c,
                    addr,
                    port,
                    ssl=self._ssl if tls else None,
                    server_hostname=server_hostname,
                )
            except asyncio.CancelledError:
                conn.close()
                if not deadline.expired():
                    raise
                last = ProbeError(ErrorKind.TIMEOUT, "connect timed out", connect=True)
                continue
            except (OSError, ssl.SSLError, ssl.CertificateError) as exc:
                deadline.expired()
                conn.close()
                last = exc
                continue
            except BaseException:
                deadline.expired()
                conn.close()
                raise
            deadline.expired()
            conn.peer = addr if known and "%" not in addr else None
            return conn, conn.peer
        if isinstance(last, ProbeError):
            raise last
        assert last is not None
        err = classify(last)
        if err.kind not in (ErrorKind.TLS, ErrorKind.RESET):
            err.connect = True
        raise err from last

    def _request(self, url: _Where, headers: CIMultiDict[str], cookie: str) -> bytes:
        # The header lines are the same for nearly every request of a run: kept
        # from the last request and rebuilt only when the headers differ.
        if headers != self._last_headers:
            self._last_headers = headers.copy()
            self._block = "".join(f"\r\n{name}: {value}" for name, value in headers.items())
        head = f"GET {url.path_qs} HTTP/1.1\r\nHost: {url.authority}"
        tail = f"\r\nCookie: {cookie}\r\n\r\n" if cookie else "\r\n\r\n"
        return (head + self._block + tail).encode("utf-8", "surrogateescape")

    async def _hop(
        self, att: AttemptLike, url: _Where, request: bytes, *, fresh: bool = False
    ) -> _Conn:
        conn, ip = await self._connect(url, fresh=fresh)
        transport = conn.transport
        assert transport is not None
        try:
            if ip is None:
                peer = transport.get_extra_info("peername")
                if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
                    ip = peer[0]
                    conn.peer = ip
            sslobj = transport.get_extra_info("ssl_object") if url.scheme == "https" else None
            transport.write(request)
            conn.start_timer()
            await conn.head_waiter
            if conn.error is not None and (not conn.headers_done or conn.failed_early):
                if conn.reused and conn.kept == 0 and conn.error.kind is ErrorKind.RESET:
                    # The server closed the idle connection as the request went out.
                    conn.close()
                    return await self._hop(att, url, request, fresh=True)
                raise conn.error
            if att.status is None:
                att.ip = ip
            att.last_ip = ip
            att.status = conn.status
            att.final_url = url.text
            att.headers = CIMultiDictProxy(
                CIMultiDict(
                    [
                        (n.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
                        for n, v in conn.raw_headers
                    ]
                )
            )
            if isinstance(sslobj, ssl.SSLObject):
                att.tls = _tls_facts(sslobj)
        except BaseException:
            conn.close()
            raise
        return conn

    async def run_chain(self, att: AttemptLike, headers: CIMultiDict[str], jar: LazyJar) -> None:
        """Fetch ``att.url`` following redirects like the aiohttp path; raises ProbeError.

        ``jar`` is the probe's cookie jar (shared with any later hook fetch).
        """
        opts, limits = self._options, self._limits
        url = _Where.parse(att.url)
        seen: set[tuple[str, str, str]] = set()
        while True:
            cookie = _cookie_header(jar.get(), url.url()) if len(jar) else ""
            key = ("GET", url.text, cookie)
            if key in seen:
                raise ProbeError(ErrorKind.REDIRECT_LOOP, f"redirect back to {url.text}")
            seen.add(key)
            conn = await self._hop(att, url, self._request(url, headers, cookie))
            try:
                assert att.headers is not None
                set_cookies = att.headers.getall("Set-Cookie", ())
                if set_cookies:
                    from aiohttp._cookie_helpers import parse_set_cookie_headers

                    jar.get().update_cookies(
                        parse_set_cookie_headers(tuple(set_cookies)), url.url()
                    )
                location = att.headers.get("Location")
                status = conn.status
                if opts.follow_redirects and status in _REDIRECTS and location is not None:
                    att.chain.append(RedirectHop(url.text, status, location))
                    here = url.url()
                    nxt = next_url(here, location)
                    if len(att.chain) > limits.max_redirects:
                        raise ProbeError(
                            ErrorKind.TOO_MANY_REDIRECTS,
                            f"more than {limits.max_redirects} redirects",
                        )
                    if (nxt.scheme, nxt.host, nxt.port) != (here.scheme, here.host, here.port):
                        for name in ("Authorization", "Cookie"):
                            headers.popall(name, None)
                    url = _Where.of(nxt)
                    continue
                if not opts.follow_redirects and status in _REDIRECTS and location:
                    att.chain.append(RedirectHop(url.text, status, location))
                await conn.body_waiter
                if conn.error is not None:
                    raise conn.error
                out = bytes(conn.out[: limits.max_body])
                att.body = BodyHead(out, conn.raw, conn.complete, conn.cut, conn.broken)
                return
            finally:
                self._done_with(conn)


def _cookie_header(jar: aiohttp.CookieJar, url: URL) -> str:
    return "; ".join(f"{name}={m.value}" for name, m in jar.filter_cookies(url).items())


def _tls_facts(sslobj: ssl.SSLObject) -> TlsInfo:
    from ..extract.tls import tls_info  # the certificate parser loads with the first TLS record

    cipher = sslobj.cipher()
    return tls_info(
        sslobj.getpeercert(binary_form=True),
        version=sslobj.version(),
        cipher=cipher[0] if cipher else None,
        alpn=sslobj.selected_alpn_protocol(),
    )

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
most ``_IDLE_FOR`` seconds; past the cap the oldest goes first. Plain HTTP
connections are capped by the descriptors (``idle_cap``); TLS ones, which hold
some 50 KB each, at most as many as requests may be in flight
(``tls_idle_max``: the probe's concurrency). A list that interleaves hosts'
paths still finds its plain connections waiting; over TLS, single-visit hosts
(the usual many-hosts probe) no longer fill the memory.
Anything arriving on an idle connection, an error or a partial read closes it
instead. A reused connection the server dropped as the request went out
(reset, nothing read) is replaced by a new one once.

It fills the same :class:`~._http_record.Attempt` the aiohttp path fills
(status, headers, peer address, TLS facts, body head, redirect chain), follows
redirects through the same :class:`~._http_core.RedirectChain`, and names its
failures through the same catalogue (:mod:`._errors`), so
:class:`~aioscout.probes.http.HttpProbe` builds identical records from either.
One connection's parsing lives in :mod:`._http_conn`. Anything outside that narrow case (proxies,
bodies, parameters, cookies given by the user, hooks) stays on aiohttp.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import ssl
from collections import OrderedDict
from collections.abc import Iterable

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._config import HttpOptions, Limits, Timeouts
from .._deadline import Deadline
from .._models import ErrorKind
from ..dnsproto.resolver import FastResolver, ResolveError
from ._addresses import is_ip, pinned_address
from ._errors import ProbeError, classify, connect_timeout, no_address, resolve_failure
from ._http_body import DEADLINE_CUT, REDIRECT_UNREAD
from ._http_conn import Conn, PoolKey, idle_cap
from ._http_core import (
    CREDENTIAL_HEADERS,
    REDIRECT_STATUSES,
    LazyJar,
    RedirectChain,
    cookie_header,
    tls_facts,
)
from ._http_record import Attempt

__all__ = ["FastHttp", "fast_path_applies"]

_UNSAFE_HEADERS = frozenset(
    {"host", "connection", "content-length", "transfer-encoding", "cookie", "expect", "upgrade"}
)
_DNS_CACHE = 65536
_A, _AAAA = 1, 28
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


class _Idle:
    """Idle connections of one kind by pool key, the least recently used key first."""

    __slots__ = ("by_key", "cap", "count")

    def __init__(self, cap: int) -> None:
        self.by_key: OrderedDict[PoolKey, list[tuple[Conn, float]]] = OrderedDict()
        self.count = 0
        self.cap = cap


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
        *,
        tls_idle_max: int = 0,
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
        cap = idle_cap()
        tls_cap = min(cap, tls_idle_max) if tls_idle_max > 0 else cap
        self._idle = (_Idle(cap), _Idle(tls_cap))  # plain, TLS: indexed by "is TLS"

    async def start(self) -> None:
        """Open the DNS sockets when resolvers are given (inside the running loop)."""
        self._loop = asyncio.get_running_loop()
        if self._options.resolvers and self._resolver is None:
            timeout = min(self._timeouts.connect, 1.0)
            self._resolver = FastResolver(self._options.resolvers, timeout=timeout, retries=2)
            await self._resolver.start()

    async def aclose(self) -> None:
        """Close the idle connections and the DNS sockets."""
        for pool in self._idle:
            by_key, pool.by_key, pool.count = pool.by_key, OrderedDict(), 0
            for entries in by_key.values():
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
            except socket.gaierror as err:
                raise ProbeError(
                    ErrorKind.DNS, f"cannot resolve {host}: {str(err)[:300]}", connect=True
                ) from err
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
            raise resolve_failure(host, exc) from exc
        if not addrs:
            raise no_address(host)
        return addrs

    # -- idle connections --------------------------------------------------------

    def _take_idle(self, key: PoolKey) -> Conn | None:
        """A fresh protocol on an idle connection to ``key``, or None."""
        pool = self._idle[key[0] == "https"]
        entries = pool.by_key.get(key)
        if not entries:
            return None
        assert self._loop is not None
        now = self._loop.time()
        while entries:
            old, since = entries.pop()
            pool.count -= 1
            transport = old.transport
            if (
                old.reusable
                and transport is not None
                and not transport.is_closing()
                and now - since < _IDLE_FOR
            ):
                conn = Conn(self._loop, self._limits, self._timeouts.read)
                conn.transport, conn.pool_key, conn.peer = transport, key, old.peer
                conn.reused = True
                old.reusable = False
                old._release()
                transport.set_protocol(conn)
                if not entries:
                    del pool.by_key[key]
                return conn
            old.close()
        del pool.by_key[key]
        return None

    def _done_with(self, conn: Conn) -> None:
        """Keep ``conn`` for the next request to its peer when it may carry one, else close it."""
        key, transport = conn.pool_key, conn.transport
        pool = self._idle[key[0] == "https"] if key is not None else None
        if (
            not conn.reusable
            or pool is None
            or transport is None
            or transport.is_closing()
            or not pool.cap
        ):
            conn.close()
            return
        assert self._loop is not None and key is not None
        now = self._loop.time()
        idle = pool.by_key
        idle.setdefault(key, []).append((conn, now))
        idle.move_to_end(key)
        pool.count += 1
        while idle:  # the oldest first: past the cap, or idle too long
            first = next(iter(idle))
            entries = idle[first]
            old, since = entries[0]
            if pool.count <= pool.cap and now - since < _IDLE_FOR:
                break
            del entries[0]
            pool.count -= 1
            old.close()
            if not entries:
                del idle[first]

    # -- one hop ---------------------------------------------------------------

    async def _connect(self, url: _Where, *, fresh: bool = False) -> tuple[Conn, str | None]:
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
        if self._idle[tls].count and not fresh:
            for addr in addrs:
                reused = self._take_idle((url.scheme, addr, port, origin))
                if reused is not None:
                    return reused, reused.peer
        task = asyncio.current_task(loop)
        assert task is not None
        for addr in addrs:
            conn = Conn(loop, self._limits, self._timeouts.read)
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
                last = connect_timeout()
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

    async def _hop(self, att: Attempt, url: _Where, request: bytes, *, fresh: bool = False) -> Conn:
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
                att.tls = tls_facts(sslobj)
        except BaseException:
            conn.close()
            raise
        return conn

    async def run_chain(
        self,
        att: Attempt,
        headers: CIMultiDict[str],
        jar: LazyJar,
        *,
        strip: Iterable[str] = CREDENTIAL_HEADERS,
        restore: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Fetch ``att.url`` following redirects like the aiohttp path; raises ProbeError.

        ``jar`` is the probe's cookie jar (shared with any later hook fetch);
        ``strip`` and ``restore`` say which headers leave with a change of origin.
        """
        url = _Where.parse(att.url)
        chain = RedirectChain(
            self._limits.max_redirects, headers, hops=att.chain, strip=strip, restore=restore
        )
        follow = self._options.follow_redirects
        while True:
            cookie = cookie_header(jar.get(), url.url()) if len(jar) else ""
            chain.enter(url.text, cookie)
            conn = await self._hop(att, url, self._request(url, headers, cookie))
            nxt: URL | None = None
            try:
                assert att.headers is not None
                set_cookies = att.headers.getall("Set-Cookie", ())
                if set_cookies:
                    jar.update(set_cookies, url.url())
                status = conn.status
                if status in REDIRECT_STATUSES:
                    # What came with the head: kept if the chain ends here (a blocked
                    # scheme, a loop, a next hop that fails), never waited for.
                    att.body = conn.head(self._limits.max_body, REDIRECT_UNREAD)
                    nxt = chain.next(
                        url.text, url.url(), status, att.headers.get("Location"), follow=follow
                    )
                if nxt is None:
                    try:
                        await conn.body_waiter
                    except BaseException:  # the deadline: the record keeps what arrived
                        att.body = conn.head(self._limits.max_body, DEADLINE_CUT)
                        raise
                    if conn.error is not None:
                        raise conn.error
                    att.body = conn.head(self._limits.max_body)
            finally:
                self._done_with(conn)
            if nxt is None:
                return
            url = _Where.of(nxt)

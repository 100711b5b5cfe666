"""The HTTP(S) prober: one target in, one :class:`~aioscout.HttpResult` out.

Scheme decision for a bare host (``HttpTarget.scheme is None``)
---------------------------------------------------------------
* no port: ``https://host`` (443) first, then ``http://host`` (80);
* port 443 or 8443: https on that port first, then http on the same port;
* any other port: http first, then https on the same port.

The second scheme is tried once, and only when the first attempt says the
port may speak the other one:

* on a *different* port (the no-port case), after any failure before a
  response: refused, unreachable, timeout, reset, TLS or protocol error;
* on the *same* port, after a failure that shows something listens but does
  not speak the scheme tried: TLS handshake failure, garbage or a TLS alert
  where a status line was expected, a reset or close without a response, or
  a read timeout. Refused or a connect timeout are not retried there: the
  other scheme would meet the same closed port;
* after plain HTTP got the answer of a TLS port to plain text (status 400
  with the nginx/Apache/Go "plain HTTP request to an HTTPS port" messages).

``http://host:443`` is never reported live because a TLS port answered 400
to plain text: such an answer always hands over to https, and its result
(success or error) is what the record reports. When both attempts fail, the
record carries the more telling error (a refusal loses to anything else, the
first attempt wins a tie); when the deadline ends a fallback that got no
response, the first attempt's error is kept, its detail naming both. An
explicit scheme in the input is honoured as is.

Record fields: ``url``, ``scheme``, ``host``, ``port`` and ``ip`` describe the
target (the first request of the chosen scheme); ``status``, ``title``,
``content_*``, ``server``, ``headers``, ``tls`` and the body fields describe
the final response after redirects. Behind a proxy ``ip`` is ``None``.

Redirects are followed by hand (every hop lands in ``chain``), capped by
``Limits.max_redirects``, with loop detection, per-probe cookies and
browser-like method rewriting; a Location with a scheme other than http(s)
ends the chain with ``blocked_scheme`` and is never fetched.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict
from yarl import URL

from .._config import HttpOptions, Limits, Timeouts
from .._deadline import deadline
from .._exceptions import ConfigError
from .._models import ErrorInfo, ErrorKind, HttpResult
from ..targets._types import HttpTarget
from ..targets.parse import expand_http
from ..targets.ports import parse_ports
from ._addresses import is_ip
from ._errors import ProbeError, classify, map_exceptions
from ._fast_http import FastHttp, fast_path_applies
from ._http_body import buffered_head, read_head
from ._http_common import ProxyPlan, make_ssl_context, pick_user_agent, plan_proxy
from ._http_core import (
    LazyJar,
    RedirectChain,
    cookie_header,
    cross_origin_names,
    same_origin,
    tls_facts,
)
from ._http_extras import WebsocketCheck, cdn_of, extra_hooks
from ._http_record import Attempt, body_error, build_record, detached
from ._http_secrets import Redactor, scrub_record, user_secrets

if TYPE_CHECKING:
    import aiohttp

__all__ = ["HttpProbe", "ResponseHook", "ResponseView"]

_TLS_PORTS = frozenset({443, 8443})
_SAME_PORT_FALLBACK = frozenset({ErrorKind.TLS, ErrorKind.PROTOCOL, ErrorKind.RESET})
_OTHER_PORT_FALLBACK = _SAME_PORT_FALLBACK | {
    ErrorKind.REFUSED,
    ErrorKind.UNREACHABLE,
    ErrorKind.TIMEOUT,
}
_WEAK_ERRORS = frozenset({ErrorKind.REFUSED, ErrorKind.UNREACHABLE})
_EXTRAS_MARGIN = 0.25  # seconds before the deadline at which the extras give up


@dataclass(frozen=True, slots=True)
class ResponseView:
    """A response as hooks see it: the head of its decoded body, never more."""

    url: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    complete: bool


class Fetch(Protocol):
    """GET another URL of the same target (redirects followed, body capped).

    Returns ``None`` when the fetch failed; never raises for network trouble.
    """

    def __call__(self, url: str) -> Awaitable[ResponseView | None]: ...


class ResponseHook(Protocol):
    """Extra work on a final response (favicon, technology, CDN, storage, ...).

    Called once per successful probe, inside the probe's time budget, with
    the final response, the record to fill in, and a :class:`Fetch` for any
    extra request (which shares the probe's cookies and limits).
    """

    def __call__(
        self, response: ResponseView, result: HttpResult, fetch: Fetch
    ) -> Awaitable[None]: ...


def _plan(target: HttpTarget) -> list[tuple[str, int | None]]:
    if target.scheme is not None:
        return [(target.scheme, target.port)]
    if target.port is None:
        return [("https", None), ("http", None)]
    if target.port in _TLS_PORTS:
        return [("https", target.port), ("http", target.port)]
    return [("http", target.port), ("https", target.port)]


def _port_of(target: HttpTarget, scheme: str, port: int | None) -> int:
    """The port of ``target.url(scheme, port)``, the scheme's default when none is given."""
    if port is None:
        port = target.port
    if port is None:
        return 443 if scheme == "https" else 80
    return port


def _should_fall_back(first: Attempt, same_port: bool) -> bool:
    if first.error is None:
        return first.tls_hint
    if first.status is not None:
        return False  # a response came: the scheme works, the trouble was later
    err = first.error
    if same_port:
        if err.kind == ErrorKind.TIMEOUT:
            return not err.connect
        return err.kind in _SAME_PORT_FALLBACK
    return err.kind in _OTHER_PORT_FALLBACK


def _telling(attempts: list[Attempt], timeout: ProbeError) -> Attempt | None:
    """The attempt a record reports when the deadline ends the probe.

    The last one, unless it got no response and the first one failed with more
    to say than a refusal (a plain-HTTP answer that is a protocol error, then a
    TLS fallback that never answers): the first, its error naming both.
    """
    if not attempts:
        return None
    last = attempts[-1]
    first = attempts[0]
    err = first.error
    if last is first or last.status is not None or err is None or err.kind in _WEAK_ERRORS:
        return last
    if err.kind is ErrorKind.TIMEOUT:
        return last
    first.error = ProbeError(
        err.kind, f"{err.detail}; then {last.scheme}: {timeout.detail}"[:300], connect=err.connect
    )
    return first


def _pick(first: Attempt, second: Attempt) -> Attempt:
    if first.tls_hint:
        return second
    if second.tls_hint:
        return first
    if second.error is None:
        return second
    assert first.error is not None
    if first.error.kind in _WEAK_ERRORS and second.error.kind not in _WEAK_ERRORS:
        return second
    return first


def _peer(resp: aiohttp.ClientResponse) -> tuple[str | None, ssl.SSLObject | None]:
    from ._http_session import PeerResponse

    if isinstance(resp, PeerResponse):
        return resp.peer_ip, resp.ssl_object
    return None, None


class HttpProbe:
    """The HTTP(S) probe plug-in for the engine (see the module docstring for the rules).

    Example::

        probe = HttpProbe(HttpOptions(), Timeouts(total=5), Limits(), concurrency=100, per_host=4)
        await probe.start()
        try:
            for target in probe.expand("127.0.0.1:8080"):
                record = await probe.probe("127.0.0.1:8080", target)
        finally:
            await probe.aclose()
    """

    keeps_deadline = True
    """``probe`` runs under its own deadline of ``Timeouts.total`` (see :meth:`probe_within`)."""

    def __init__(
        self,
        options: HttpOptions,
        timeouts: Timeouts,
        limits: Limits,
        *,
        concurrency: int,
        per_host: int,
        hooks: Sequence[ResponseHook] = (),
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1 or per_host < 1:
            raise ConfigError("concurrency and per_host must be at least 1")
        if options.all_ips and options.proxy:
            raise ConfigError("all_ips cannot be combined with a proxy: the proxy resolves names")
        self._options = replace(options, method=options.method.upper())
        self._timeouts = timeouts
        self._limits = limits
        self._concurrency = concurrency
        self._per_host = per_host
        self._rng = rng or random.Random()
        self._websocket = WebsocketCheck(options, timeouts, self._rng)
        self._proxy: ProxyPlan = plan_proxy(options)
        self._redactor = Redactor(user_secrets(options, self._proxy.secrets))
        self._hooks = (*extra_hooks(options, self._redactor), *hooks)
        self._extras = bool(self._hooks or options.http2 or options.websocket)
        self._ports = [p for spec in options.ports for p in parse_ports(spec)]
        # Credentials go only to the origin the user named (see _http_core).
        self._strip = frozenset(
            cross_origin_names(options.headers, keep_user_headers=options.keep_headers_cross_origin)
        )
        self._restore = (
            ("User-Agent", pick_user_agent(options, self._rng)),
            ("Accept", "*/*"),
            ("Accept-Encoding", "gzip, deflate, br"),
        )
        self._user_cookie = "; ".join(f"{name}={value}" for name, value in options.cookies)
        self._files: list[tuple[str, str, bytes]] = []
        self._session: aiohttp.ClientSession | None = None
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop start() ran in
        self._fast: FastHttp | None = None
        self._h2_context: ssl.SSLContext | None = None
        self._fixed_headers: CIMultiDict[str] | None = None

    # -- the engine's side -------------------------------------------------

    def expand(self, line: str) -> Iterator[HttpTarget]:
        """The targets of one input line (ports × paths; CIDRs lazily)."""
        return expand_http(
            line,
            ports=self._ports,
            paths=self._options.paths,
            max_cidr_hosts=self._limits.max_cidr_hosts,
        )

    def host_of(self, target: HttpTarget) -> str:
        """The per-host cap key: the host name or IP."""
        return target.host

    def identity(self, target: HttpTarget) -> str:
        """``scheme://host[:port]/path``, with ``*`` for a scheme left to decide."""
        if target.scheme is None:
            return f"*://{target.netloc()}{target.path}"
        return target.url()

    def failed(self, line: str, target: HttpTarget | None, error: ErrorInfo) -> HttpResult:
        """The record for a target given up on (invalid input, engine timeout, ...)."""
        error = self._redactor.info(ProbeError(error.kind, error.detail))
        if target is None:
            return HttpResult(input=line, error=error)
        return HttpResult(
            input=line,
            url=target.url() if target.scheme else None,
            scheme=target.scheme,
            host=target.host,
            port=target.port,
            error=error,
        )

    async def start(self) -> None:
        """Read upload files, build the TLS contexts, connector and session.

        A run that stays on the fast path (plain probes, no hook that fetches)
        gets no aiohttp session, so it never imports aiohttp.
        """
        if self._started:
            return
        files: list[tuple[str, str, bytes]] = []
        for name, path in self._options.files:
            try:
                content = await asyncio.to_thread(Path(path).read_bytes)
            except OSError as exc:
                raise ConfigError(f"cannot read file for field {name!r}: {exc}") from exc
            files.append((name, Path(path).name, content))
        self._files = files
        ctx = make_ssl_context(self._options)
        self._h2_context = make_ssl_context(
            replace(self._options, verify=False), alpn=("h2", "http/1.1")
        )
        if self._proxy.socks is None and fast_path_applies(self._options):
            self._fast = FastHttp(
                self._options, self._timeouts, self._limits, ctx, tls_idle_max=self._concurrency
            )
            await self._fast.start()
        if self._fast is None or self._hooks:
            from ._http_session import make_connector, make_session

            connector = make_connector(
                self._options,
                self._proxy,
                ctx,
                self._timeouts,
                concurrency=self._concurrency,
                per_host=self._per_host,
            )
            self._session = make_session(connector, self._timeouts, self._limits)
        self._started = True
        self._loop = asyncio.get_running_loop()

    async def aclose(self) -> None:
        """Close the session and every pooled connection."""
        session, self._session = self._session, None
        fast, self._fast = self._fast, None
        self._started = False
        if fast is not None:
            await fast.aclose()
        if session is not None:
            await session.close()

    async def __aenter__(self) -> HttpProbe:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- one probe ---------------------------------------------------------

    async def probe(self, line: str, target: HttpTarget) -> HttpResult:
        """Probe one target within ``Timeouts.total``; never raises for network trouble."""
        return await self.probe_within(line, target, self._timeouts.total)

    async def probe_within(self, line: str, target: HttpTarget, budget: float) -> HttpResult:
        """:meth:`probe` with ``budget`` seconds instead of ``Timeouts.total``."""
        if not self._started:
            raise RuntimeError("HttpProbe.start() must be awaited before probe()")
        started = time.perf_counter()
        attempts: list[Attempt] = []
        jar = LazyJar()
        chosen: Attempt | None = None
        result: HttpResult | None = None
        loop = self._loop or asyncio.get_running_loop()
        extras_end = loop.time() + budget - min(_EXTRAS_MARGIN, budget / 10)
        try:
            async with deadline(loop, budget):
                chosen = await self._decide(target, attempts, jar)
                result = self._record(line, target, chosen)
                if chosen.error is None and not self._extras:
                    await self._enrich(chosen, result, jar)
                elif chosen.error is None:
                    # The extras stop a little before the deadline: a favicon or a
                    # websocket check that never answers leaves the record as it is.
                    try:
                        async with asyncio.timeout_at(extras_end):
                            await self._enrich(chosen, result, jar)
                    except TimeoutError:
                        pass
        except TimeoutError:
            error = ProbeError(ErrorKind.TIMEOUT, f"no result within {self._timeouts.total:g}s")
            partial = chosen or _telling(attempts, error)
            if partial is None:
                result = self.failed(line, target, error.info)
            else:
                if partial.error is None or partial is attempts[-1]:
                    partial.error = error
                result = self._record(line, target, partial)
        except ProbeError as exc:  # only from hooks: attempts keep their own errors
            assert result is not None
            result.error = self._redactor.info(exc)
        except Exception as err:  # a bug here or in a hook: still one record
            bug = ProbeError(ErrorKind.INTERNAL, f"{type(err).__name__}: {str(err)[:200]}")
            result = result or self.failed(line, target, bug.info)
            result.error = self._redactor.info(bug)
        scrub_record(result, self._redactor)
        result.time_ms = round((time.perf_counter() - started) * 1000, 1)
        return result

    async def _decide(self, target: HttpTarget, attempts: list[Attempt], jar: LazyJar) -> Attempt:
        plan = _plan(target)
        scheme, port = plan[0]
        first = Attempt(scheme, target.url(scheme, port), port=_port_of(target, scheme, port))
        attempts.append(first)
        await self._attempt(first, jar)
        if len(plan) == 1:
            return first
        scheme2, port2 = plan[1]
        if not _should_fall_back(first, same_port=port == port2):
            return first
        second = Attempt(scheme2, target.url(scheme2, port2), port=_port_of(target, scheme2, port2))
        attempts.append(second)
        await self._attempt(second, jar)
        return _pick(first, second)

    async def _attempt(self, att: Attempt, jar: LazyJar) -> None:
        opts = self._options
        if self._fast is not None:
            try:
                await self._fast.run_chain(
                    att, self._base_headers(), jar, strip=self._strip, restore=self._restore
                )
            except ProbeError as exc:
                att.error = detached(exc)
            except (OSError, ValueError) as err:
                att.error = detached(classify(err))
        else:
            import aiohttp  # loaded with the session

            try:
                await self._run_chain(att, jar, method=opts.method, first_params=True, body=True)
            except ProbeError as exc:
                if opts.proxy and isinstance(exc.__cause__, EOFError):
                    # A SOCKS proxy hanging up mid-handshake (bad or missing credentials).
                    exc = ProbeError(ErrorKind.PROXY, "the proxy closed the connection")
                att.error = detached(exc)
            except (aiohttp.ClientError, OSError, ValueError) as fault:
                att.error = detached(classify(fault))
        if att.error is None:
            # A body broken by a protocol error: the record keeps what came before
            # it (status, title) and names the error.
            att.error = body_error(att)

    def _base_headers(self) -> CIMultiDict[str]:
        if self._fixed_headers is not None:
            return self._fixed_headers.copy()
        headers = self._make_headers()
        if not self._options.random_agent or self._options.user_agent:
            self._fixed_headers = headers.copy()  # the same for every probe of the run
        return headers

    def _make_headers(self) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in self._options.headers:
            headers.add(name.strip(), value.strip())
        if "User-Agent" not in headers:
            headers["User-Agent"] = pick_user_agent(self._options, self._rng)
        headers.setdefault("Accept", "*/*")
        headers.setdefault("Accept-Encoding", "gzip, deflate, br")
        return headers

    def _body(self) -> object | None:
        import aiohttp  # loaded with the session

        opts = self._options
        if self._files:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in opts.form:
                form.add_field(name, value)
            for name, filename, content in self._files:
                form.add_field(name, content, filename=filename)
            return form
        if opts.form:
            return aiohttp.FormData(list(opts.form))
        if opts.json is not None:
            return opts.json.encode()
        return opts.data

    async def _run_chain(
        self,
        att: Attempt,
        jar: LazyJar,
        *,
        method: str,
        first_params: bool,
        body: bool,
        named: str | None = None,
    ) -> None:
        """Request ``att.url``, following redirects; ``named`` is the URL the user named.

        The user's credentials (``--cookie``, and ``-H`` headers: see
        :func:`~._http_core.cross_origin_names`) go only to ``named``'s origin.
        """
        assert self._session is not None
        opts = self._options
        url = URL(att.url)
        headers = self._base_headers()
        if self._user_cookie:
            given = headers.get("Cookie")
            headers["Cookie"] = f"{given}; {self._user_cookie}" if given else self._user_cookie
        if body and opts.json is not None and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        params = MultiDict(opts.params) if first_params and opts.params else None
        chain = RedirectChain(
            self._limits.max_redirects,
            headers,
            hops=att.chain,
            method=method,
            body=body,
            strip=self._strip,
            restore=self._restore,
        )
        if named is not None and not same_origin(URL(named), url):
            chain.leave_origin()
        while True:
            cookie = cookie_header(jar.get(), url)
            chain.enter(str(url), cookie)
            resp = await self._send(chain, url, params, cookie)
            params = None
            try:
                self._note_response(att, resp)
                if resp.status == 407 and self._proxy.url is not None and url.scheme == "http":
                    raise ProbeError(ErrorKind.PROXY, "proxy answered 407 (authentication)")
                jar.update(resp.headers.getall("Set-Cookie", ()), resp.url)
                try:
                    nxt = chain.next(
                        str(resp.url),
                        resp.url,
                        resp.status,
                        resp.headers.get("Location"),
                        follow=opts.follow_redirects,
                    )
                except ProbeError:
                    att.body = buffered_head(resp, self._limits.max_body)
                    raise
                if nxt is not None:
                    # What came with the redirect's head: kept if the next hop fails.
                    att.body = buffered_head(resp, self._limits.max_body)
                else:
                    with map_exceptions():
                        att.body = await read_head(
                            resp, self._limits.max_body, self._timeouts.read, att.keep_body
                        )
            finally:
                if resp.content.is_eof():
                    resp.release()
                else:
                    resp.close()
            if nxt is None:
                return
            url = nxt

    async def _send(
        self, chain: RedirectChain, url: URL, params: MultiDict[str] | None, cookie: str
    ) -> aiohttp.ClientResponse:
        """One request of a chain: its headers, the jar's cookies, the proxy's credentials."""
        assert self._session is not None
        sent = CIMultiDict(chain.headers)
        proxy_headers = None
        if self._proxy.auth is not None:
            # aiohttp puts proxy_headers on CONNECT only; plain http needs it inline.
            proxy_headers = {"Proxy-Authorization": self._proxy.auth}
            if url.scheme == "http":
                sent["Proxy-Authorization"] = self._proxy.auth
        if cookie:
            given = sent.get("Cookie")
            sent["Cookie"] = f"{given}; {cookie}" if given else cookie
        with map_exceptions():
            return await self._session.request(
                chain.method,
                url,
                params=params,
                headers=sent,
                data=self._body() if chain.body else None,
                allow_redirects=False,
                proxy=self._proxy.url,
                proxy_headers=proxy_headers,
                server_hostname=self._options.sni,
            )

    def _note_response(self, att: Attempt, resp: aiohttp.ClientResponse) -> None:
        ip, sslobj = _peer(resp)
        if self._proxy.url is not None or self._proxy.socks is not None:
            ip = None
        if att.status is None:
            att.ip = ip
        att.last_ip = ip
        att.status = resp.status
        att.final_url = str(resp.url)
        att.headers = resp.headers
        if sslobj is not None:
            att.tls = tls_facts(sslobj)

    # -- the record --------------------------------------------------------

    def _record(self, line: str, target: HttpTarget, att: Attempt) -> HttpResult:
        return build_record(line, target.host, att, self._options, self._redactor)

    async def _enrich(self, att: Attempt, result: HttpResult, jar: LazyJar) -> None:
        if self._options.http2:
            result.http2 = await self._check_h2(att)
        if self._options.websocket and self._proxy.url is None and self._proxy.socks is None:
            result.websocket = await self._websocket.check(att.final_url or att.url, att.last_ip)
        if att.headers is None or att.body is None or att.status is None:
            return
        result.cdn = cdn_of(att.headers)
        if not self._hooks:
            return
        view = ResponseView(
            att.final_url or att.url, att.status, att.headers, att.body.data, att.body.complete
        )
        fetch = self._fetcher(jar, att.url)
        for hook in self._hooks:
            await hook(view, result, fetch)

    def _fetcher(self, jar: LazyJar, named: str) -> Fetch:
        """GETs on the probe's behalf: the user's credentials only to ``named``'s origin."""

        async def fetch(url: str) -> ResponseView | None:
            scheme = URL(url).scheme.lower()
            if scheme not in ("http", "https"):
                return None
            import aiohttp  # loaded with the session (hooks always get one)

            att = Attempt(scheme, url)
            try:
                await self._run_chain(
                    att, jar, method="GET", first_params=False, body=False, named=named
                )
            except (ProbeError, aiohttp.ClientError, OSError, ValueError):
                return None
            if att.status is None or att.headers is None or att.body is None:
                return None
            return ResponseView(
                att.final_url or url, att.status, att.headers, att.body.data, att.body.complete
            )

        return fetch

    async def _check_h2(self, att: Attempt) -> bool | None:
        """Offer h2 by ALPN on a separate TLS connection to the final https endpoint."""
        if self._proxy.url is not None or self._proxy.socks is not None:
            return None
        final = URL(att.final_url or att.url)
        if final.scheme != "https":
            return False
        address, port = att.last_ip or final.host, final.port
        if address is None or port is None or self._h2_context is None:
            return None
        name = self._options.sni or final.host or ""
        if is_ip(name):
            name = ""  # no SNI for IP literals
        try:
            async with asyncio.timeout(self._timeouts.connect):
                _, writer = await asyncio.open_connection(
                    address, port, ssl=self._h2_context, server_hostname=name
                )
        except (OSError, TimeoutError, ssl.SSLError):
            return None
        try:
            sslobj = writer.get_extra_info("ssl_object")
            return isinstance(sslobj, ssl.SSLObject) and sslobj.selected_alpn_protocol() == "h2"
        finally:
            writer.close()
            try:
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            except (OSError, TimeoutError, ssl.SSLError):
                pass

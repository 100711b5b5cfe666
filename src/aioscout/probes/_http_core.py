"""The one redirect and response core of every HTTP client path.

The fast path (:mod:`._fast_http`), the aiohttp path (:mod:`.http`) and
``fetch`` (:mod:`.fetch`) send their requests differently, but decide the
same things here, once:

* which statuses redirect, and where a ``Location`` leads (only http(s) with
  a host: anything else is ``blocked_scheme`` and never fetched);
* the loop key (method, URL, the cookies sent): a request repeated with the
  same key is ``redirect_loop``; the hop cap (``too_many_redirects`` on the
  hop past ``Limits.max_redirects``), checked after the hop is recorded;
* the method and body of the next hop, as browsers rewrite them;
* what is dropped on a change of origin (scheme, host, port): the
  credential headers, and every header the user gave unless asked to keep
  them (see :func:`cross_origin_names`);
* how many interim (1xx) responses a request accepts before its final one;
* the TLS facts and cookie handling shared by the paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING

from multidict import CIMultiDict
from yarl import URL

from .._models import ErrorKind, RedirectHop, TlsInfo
from ._errors import ProbeError
from ._http_common import next_url

if TYPE_CHECKING:
    import ssl

    import aiohttp

__all__ = [
    "CREDENTIAL_HEADERS",
    "MAX_INFORMATIONAL",
    "REDIRECT_STATUSES",
    "LazyJar",
    "RedirectChain",
    "cookie_header",
    "cross_origin_names",
    "origin",
    "parse_set_cookies",
    "redirected_method",
    "same_origin",
    "tls_facts",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
MAX_INFORMATIONAL = 16
"""Interim (1xx, but not 101) responses accepted before the final one; more is ``protocol``."""


def origin(url: URL) -> tuple[str, str | None, int | None]:
    """(scheme, host, port): what must stay the same for credentials to be sent."""
    return (url.scheme.lower(), (url.host or "").lower().rstrip("."), url.port)


def same_origin(a: URL, b: URL) -> bool:
    """Whether ``a`` and ``b`` share scheme, host and port."""
    return origin(a) == origin(b)


def cross_origin_names(headers: Iterable[tuple[str, str]], *, keep_user_headers: bool) -> set[str]:
    """Lower-case names of the headers dropped when a request leaves the user's origin.

    The credential headers always; every header the user gave too, unless
    ``keep_user_headers`` (a custom ``X-Api-Key`` is as secret as ``Authorization``).
    A default the prober sends itself (User-Agent, Accept) is put back by the
    chain's ``restore`` when a user's header that replaced it is dropped.
    """
    names = set(CREDENTIAL_HEADERS)
    if not keep_user_headers:
        names.update(name.strip().lower() for name, _ in headers)
    return names


def redirected_method(status: int, method: str) -> tuple[str, bool]:
    """(method, keep the body) for the next hop, as browsers do."""
    if status == 303 and method != "HEAD":
        return "GET", False
    if status in (301, 302) and method == "POST":
        return "GET", False
    return method, True


class RedirectChain:
    """One attempt's redirect chain: loop detection, hop cap, next hop, header stripping.

    Example::

        chain = RedirectChain(10, headers, hops=attempt.chain)
        chain.enter(url_text, cookie)               # raises redirect_loop
        nxt = chain.next(url_text, url, status, location, follow=True)
        # None: the response is final; a URL: request it (headers already stripped)
    """

    __slots__ = (
        "_seen",
        "body",
        "headers",
        "hops",
        "max_redirects",
        "method",
        "restore",
        "strip",
    )

    def __init__(
        self,
        max_redirects: int,
        headers: CIMultiDict[str],
        *,
        hops: list[RedirectHop] | None = None,
        method: str = "GET",
        body: bool = True,
        strip: Iterable[str] = CREDENTIAL_HEADERS,
        restore: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.max_redirects = max_redirects
        self.headers = headers
        self.hops: list[RedirectHop] = [] if hops is None else hops
        self.method = method
        self.body = body
        self.strip = frozenset(strip)
        self.restore = tuple(restore)
        self._seen: set[tuple[str, str, str]] = set()

    def enter(self, url_text: str, cookie: str = "") -> None:
        """Note a request about to be sent; ``redirect_loop`` if it was sent before."""
        key = (self.method, url_text, cookie)
        if key in self._seen:
            raise ProbeError(ErrorKind.REDIRECT_LOOP, f"redirect back to {url_text}")
        self._seen.add(key)

    def next(
        self, url_text: str, here: URL, status: int, location: str | None, *, follow: bool
    ) -> URL | None:
        """The URL to request after a response, or ``None`` when the response is final.

        Records the hop; raises ``blocked_scheme``/``protocol`` for a Location
        not to follow and ``too_many_redirects`` past the cap. On a change of
        origin the headers in ``strip`` are dropped from :attr:`headers`.
        """
        if status not in REDIRECT_STATUSES or location is None:
            return None
        if not follow:
            if location:
                self.hops.append(RedirectHop(url_text, status, location))
            return None
        self.hops.append(RedirectHop(url_text, status, location))
        nxt = next_url(here, location)
        if len(self.hops) > self.max_redirects:
            raise ProbeError(
                ErrorKind.TOO_MANY_REDIRECTS, f"more than {self.max_redirects} redirects"
            )
        self.method, keep = redirected_method(status, self.method)
        self.body = self.body and keep
        if not same_origin(nxt, here):
            self.leave_origin()
        return nxt

    def leave_origin(self) -> None:
        """Drop the headers in ``strip``; put back the defaults in ``restore`` they replaced."""
        headers = self.headers
        for name in [n for n in headers if n.lower() in self.strip]:
            headers.popall(name, None)
        for name, value in self.restore:
            if name not in headers:
                headers[name] = value


def tls_facts(sslobj: ssl.SSLObject) -> TlsInfo:
    """The record's TLS facts of a connection."""
    from ..extract.tls import tls_info  # the certificate parser loads with the first TLS record

    cipher = sslobj.cipher()
    return tls_info(
        sslobj.getpeercert(binary_form=True),
        version=sslobj.version(),
        cipher=cipher[0] if cipher else None,
        alpn=sslobj.selected_alpn_protocol(),
    )


def cookie_header(jar: aiohttp.CookieJar, url: URL) -> str:
    """The ``Cookie`` value ``jar`` sends to ``url`` ('' when none)."""
    return "; ".join(f"{name}={m.value}" for name, m in jar.filter_cookies(url).items())


def parse_set_cookies(values: Iterable[str]) -> SimpleCookie:
    """The cookies of ``Set-Cookie`` values (a malformed one is skipped, not fatal)."""
    cookies: SimpleCookie = SimpleCookie()
    for value in values:
        try:
            cookies.load(value)
        except CookieError:
            continue
    return cookies


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

    def update(self, set_cookies: Iterable[str], url: URL) -> None:
        """Store the cookies of ``Set-Cookie`` values received from ``url``."""
        values = tuple(set_cookies)
        if values:
            self.get().update_cookies(parse_set_cookies(values), url)

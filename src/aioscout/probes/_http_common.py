"""What the HTTP prober needs from its set-up on every path, without aiohttp.

User agents, the TLS client contexts and the proxy plan are used by the fast
path too; keeping them apart from the aiohttp session code lets a run that
never leaves the fast path skip importing aiohttp (a fifth of a second of CPU
per process, most of it spent building aiohttp's own TLS contexts).
"""

from __future__ import annotations

import random
import ssl
import warnings
from dataclasses import dataclass

from yarl import URL

from .._config import HttpOptions
from .._exceptions import ConfigError
from .._models import ErrorKind
from ._errors import ProbeError

__all__ = [
    "DEFAULT_USER_AGENT",
    "USER_AGENTS",
    "ProxyPlan",
    "make_ssl_context",
    "next_url",
    "pick_user_agent",
    "plan_proxy",
]

DEFAULT_USER_AGENT = "Mozilla/5.0 (compatible; aioscout/0.1; +https://github.com/aioscout/aioscout)"

USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
)


def pick_user_agent(options: HttpOptions, rng: random.Random) -> str:
    """The User-Agent for one probe: explicit, random from the list, or the default."""
    if options.user_agent:
        return options.user_agent
    if options.random_agent:
        return rng.choice(USER_AGENTS)
    return DEFAULT_USER_AGENT


def make_ssl_context(options: HttpOptions, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
    """A client context: verifying (``verify``/``ca_file``) or reporting-only.

    The reporting-only context accepts old protocol versions and weak ciphers
    so that legacy servers are still seen; the certificate is kept, unchecked.
    """
    if options.verify:
        try:
            ctx = ssl.create_default_context(cafile=options.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load CA file {options.ca_file!r}: {exc}") from exc
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        # Old servers are still worth seeing; Python warns about TLS 1.0 itself.
        with warnings.catch_warnings(action="ignore", category=DeprecationWarning):
            try:
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.set_ciphers("ALL:@SECLEVEL=0")
            except (ValueError, ssl.SSLError):  # a build without legacy support
                pass
        if options.ca_file:
            try:
                ctx.load_verify_locations(cafile=options.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load CA file {options.ca_file!r}: {exc}") from exc
    ctx.set_alpn_protocols(list(alpn))
    return ctx


@dataclass(frozen=True, slots=True)
class ProxyPlan:
    """How requests reach the network: directly, through an HTTP(S) proxy, or SOCKS.

    ``url`` and ``auth`` (a ``Proxy-Authorization`` value) serve HTTP(S)
    proxies; ``socks`` is the proxy URL (with credentials) for the SOCKS
    connector.
    ``secrets`` are the strings that must never appear in output.
    """

    url: URL | None = None
    auth: str | None = None
    socks: str | None = None
    secrets: tuple[str, ...] = ()


def plan_proxy(options: HttpOptions) -> ProxyPlan:
    """Parse ``proxy`` and ``proxy_auth`` (raises ConfigError for an unusable proxy)."""
    if not options.proxy:
        if options.proxy_auth:
            raise ConfigError("proxy_auth given without a proxy")
        return ProxyPlan()
    try:
        url = URL(options.proxy)
    except ValueError as exc:
        raise ConfigError("proxy: not a URL") from exc
    scheme = url.scheme.lower()
    if scheme not in ("http", "https", "socks4", "socks4a", "socks5", "socks5h") or not url.host:
        raise ConfigError("proxy: use http://, https://, socks4:// or socks5://host:port")
    user, password = url.user, url.password
    if options.proxy_auth:
        user, sep, password = options.proxy_auth.partition(":")
        if not sep:
            raise ConfigError("proxy_auth: use user:password")
    secrets = tuple(s for s in (user, password, options.proxy_auth) if s)
    bare = url.with_user(None).with_password(None)
    if scheme.startswith("socks"):
        socks = bare
        if user is not None:
            socks = bare.with_user(user).with_password(password or "")
        return ProxyPlan(socks=str(socks), secrets=secrets)
    import aiohttp  # only for an HTTP proxy with credentials, which uses aiohttp anyway

    try:
        auth = aiohttp.encode_basic_auth(user, password or "") if user is not None else None
    except ValueError as exc:
        raise ConfigError("proxy credentials: the user name must not contain ':'") from exc
    return ProxyPlan(url=bare, auth=auth, secrets=(*secrets, *((auth,) if auth else ())))


def next_url(current: URL, location: str) -> URL:
    """The URL a Location leads to, or ProbeError (blocked scheme, unusable Location).

    The one redirect rule of every HTTP path: only http(s) targets with a host.
    """
    text = location.strip()
    try:
        nxt = current.join(URL(text))
    except ValueError as exc:
        raise ProbeError(ErrorKind.PROTOCOL, f"invalid Location: {text[:200]!r}") from exc
    if nxt.scheme.lower() not in ("http", "https"):
        scheme = nxt.scheme or text.partition(":")[0]
        raise ProbeError(ErrorKind.BLOCKED_SCHEME, f"redirect to {scheme}: not followed")
    if not nxt.host:
        raise ProbeError(ErrorKind.PROTOCOL, f"invalid Location: {text[:200]!r}")
    return nxt

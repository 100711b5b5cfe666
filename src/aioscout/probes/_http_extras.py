"""The optional probes of the HTTP prober, as response hooks plus a websocket check.

Each hook runs once per successful probe on the final response, inside the
probe's time budget (see :class:`~aioscout.probes.http.ResponseHook`):

* CDN/WAF hint from the response headers: always on, a plain function call
  (:func:`cdn_of`) made by the prober itself, not a hook, and nearly free when
  no header that could name a provider is present;
* technology detection (``tech``) from headers, Set-Cookie and the decoded body;
* favicon hash (``favicon``): the first ``<link rel=icon>`` of the page, else
  ``/favicon.ico`` on the final origin, fetched with the probe's cookies and
  limits; only a complete, non-HTML 2xx body is hashed (a catch-all page that
  answers every path with HTML is not an icon);
* stored responses (``store_responses``): headers and the bytes read, written
  by :class:`~aioscout.store.ResponseStore`; ``stored`` is the path relative to
  the directory.

The websocket check needs the peer address of the final response, so the
prober calls :class:`WebsocketCheck` itself rather than through a hook.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import ssl
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from yarl import URL

from .._config import HttpOptions, Timeouts
from .._models import ErrorKind, HttpResult
from ..extract.cdn import _BY_HEADER, _BY_VALUE, cdn_hint
from ._addresses import is_ip
from ._errors import ProbeError
from ._http_common import make_ssl_context, pick_user_agent
from ._http_secrets import Redactor

if TYPE_CHECKING:
    import random

    from multidict import CIMultiDictProxy

    from ..store import ResponseStore
    from .http import Fetch, ResponseHook, ResponseView

__all__ = ["WebsocketCheck", "cdn_of", "extra_hooks"]

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_ICON_LINKS = 2
_MAX_WS_HEADER_LINES = 100
_CDN_CAP = 256  # cdn_hint looks at this many headers
# Lower-case names of every header cdn_hint can draw a provider from.
_CDN_NAMES = frozenset(_BY_HEADER) | frozenset(header for header, _, _ in _BY_VALUE)


def _header_pairs(view: ResponseView) -> list[tuple[str, str]]:
    return list(view.headers.items())


def cdn_of(headers: CIMultiDictProxy[str]) -> str | None:
    """:func:`~aioscout.extract.cdn.cdn_hint` of ``headers``, skipping the rest cheaply.

    Only headers whose name can matter are handed on (same order, same cap),
    so the answer is the same and a response without any costs one pass. The
    answer for the same few headers (``Server: nginx`` on host after host) is
    remembered.
    """
    pairs = tuple(
        [
            (name, value)
            for name, value in itertools.islice(headers.items(), _CDN_CAP)
            if name.lower() in _CDN_NAMES
        ]
    )
    if not pairs:
        return None
    known = _CDN_SEEN.get(pairs, _UNKNOWN)
    if known is _UNKNOWN:
        if len(_CDN_SEEN) >= _CDN_SEEN_MAX:
            _CDN_SEEN.clear()
        known = _CDN_SEEN[pairs] = cdn_hint(pairs)
    return cast("str | None", known)


_UNKNOWN = object()
_CDN_SEEN: dict[tuple[tuple[str, str], ...], str | None] = {}
_CDN_SEEN_MAX = 4096


async def tech_hook(response: ResponseView, result: HttpResult, fetch: Fetch) -> None:
    """Fill ``tech`` from headers, cookies and the decoded head of the body.

    The fingerprints compile in a worker thread on first use, and the search
    runs in bounded steps with the loop given back after each, so other
    targets, the deadline and Ctrl-C are served while a page is matched.
    """
    from ..extract.tech import detect_steps, is_loaded, load  # loaded only when asked for
    from ..extract.title import decode_html

    if not is_loaded():
        await asyncio.to_thread(load)  # compiling the fingerprints must not stall the loop
    text = decode_html(response.body, response.headers.get("Content-Type"))
    steps = detect_steps(_header_pairs(response), text)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result.tech = done.value
            return
        await asyncio.sleep(0)


def _is_icon(view: ResponseView | None) -> bool:
    if view is None or not 200 <= view.status < 300 or not view.body or not view.complete:
        return False
    return "html" not in view.headers.get("Content-Type", "").lower()


async def favicon_hook(response: ResponseView, result: HttpResult, fetch: Fetch) -> None:
    """Fill ``favicon`` (Shodan mmh3) and ``favicon_url`` from the page's icon."""
    from ..extract.favicon import favicon_hash, icon_links
    from ..extract.title import decode_html

    text = decode_html(response.body, response.headers.get("Content-Type"))
    candidates = icon_links(text, response.url)[:_MAX_ICON_LINKS]
    fallback = str(URL(response.url).with_path("/favicon.ico").with_query(None).with_fragment(None))
    if fallback not in candidates:
        candidates.append(fallback)
    for url in candidates:
        icon = await fetch(url)
        if icon is not None and _is_icon(icon):
            result.favicon = favicon_hash(icon.body)
            result.favicon_url = url
            return


class StoreHook:
    """Save every final response under a directory; ``stored`` is its relative path."""

    def __init__(self, directory: str, redactor: Redactor | None = None) -> None:
        self._directory = directory
        self._redactor = redactor if redactor is not None else Redactor()
        self._store: ResponseStore | None = None

    async def __call__(self, response: ResponseView, result: HttpResult, fetch: Fetch) -> None:
        """Write the response; a disk failure becomes an ``io`` error on the record."""
        if self._store is None:
            from ..store import ResponseStore

            self._store = ResponseStore(self._directory)
        host = URL(response.url).host or result.host or "_"
        redactor = self._redactor  # a server may echo the user's secrets: none is stored
        headers = _header_pairs(response)
        body = response.body
        if redactor:
            headers = [(name, redactor.redact(value)) for name, value in headers]
            body = redactor.redact_bytes(body)
        try:
            result.stored = await self._store.save(
                redactor.redact(response.url),
                host,
                f"HTTP/1.1 {response.status}",
                headers,
                body,
            )
        except OSError as exc:
            raise ProbeError(ErrorKind.IO, f"cannot store the response: {exc.strerror}") from exc


def extra_hooks(options: HttpOptions, redactor: Redactor | None = None) -> tuple[ResponseHook, ...]:
    """The hooks ``options`` asks for, storage last (the CDN hint is no hook: see cdn_of)."""
    hooks: list[ResponseHook] = []
    if options.tech:
        from ..extract import tech

        if not tech.is_loaded():  # compile the fingerprints while the run starts
            threading.Thread(target=tech.load, name="aioscout-tech-load", daemon=True).start()
        hooks.append(tech_hook)
    if options.favicon:
        hooks.append(favicon_hook)
    if options.store_responses:
        hooks.append(StoreHook(options.store_responses, redactor))
    return tuple(hooks)


class WebsocketCheck:
    """Whether a URL accepts a WebSocket upgrade (status 101 with the right accept key).

    One fresh connection to the address the final response came from, with
    the Host header and SNI of the URL's name; nothing but the handshake is sent.
    """

    def __init__(self, options: HttpOptions, timeouts: Timeouts, rng: random.Random) -> None:
        self._options = options
        self._timeouts = timeouts
        self._rng = rng
        self._context: ssl.SSLContext | None = None

    def _ssl(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = make_ssl_context(replace(self._options, verify=False))
        return self._context

    def _request(self, url: URL, key: str) -> bytes:
        netloc = url.raw_host or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if not url.is_default_port():
            netloc = f"{netloc}:{url.port}"
        agent = pick_user_agent(self._options, self._rng)
        lines = [
            f"GET {url.raw_path_qs or '/'} HTTP/1.1",
            f"Host: {netloc}",
            f"User-Agent: {agent}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        text = "\r\n".join(lines) + "\r\n\r\n"
        return text.encode("latin-1", "replace")

    async def check(self, url_text: str, address: str | None) -> bool | None:
        """``True`` on a valid 101 answer, ``False`` on any other, ``None`` when unknown."""
        url = URL(url_text)
        if address is None or url.host is None or url.port is None:
            return None
        tls = url.scheme == "https"
        name = self._options.sni or url.host
        key = base64.b64encode(os.urandom(16)).decode()
        try:
            async with asyncio.timeout(self._timeouts.connect):
                reader, writer = await asyncio.open_connection(
                    address,
                    url.port,
                    ssl=self._ssl() if tls else None,
                    server_hostname=("" if is_ip(name) else name) if tls else None,
                )
        except (OSError, TimeoutError, ssl.SSLError, ValueError):
            return None
        try:
            async with asyncio.timeout(self._timeouts.read):
                writer.write(self._request(url, key))
                await writer.drain()
                return await self._read_answer(reader, key)
        except (OSError, TimeoutError, ssl.SSLError, ValueError, asyncio.IncompleteReadError):
            return False
        finally:
            writer.close()
            try:
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            except (OSError, TimeoutError, ssl.SSLError):
                pass

    @staticmethod
    async def _read_answer(reader: asyncio.StreamReader, key: str) -> bool:
        status = (await reader.readline()).split(None, 2)
        if len(status) < 2 or status[1] != b"101":
            return False
        want = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest())
        for _ in range(_MAX_WS_HEADER_LINES):
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                return False
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-accept":
                return value.strip() == want
        return False

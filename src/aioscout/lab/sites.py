"""The lab's site catalogue: what every virtual host serves, and what a correct scan reports.

The catalogue is pure data. Each :class:`Site` holds canned :class:`Page`
responses keyed by path (with per-scheme overrides), and the title each page
should yield *as a Python string* is stored next to the bytes, never derived
from them. :meth:`Catalogue.expected` follows redirects through this data (the
same resolution rules as a client: ``urljoin`` against the request URL) to
compute the ground truth for a scan of ``scheme://site/``.

Redirect targets are templates: ``{scheme}``, ``{port}`` (the port of the
current scheme), ``{http_port}`` and ``{https_port}`` are filled in by the
server once it knows the ports it listens on.

Title rules used for the expectations: the text of the first ``<title>``
element of the HTML document, decoded with the page's charset, entities
unescaped, runs of ASCII whitespace collapsed to one space and stripped;
``None`` when the page has no title element at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from ._pages import (
    TITLE_CAP,
    Expectation,
    Page,
    Site,
    capped,
    favicon_hash,
    html_page,
    icon_ico,
    icon_png,
    render_location,
)
from ._special import special_sites

__all__ = [
    "DEAD_ADDRESS",
    "ORIGIN",
    "TITLE_CAP",
    "Catalogue",
    "Expectation",
    "Page",
    "Site",
    "expected",
    "favicon_hash",
    "generated_title",
    "icon_ico",
    "icon_png",
    "render_location",
]

ORIGIN = "lab.test"
"""The DNS origin of the lab zone; every site name ends with it."""

_SENTINEL_PORTS = {"http": 1080, "https": 1443}
_UNKNOWN_HOST_TITLE = "aioscout lab: unknown host"
DEAD_ADDRESS = "127.0.0.254"  # never bound by the lab: connections there are refused
_NOT_FOUND_TITLE = "aioscout lab: not found"


# --- generated sites ---------------------------------------------------------

_ADJECTIVES = (
    "amber",
    "brisk",
    "cobalt",
    "dusty",
    "eager",
    "fuzzy",
    "gentle",
    "hollow",
    "ivory",
    "jolly",
    "kind",
    "lucid",
    "mellow",
    "nimble",
    "olive",
    "proud",
)
_NOUNS = (
    "harbor",
    "meadow",
    "lantern",
    "orchard",
    "compass",
    "falcon",
    "glacier",
    "kettle",
    "quarry",
    "ribbon",
    "saddle",
    "tundra",
    "violin",
    "walnut",
)
_GENERATED = re.compile(r"site-(\d{5,})")


def _generated_ip(i: int) -> str:
    if i % 10 == 7:
        return "127.0.0.2"
    if i % 10 == 3:
        return "127.0.0.3"
    return "127.0.0.1"


def generated_title(i: int) -> str:
    """The deterministic title of generated site number ``i``."""
    adj = _ADJECTIVES[i % len(_ADJECTIVES)]
    noun = _NOUNS[(i // len(_ADJECTIVES)) % len(_NOUNS)]
    return f"Generated site {i:05d}: {adj} {noun}"


def _generated_site(i: int, origin: str) -> Site:
    title = generated_title(i)
    page = html_page(
        title,
        head='<meta charset="utf-8">\n',
        body=f"<h1>{title}</h1>\n<p>Plain generated page number {i}.</p>",
    )
    return Site(
        name=f"site-{i:05d}.{origin}",
        ip=_generated_ip(i),
        label="generated",
        summary="a plain generated page",
        pages={"/": page},
    )


# --- the catalogue -----------------------------------------------------------

_UNKNOWN_HOST_PAGE = html_page(_UNKNOWN_HOST_TITLE, status=404)
_NOT_FOUND_PAGE = html_page(_NOT_FOUND_TITLE, status=404)


class Catalogue:
    """Every site of the lab: the special ones plus ``generated`` plain sites.

    Generated sites (``site-00001.<origin>`` ...) are built on demand, so a
    catalogue of a million sites costs nothing until they are served.

    >>> cat = Catalogue(generated=3)
    >>> cat.get("utf8.lab.test").label
    'utf8'
    >>> cat.expected("cross-a.lab.test", "http").final_host
    'cross-b.lab.test'
    """

    unknown_host_page = _UNKNOWN_HOST_PAGE
    not_found_page = _NOT_FOUND_PAGE

    def __init__(self, *, origin: str = ORIGIN, generated: int = 200) -> None:
        if generated < 0:
            raise ValueError("generated must be >= 0")
        self.origin = origin.strip(".").lower()
        self.generated = generated
        self.special: tuple[Site, ...] = tuple(special_sites(self.origin))
        self._by_name = {s.name: s for s in self.special}
        self._suffix = "." + self.origin

    def __len__(self) -> int:
        return len(self.special) + self.generated

    def __iter__(self) -> Iterator[Site]:
        yield from self.special
        for i in range(1, self.generated + 1):
            yield _generated_site(i, self.origin)

    def names(self) -> Iterator[str]:
        """Every site name, special ones first."""
        yield from self._by_name
        for i in range(1, self.generated + 1):
            yield f"site-{i:05d}.{self.origin}"

    def get(self, name: str) -> Site | None:
        """The site called ``name`` (case-insensitive, trailing dot allowed), or ``None``."""
        name = name.rstrip(".").lower()
        found = self._by_name.get(name)
        if found is not None or not name.endswith(self._suffix):
            return found
        match = _GENERATED.fullmatch(name[: -len(self._suffix)])
        if match is None:
            return None
        i = int(match.group(1))
        if not 1 <= i <= self.generated or name != f"site-{i:05d}{self._suffix}":
            return None
        return _generated_site(i, self.origin)

    def page_for(self, scheme: str, host: str, path: str) -> Page:
        """The static page served for a request (404 pages for unknown hosts and paths)."""
        site = self.get(host)
        if site is None:
            return _UNKNOWN_HOST_PAGE
        return site.page(scheme, path) or _NOT_FOUND_PAGE

    def expected(
        self, site: Site | str, scheme: str = "http", *, path: str = "/", max_redirects: int = 10
    ) -> Expectation:
        """The ground truth for a scan of ``scheme://site{path}`` that follows redirects."""
        start = site if isinstance(site, Site) else self.get(site)
        if start is None:
            raise ValueError(f"no such lab site: {site!r}")
        if scheme not in _SENTINEL_PORTS:
            raise ValueError(f"scheme must be http or https, not {scheme!r}")
        cur_scheme, cur_host, cur_path = scheme, start.name, path
        seen: set[str] = set()
        hops = 0
        error: str | None = None
        while True:
            url = f"{cur_scheme}://{cur_host}:{_SENTINEL_PORTS[cur_scheme]}{cur_path}"
            seen.add(url)
            page = self._dynamic_page(cur_host, cur_path) or self.page_for(
                cur_scheme, cur_host, cur_path
            )
            if not (300 <= page.status < 400 and page.location is not None):
                break
            nxt = urljoin(
                url, render_location(page.location, cur_scheme, *_SENTINEL_PORTS.values())
            )
            parts = urlsplit(nxt)
            if parts.scheme not in _SENTINEL_PORTS:
                error = "blocked_scheme"
            elif nxt in seen:
                error = "redirect_loop"
            elif hops >= max_redirects:
                error = "too_many_redirects"
            if error is not None:
                break
            hops += 1
            cur_scheme, cur_host = parts.scheme, parts.hostname or ""
            cur_path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        final = self.get(cur_host)
        icon = start.favicon
        return Expectation(
            site=start.name,
            scheme=scheme,
            status=page.status,
            title=None if error or page.title is None else capped(page.title),
            final_scheme=cur_scheme,
            final_host=cur_host,
            final_path=cur_path,
            hops=hops,
            error=error,
            charset=page.charset,
            content_type=page.content_type,
            delay=page.delay + page.body_delay,
            server=(final.server if final else None) or "aioscout-lab",
            tech=final.tech if final else (),
            favicon_path=start.favicon_path,
            favicon=icon,
            favicon_mmh3=favicon_hash(icon) if icon else None,
            websocket=start.dynamic == "websocket",
        )

    def _dynamic_page(self, host: str, path: str) -> Page | None:
        site = self.get(host)
        if site is None or site.dynamic != "echo":
            return None
        return Page(title="echo", charset="utf-8", content_type="text/html; charset=utf-8")


@lru_cache(maxsize=4)
def _default_catalogue(origin: str) -> Catalogue:
    return Catalogue(origin=origin, generated=10**9)


def expected(site: Site | str, scheme: str = "http", *, max_redirects: int = 10) -> Expectation:
    """The ground truth for ``scheme://site/`` in the default ``lab.test`` zone.

    ``site`` is a :class:`Site` or a name; generated names of any number are
    accepted. Use :meth:`Catalogue.expected` for another origin.
    """
    name = site.name if isinstance(site, Site) else site
    origin = ORIGIN
    if isinstance(site, Site) and not name.endswith("." + ORIGIN) and name != ORIGIN:
        origin = name.split(".", 1)[1] if "." in name else name
    return _default_catalogue(origin).expected(site, scheme, max_redirects=max_redirects)

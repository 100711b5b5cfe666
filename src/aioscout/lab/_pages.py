"""The lab's building blocks: pages, sites, expectations, and the bytes made in code.

See :mod:`aioscout.lab.sites` for what they mean; this module only defines them.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape

import mmh3

__all__ = [
    "TITLE_CAP",
    "Expectation",
    "Page",
    "Site",
    "capped",
    "doc",
    "favicon_hash",
    "html_page",
    "icon_ico",
    "icon_png",
    "redirect",
    "render_location",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One canned response.

    ``title`` and ``charset`` are the ground truth for ``body``: the decoded
    title a correct extractor returns and the codec the body is written in.
    ``location`` is a template (see the module docstring). ``delay`` holds
    back the whole response; ``body_delay`` sends the head at once and the
    body later. ``gzip`` compresses the body when the client accepts it.
    """

    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html"
    headers: tuple[tuple[str, str], ...] = ()
    title: str | None = None
    charset: str | None = None
    location: str | None = None
    delay: float = 0.0
    body_delay: float = 0.0
    chunked: bool = False
    gzip: bool = False


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Site:
    """A virtual host: its name, the loopback address it resolves to, its pages.

    ``label`` is the short key of a special site (``"gbk-meta"``) or
    ``"generated"``. ``dynamic`` names a behaviour computed per request
    (``"echo"``: every path echoes the request; ``"websocket"``: ``/ws``
    accepts a WebSocket upgrade). ``all_addresses``: the lab's DNS answers
    the name with every address the lab listens on plus :data:`DEAD_ADDRESS`.
    """

    name: str
    ip: str
    label: str
    summary: str
    pages: Mapping[str, Page]
    http_pages: Mapping[str, Page] = field(default_factory=dict)
    https_pages: Mapping[str, Page] = field(default_factory=dict)
    dynamic: str | None = None
    favicon_path: str | None = None
    favicon: bytes | None = None
    server: str | None = None
    tech: tuple[str, ...] = ()
    all_addresses: bool = False

    def page(self, scheme: str, path: str) -> Page | None:
        """The page served at ``path`` (query included or not) over ``scheme``."""
        overrides = self.http_pages if scheme == "http" else self.https_pages
        page = overrides.get(path)
        if page is None:
            page = self.pages.get(path)
        if page is None and "?" in path:
            return self.page(scheme, path.split("?", 1)[0])
        return page


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    """What a correct scan of ``scheme://site/`` reports (following redirects).

    ``status`` is the final status (for an error, the last status seen);
    ``title`` the exact decoded title or ``None`` when the final page has
    none; ``final_*`` locate the final response; ``hops`` counts redirects
    followed; ``error`` is an :class:`aioscout.ErrorKind` value when a correct
    scan ends in an error (``"redirect_loop"``, ``"too_many_redirects"``,
    ``"blocked_scheme"``). ``delay`` is the server-side delay of the final
    page. ``server``, ``tech`` and the favicon fields describe the site.
    """

    site: str
    scheme: str
    status: int
    title: str | None
    final_scheme: str
    final_host: str
    final_path: str
    hops: int
    error: str | None = None
    charset: str | None = None
    content_type: str | None = None
    delay: float = 0.0
    server: str | None = None
    tech: tuple[str, ...] = ()
    favicon_path: str | None = None
    favicon: bytes | None = None
    favicon_mmh3: int | None = None
    websocket: bool = False

    def final_url(self, http_port: int, https_port: int) -> str:
        """The final URL once the lab's ports are known."""
        port = http_port if self.final_scheme == "http" else https_port
        return f"{self.final_scheme}://{self.final_host}:{port}{self.final_path}"


def favicon_hash(data: bytes) -> int:
    """The conventional favicon hash: MurmurHash3 (32-bit, signed) of the MIME base64 text."""
    return int(mmh3.hash(base64.encodebytes(data)))


def render_location(template: str, scheme: str, http_port: int, https_port: int) -> str:
    """Fill a Location template with the scheme and ports of the serving lab."""
    port = http_port if scheme == "http" else https_port
    return template.format(scheme=scheme, port=port, http_port=http_port, https_port=https_port)


# --- bytes made in code ------------------------------------------------------


@lru_cache(maxsize=8)
def icon_png(size: int = 16, rgb: tuple[int, int, int] = (200, 30, 60)) -> bytes:
    """A small solid-colour PNG made without any imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size, 9))
        + chunk(b"IEND", b"")
    )


@lru_cache(maxsize=1)
def icon_ico() -> bytes:
    """A one-image .ico file embedding a PNG (valid since Windows Vista)."""
    png = icon_png(16, (20, 120, 220))
    directory = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(png), 6 + 16)
    return directory + entry + png


# --- pages made in code -----------------------------------------------------


def doc(title_html: str | None, *, head: str = "", body: str = "", tag: str = "title") -> str:
    """An HTML document with ``title_html`` (already escaped) in a ``tag`` element."""
    title = "" if title_html is None else f"<{tag}>{title_html}</{tag.split()[0]}>\n"
    return (
        f"<!DOCTYPE html>\n<html>\n<head>\n{head}{title}</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def html_page(
    title: str | None,
    *,
    charset: str = "utf-8",
    content_type: str | None = None,
    head: str = "",
    body: str = "",
    title_html: str | None = None,
    status: int = 200,
    bom: bool = False,
    **extra: object,
) -> Page:
    """A page whose body is an HTML document encoded in ``charset``, its title the truth."""
    if title_html is None and title is not None:
        title_html = escape(title, quote=False)
    text = doc(title_html, head=head, body=body or f"<p>{escape(title or 'no title')}</p>")
    data = text.encode(charset)
    if bom:
        data = b"\xef\xbb\xbf" + data
    ct = content_type if content_type is not None else f"text/html; charset={charset}"
    return Page(
        status=status,
        body=data,
        content_type=ct,
        title=title,
        charset=charset,
        **extra,  # type: ignore[arg-type]
    )


def redirect(status: int, location: str) -> Page:
    """A redirect to ``location`` (a template, see :mod:`.sites`)."""
    body = f"<html><body>Moved ({status})</body></html>\n".encode()
    return Page(status=status, body=body, location=location, charset="utf-8")


# Records carry at most this many title characters (a documented limit of the
# record format); the expectation for a longer title is cut the same way.
TITLE_CAP = 1024


def capped(title: str) -> str:
    """``title`` cut as records cut it (see :data:`TITLE_CAP`)."""
    return title[:TITLE_CAP].rstrip()

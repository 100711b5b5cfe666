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

import base64
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from typing import Any
from urllib.parse import urljoin, urlsplit

import mmh3

__all__ = [
    "DEAD_ADDRESS",
    "ORIGIN",
    "Catalogue",
    "Expectation",
    "Page",
    "Site",
    "expected",
    "favicon_hash",
    "icon_png",
]

ORIGIN = "lab.test"
"""The DNS origin of the lab zone; every site name ends with it."""

_SENTINEL_PORTS = {"http": 1080, "https": 1443}
_UNKNOWN_HOST_TITLE = "aioscout lab: unknown host"
DEAD_ADDRESS = "127.0.0.254"  # never bound by the lab: connections there are refused
_NOT_FOUND_TITLE = "aioscout lab: not found"


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


# --- the special sites ------------------------------------------------------


def _doc(title_html: str | None, *, head: str = "", body: str = "", tag: str = "title") -> str:
    title = "" if title_html is None else f"<{tag}>{title_html}</{tag.split()[0]}>\n"
    return (
        f"<!DOCTYPE html>\n<html>\n<head>\n{head}{title}</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _html_page(
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
    if title_html is None and title is not None:
        title_html = escape(title, quote=False)
    text = _doc(title_html, head=head, body=body or f"<p>{escape(title or 'no title')}</p>")
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


def _redirect(status: int, location: str) -> Page:
    body = f"<html><body>Moved ({status})</body></html>\n".encode()
    return Page(status=status, body=body, location=location, charset="utf-8")


_GBK_TEXT = (
    "这是一个用于测试网络扫描器的中文网页。页面没有声明任何字符集，"
    "客户端需要根据内容自动检测编码。我们在这里写了足够多的简体中文，"
    "包括常见的词语：网络、服务器、浏览器、标题、编码、检测、测试、"
    "数据、信息、系统、安全、管理、用户、登录、首页、新闻、产品、服务、"
    "联系我们、关于我们、版权所有。希望自动检测能够正确识别这段文字。"
)
# Records carry at most this many title characters (a documented limit of the
# record format); the expectation for a longer title is cut the same way.
TITLE_CAP = 1024


def _capped(title: str) -> str:
    return title[:TITLE_CAP].rstrip()


_LONG_TITLE = " ".join(f"segment-{i:03d}" for i in range(120))
_LATIN1_TITLE_HTML = "Caf&eacute; &amp; Cr\u00e8me &#233;t&#xE9; &lt;b&gt; &copy; 2024"
_WORDPRESS_BODY = (
    '<div id="page" class="site"><header id="masthead" class="site-header">'
    '<h1 class="site-title"><a href="/" rel="home">Lab Blog</a></h1></header>'
    '<main id="main"><article class="post-1 post type-post status-publish">'
    "<h2>Hello world!</h2><p>Welcome to WordPress. This is your first post.</p>"
    '</article></main></div><script src="/wp-includes/js/wp-embed.min.js?ver=6.4"></script>'
)


def _special_sites(origin: str) -> list[Site]:
    def n(label: str) -> str:
        return f"{label}.{origin}" if label else origin

    def site(label: str, pages: dict[str, Page], ip: str = "127.0.0.1", **kw: Any) -> Site:
        summary = str(kw.pop("summary", label))
        return Site(
            name=n(label), ip=ip, label=label or "index", summary=summary, pages=pages, **kw
        )

    landing = {
        code: _html_page(f"Landed after {code}", head='<meta charset="utf-8">\n')
        for code in (301, 302, 307, 308)
    }
    deep = {f"/{i}": _redirect(302, f"/{i + 1}") for i in range(1, 12)}
    deep["/"] = _redirect(302, "/1")
    deep["/12"] = _html_page("Too deep to reach", head='<meta charset="utf-8">\n')
    ws_body = "<p>Connect a WebSocket to /ws.</p>"

    return [
        site(
            "",
            {"/": _html_page("aioscout lab", head='<meta charset="utf-8">\n')},
            summary="the zone apex",
        ),
        site(
            "utf8",
            {"/": _html_page("UTF-8 ✓ Ünïcödé — 中文 — Ελληνικά", head='<meta charset="utf-8">\n')},
            summary="utf-8 declared in the header and in <meta>",
        ),
        site(
            "utf8-meta",
            {
                "/": _html_page(
                    "Méta seulement — 只有 meta",
                    content_type="text/html",
                    head='<meta charset="utf-8">\n',
                )
            },
            summary="utf-8 declared only in <meta charset>",
        ),
        site(
            "utf8-nocharset",
            {
                "/": _html_page(
                    "Kein Zeichensatz: Größenänderung über Straßen",
                    content_type="text/html",
                    body="<p>Übermäßig große Änderungen führen zu Größenänderungen.</p>",
                )
            },
            summary="utf-8 with no declaration at all",
        ),
        site(
            "gbk-header",
            {
                "/": _html_page(
                    "中文标题：网络扫描器测试页面", charset="gbk", body=f"<p>{_GBK_TEXT}</p>"
                )
            },
            summary="gbk declared only in the Content-Type header",
        ),
        site(
            "gbk-meta",
            {
                "/": _html_page(
                    "简体中文页面——元标签声明编码",
                    charset="gbk",
                    content_type="text/html",
                    head='<meta http-equiv="Content-Type" content="text/html; charset=gbk">\n',
                    body=f"<p>{_GBK_TEXT}</p>",
                )
            },
            summary="gbk declared only in <meta http-equiv>",
        ),
        site(
            "gb2312-meta",
            {
                "/": _html_page(
                    "欢迎访问我们的网站",
                    charset="gb2312",
                    content_type="text/html",
                    head='<meta charset="gb2312">\n',
                    body=f"<p>{_GBK_TEXT}</p>",
                )
            },
            summary="gb2312 declared only in <meta charset>",
        ),
        site(
            "gbk-nocharset",
            {
                "/": _html_page(
                    "没有声明字符集的中文网页标题用于测试编码自动检测功能",
                    charset="gbk",
                    content_type="text/html",
                    body=f"<p>{_GBK_TEXT}</p>\n<p>{_GBK_TEXT}</p>",
                )
            },
            summary="gbk with no declaration: the charset must be detected",
        ),
        site(
            "big5",
            {
                "/": _html_page(
                    "繁體中文網頁標題測試",
                    charset="big5",
                    content_type="text/html",
                    head='<meta charset="big5">\n',
                    body="<p>這是一個繁體中文的測試頁面。</p>",
                )
            },
            summary="big5 declared only in <meta>",
        ),
        site(
            "shift-jis",
            {
                "/": _html_page(
                    "日本語のページタイトル",
                    charset="shift_jis",
                    body="<p>これはテストページです。</p>",
                )
            },
            summary="shift_jis declared in the header",
        ),
        site(
            "euc-kr",
            {
                "/": _html_page(
                    "한국어 페이지 제목",
                    charset="euc-kr",
                    content_type="text/html",
                    head='<meta charset="euc-kr">\n',
                )
            },
            summary="euc-kr declared only in <meta>",
        ),
        site(
            "windows-1251",
            {
                "/": _html_page(
                    "Привет, мир — тестовая страница",
                    charset="windows-1251",
                    body="<p>Съешь же ещё этих мягких булок.</p>",
                )
            },
            summary="windows-1251 declared in the header",
        ),
        site(
            "latin1-entities",
            {
                "/": _html_page(
                    "Café & Crème été <b> © 2024",
                    charset="iso-8859-1",
                    title_html=_LATIN1_TITLE_HTML,
                )
            },
            summary="iso-8859-1 bytes plus named, decimal and hex entities",
        ),
        site(
            "conflict",
            {
                "/": _html_page(
                    "头部声明优先 — header wins", charset="utf-8", head='<meta charset="gbk">\n'
                )
            },
            summary="header says utf-8, <meta> says gbk: the header wins",
        ),
        site(
            "bom-utf8",
            {"/": _html_page("BOM-marked UTF-8 — ✓ 日本", content_type="text/html", bom=True)},
            summary="utf-8 announced only by a byte order mark",
        ),
        site(
            "whitespace",
            {
                "/": _html_page(
                    "Lots of whitespace here",
                    title_html="\n\t  Lots   of\n\n   whitespace\t here  \r\n",
                )
            },
            summary="newlines, tabs and runs of spaces inside the title",
        ),
        site(
            "long-title",
            {"/": _html_page(_LONG_TITLE)},
            summary="a title over a thousand characters long",
        ),
        site(
            "no-title",
            {"/": _html_page(None, body="<h1>No title element here</h1>")},
            summary="no <title> element",
        ),
        site(
            "empty-body",
            {"/": Page(status=200, body=b"", content_type="text/html")},
            summary="200 with an empty body",
        ),
        site(
            "upper-title",
            {
                "/": Page(
                    body=_doc("Upper Case Title", tag='TITLE lang="en"').encode(),
                    content_type="text/html; charset=utf-8",
                    title="Upper Case Title",
                    charset="utf-8",
                )
            },
            summary="<TITLE> in capitals, with an attribute",
        ),
        site(
            "svg-title",
            {
                "/": _html_page(
                    "The Document Title",
                    body="<svg width='10' height='10'><title>SVG tooltip</title></svg>",
                )
            },
            summary="an SVG <title> in the body after the document title",
        ),
        site(
            "title-markup",
            {"/": _html_page("Tags <b>inside</b> title", title_html="Tags <b>inside</b> title")},
            summary="markup inside <title> is text (RCDATA)",
        ),
        site(
            "status-404",
            {"/": _html_page("404 Not Found — lab", status=404)},
            summary="404 with a title",
        ),
        site("status-403", {"/": _html_page("403 Forbidden — lab", status=403)}),
        site("status-500", {"/": _html_page("500 Internal Server Error — lab", status=500)}),
        site(
            "status-503",
            {
                "/": _html_page(
                    "503 Service Unavailable — lab", status=503, headers=(("Retry-After", "120"),)
                )
            },
        ),
        site(
            "redirect-301",
            {"/": _redirect(301, "/landing"), "/landing": landing[301]},
            summary="301 to an absolute path",
        ),
        site(
            "redirect-302",
            {
                "/": _redirect(302, "{scheme}://redirect-302." + origin + ":{port}/landing"),
                "/landing": landing[302],
            },
            summary="302 to an absolute URL on the same host",
        ),
        site(
            "redirect-307",
            {"/": _redirect(307, "landing"), "/landing": landing[307]},
            summary="307 to a relative path",
        ),
        site(
            "redirect-308",
            {"/": _redirect(308, "./landing?from=308"), "/landing": landing[308]},
            summary="308 to a dot-relative path with a query",
        ),
        site(
            "redirect-nolocation",
            {"/": _html_page("302 without Location", status=302)},
            summary="a 3xx without Location: the final response",
        ),
        site(
            "cross-a",
            {"/": _redirect(302, "{scheme}://cross-b." + origin + ":{port}/")},
            summary="redirects to another host",
        ),
        site("cross-b", {"/": _html_page("Cross-host target B")}, ip="127.0.0.2"),
        site(
            "to-https",
            {"/": _html_page("Secure landing")},
            http_pages={"/": _redirect(301, "https://to-https." + origin + ":{https_port}/")},
            ip="127.0.0.3",
            summary="http redirects to https",
        ),
        site(
            "chain",
            {
                "/": _redirect(302, "/one"),
                "/one": _redirect(301, "{scheme}://chain-end." + origin + ":{port}/two"),
            },
            summary="first of three redirects across two hosts",
        ),
        site(
            "chain-end",
            {
                "/two": _redirect(307, "/three"),
                "/three": _html_page("End of the chain"),
                "/": _html_page("Chain end host"),
            },
            ip="127.0.0.3",
        ),
        site(
            "loop",
            {"/": _redirect(302, "/a"), "/a": _redirect(302, "/")},
            summary="a redirect loop",
        ),
        site("deep", deep, summary="twelve redirects: more than the default limit"),
        site(
            "redirect-ftp",
            {"/": _redirect(302, "ftp://files." + origin + "/pub/")},
            summary="a redirect to a non-http scheme",
        ),
        site(
            "slow",
            {"/": _html_page("Slow response", delay=0.5)},
            summary="the whole response is held back half a second",
        ),
        site(
            "slow-body",
            {"/": _html_page("Slow body", body_delay=0.5)},
            summary="headers at once, the body half a second later",
        ),
        site(
            "gzip",
            {
                "/": _html_page(
                    "Compressed page", gzip=True, body="<p>" + "compressible text " * 200 + "</p>"
                )
            },
            summary="gzip Content-Encoding when accepted",
        ),
        site(
            "chunked",
            {"/": _html_page("Chunked page", chunked=True)},
            summary="Transfer-Encoding: chunked",
        ),
        site(
            "large",
            {"/": _html_page("Large page", body="<p>" + "0123456789abcdef" * 131072 + "</p>")},
            summary="a 2 MiB body after an early title",
        ),
        site(
            "multi",
            {"/": _html_page("Many addresses", head='<meta charset="utf-8">\n')},
            all_addresses=True,
            summary="A records for every lab address and one where nothing listens",
        ),
        site(
            "favicon",
            {
                "/": _html_page("Has favicon.ico"),
                "/favicon.ico": Page(body=icon_ico(), content_type="image/x-icon"),
            },
            favicon_path="/favicon.ico",
            favicon=icon_ico(),
            summary="serves /favicon.ico",
        ),
        site(
            "icon-link",
            {
                "/": _html_page(
                    "Icon via link", head='<link rel="icon" href="/static/icon.png">\n'
                ),
                "/static/icon.png": Page(body=icon_png(), content_type="image/png"),
            },
            favicon_path="/static/icon.png",
            favicon=icon_png(),
            summary='<link rel="icon" href="/static/icon.png">, no /favicon.ico',
        ),
        site(
            "tech",
            {
                "/": _html_page(
                    "Lab Blog – Just another WordPress site",
                    head='<meta name="generator" content="WordPress 6.4">\n'
                    "<link rel='stylesheet' href='/wp-content/themes/lab/style.css'>\n",
                    body=_WORDPRESS_BODY,
                    headers=(
                        ("Server", "nginx/1.24.0"),
                        ("X-Powered-By", "PHP/8.2"),
                        ("Set-Cookie", "PHPSESSID=lab0123456789; path=/; HttpOnly"),
                        ("Set-Cookie", "wordpress_test_cookie=WP%20Cookie%20check; path=/"),
                        ("Link", '</wp-json/>; rel="https://api.w.org/"'),
                    ),
                )
            },
            server="nginx/1.24.0",
            tech=("nginx", "php", "wordpress"),
            summary="nginx + PHP + WordPress fingerprints",
        ),
        site(
            "echo",
            {},
            dynamic="echo",
            summary="echoes method, path, query, headers, cookies and body as JSON",
        ),
        site(
            "ws",
            {"/": _html_page("WebSocket endpoint", body=ws_body)},
            dynamic="websocket",
            summary="accepts a WebSocket upgrade on /ws",
        ),
    ]


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
    page = _html_page(
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

_UNKNOWN_HOST_PAGE = _html_page(_UNKNOWN_HOST_TITLE, status=404)
_NOT_FOUND_PAGE = _html_page(_NOT_FOUND_TITLE, status=404)


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
        self.special: tuple[Site, ...] = tuple(_special_sites(self.origin))
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
            title=None if error or page.title is None else _capped(page.title),
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

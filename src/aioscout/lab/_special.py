"""The lab's special sites: one per behaviour a scanner must get right.

Each group below is a list of :class:`~._pages.Site` built by ``site``; the
catalogue serves them in the order :func:`special_sites` gives. The title and
charset of every page are the ground truth, written next to its bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._pages import Page, Site, doc, html_page, icon_ico, icon_png, redirect

__all__ = ["special_sites"]

_Make = Callable[..., Site]

_GBK_TEXT = (
    "这是一个用于测试网络扫描器的中文网页。页面没有声明任何字符集，"
    "客户端需要根据内容自动检测编码。我们在这里写了足够多的简体中文，"
    "包括常见的词语：网络、服务器、浏览器、标题、编码、检测、测试、"
    "数据、信息、系统、安全、管理、用户、登录、首页、新闻、产品、服务、"
    "联系我们、关于我们、版权所有。希望自动检测能够正确识别这段文字。"
)
_LONG_TITLE = " ".join(f"segment-{i:03d}" for i in range(120))
_LATIN1_TITLE_HTML = "Caf&eacute; &amp; Cr\u00e8me &#233;t&#xE9; &lt;b&gt; &copy; 2024"
_WORDPRESS_BODY = (
    '<div id="page" class="site"><header id="masthead" class="site-header">'
    '<h1 class="site-title"><a href="/" rel="home">Lab Blog</a></h1></header>'
    '<main id="main"><article class="post-1 post type-post status-publish">'
    "<h2>Hello world!</h2><p>Welcome to WordPress. This is your first post.</p>"
    '</article></main></div><script src="/wp-includes/js/wp-embed.min.js?ver=6.4"></script>'
)


def special_sites(origin: str) -> list[Site]:
    """The special sites of the zone ``origin``, in the catalogue's order."""

    def site(label: str, pages: dict[str, Page], ip: str = "127.0.0.1", **kw: Any) -> Site:
        summary = str(kw.pop("summary", label))
        name = f"{label}.{origin}" if label else origin
        return Site(name=name, ip=ip, label=label or "index", summary=summary, pages=pages, **kw)

    return [
        *_charset_sites(site),
        *_more_charset_sites(site),
        *_title_sites(site),
        *_status_sites(site),
        *_redirect_sites(site, origin),
        *_transfer_sites(site),
        *_feature_sites(site),
    ]


def _charset_sites(site: _Make) -> list[Site]:
    """The sites about UTF-8 and the Chinese codecs: declared where, or detected."""
    return [
        site(
            "",
            {"/": html_page("aioscout lab", head='<meta charset="utf-8">\n')},
            summary="the zone apex",
        ),
        site(
            "utf8",
            {"/": html_page("UTF-8 ✓ Ünïcödé — 中文 — Ελληνικά", head='<meta charset="utf-8">\n')},
            summary="utf-8 declared in the header and in <meta>",
        ),
        site(
            "utf8-meta",
            {
                "/": html_page(
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
                "/": html_page(
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
                "/": html_page(
                    "中文标题：网络扫描器测试页面", charset="gbk", body=f"<p>{_GBK_TEXT}</p>"
                )
            },
            summary="gbk declared only in the Content-Type header",
        ),
        site(
            "gbk-meta",
            {
                "/": html_page(
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
                "/": html_page(
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
                "/": html_page(
                    "没有声明字符集的中文网页标题用于测试编码自动检测功能",
                    charset="gbk",
                    content_type="text/html",
                    body=f"<p>{_GBK_TEXT}</p>\n<p>{_GBK_TEXT}</p>",
                )
            },
            summary="gbk with no declaration: the charset must be detected",
        ),
    ]


def _more_charset_sites(site: _Make) -> list[Site]:
    """The sites about other codecs, entities, conflicts and byte order marks."""
    return [
        site(
            "big5",
            {
                "/": html_page(
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
                "/": html_page(
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
                "/": html_page(
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
                "/": html_page(
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
                "/": html_page(
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
                "/": html_page(
                    "头部声明优先 — header wins", charset="utf-8", head='<meta charset="gbk">\n'
                )
            },
            summary="header says utf-8, <meta> says gbk: the header wins",
        ),
        site(
            "bom-utf8",
            {"/": html_page("BOM-marked UTF-8 — ✓ 日本", content_type="text/html", bom=True)},
            summary="utf-8 announced only by a byte order mark",
        ),
    ]


def _title_sites(site: _Make) -> list[Site]:
    """The sites about what a title is: whitespace, length, markup, none."""
    return [
        site(
            "whitespace",
            {
                "/": html_page(
                    "Lots of whitespace here",
                    title_html="\n\t  Lots   of\n\n   whitespace\t here  \r\n",
                )
            },
            summary="newlines, tabs and runs of spaces inside the title",
        ),
        site(
            "long-title",
            {"/": html_page(_LONG_TITLE)},
            summary="a title over a thousand characters long",
        ),
        site(
            "no-title",
            {"/": html_page(None, body="<h1>No title element here</h1>")},
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
                    body=doc("Upper Case Title", tag='TITLE lang="en"').encode(),
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
                "/": html_page(
                    "The Document Title",
                    body="<svg width='10' height='10'><title>SVG tooltip</title></svg>",
                )
            },
            summary="an SVG <title> in the body after the document title",
        ),
        site(
            "title-markup",
            {"/": html_page("Tags <b>inside</b> title", title_html="Tags <b>inside</b> title")},
            summary="markup inside <title> is text (RCDATA)",
        ),
    ]


def _status_sites(site: _Make) -> list[Site]:
    """The sites answering with an error status."""
    return [
        site(
            "status-404",
            {"/": html_page("404 Not Found — lab", status=404)},
            summary="404 with a title",
        ),
        site("status-403", {"/": html_page("403 Forbidden — lab", status=403)}),
        site("status-500", {"/": html_page("500 Internal Server Error — lab", status=500)}),
        site(
            "status-503",
            {
                "/": html_page(
                    "503 Service Unavailable — lab", status=503, headers=(("Retry-After", "120"),)
                )
            },
        ),
    ]


def _redirect_sites(site: _Make, origin: str) -> list[Site]:
    """The sites that redirect: each kind of Location, across hosts and schemes, loops."""
    landing = {
        code: html_page(f"Landed after {code}", head='<meta charset="utf-8">\n')
        for code in (301, 302, 307, 308)
    }
    deep = {f"/{i}": redirect(302, f"/{i + 1}") for i in range(1, 12)}
    deep["/"] = redirect(302, "/1")
    deep["/12"] = html_page("Too deep to reach", head='<meta charset="utf-8">\n')
    return [
        site(
            "redirect-301",
            {"/": redirect(301, "/landing"), "/landing": landing[301]},
            summary="301 to an absolute path",
        ),
        site(
            "redirect-302",
            {
                "/": redirect(302, "{scheme}://redirect-302." + origin + ":{port}/landing"),
                "/landing": landing[302],
            },
            summary="302 to an absolute URL on the same host",
        ),
        site(
            "redirect-307",
            {"/": redirect(307, "landing"), "/landing": landing[307]},
            summary="307 to a relative path",
        ),
        site(
            "redirect-308",
            {"/": redirect(308, "./landing?from=308"), "/landing": landing[308]},
            summary="308 to a dot-relative path with a query",
        ),
        site(
            "redirect-nolocation",
            {"/": html_page("302 without Location", status=302)},
            summary="a 3xx without Location: the final response",
        ),
        site(
            "cross-a",
            {"/": redirect(302, "{scheme}://cross-b." + origin + ":{port}/")},
            summary="redirects to another host",
        ),
        site("cross-b", {"/": html_page("Cross-host target B")}, ip="127.0.0.2"),
        site(
            "to-https",
            {"/": html_page("Secure landing")},
            http_pages={"/": redirect(301, "https://to-https." + origin + ":{https_port}/")},
            ip="127.0.0.3",
            summary="http redirects to https",
        ),
        site(
            "chain",
            {
                "/": redirect(302, "/one"),
                "/one": redirect(301, "{scheme}://chain-end." + origin + ":{port}/two"),
            },
            summary="first of three redirects across two hosts",
        ),
        site(
            "chain-end",
            {
                "/two": redirect(307, "/three"),
                "/three": html_page("End of the chain"),
                "/": html_page("Chain end host"),
            },
            ip="127.0.0.3",
        ),
        site(
            "loop",
            {"/": redirect(302, "/a"), "/a": redirect(302, "/")},
            summary="a redirect loop",
        ),
        site("deep", deep, summary="twelve redirects: more than the default limit"),
        site(
            "redirect-ftp",
            {"/": redirect(302, "ftp://files." + origin + "/pub/")},
            summary="a redirect to a non-http scheme",
        ),
    ]


def _transfer_sites(site: _Make) -> list[Site]:
    """The sites about how a body arrives: slowly, compressed, chunked, large; many addresses."""
    return [
        site(
            "slow",
            {"/": html_page("Slow response", delay=0.5)},
            summary="the whole response is held back half a second",
        ),
        site(
            "slow-body",
            {"/": html_page("Slow body", body_delay=0.5)},
            summary="headers at once, the body half a second later",
        ),
        site(
            "gzip",
            {
                "/": html_page(
                    "Compressed page", gzip=True, body="<p>" + "compressible text " * 200 + "</p>"
                )
            },
            summary="gzip Content-Encoding when accepted",
        ),
        site(
            "chunked",
            {"/": html_page("Chunked page", chunked=True)},
            summary="Transfer-Encoding: chunked",
        ),
        site(
            "large",
            {"/": html_page("Large page", body="<p>" + "0123456789abcdef" * 131072 + "</p>")},
            summary="a 2 MiB body after an early title",
        ),
        site(
            "multi",
            {"/": html_page("Many addresses", head='<meta charset="utf-8">\n')},
            all_addresses=True,
            summary="A records for every lab address and one where nothing listens",
        ),
    ]


def _feature_sites(site: _Make) -> list[Site]:
    """The sites for the optional probes: favicons, technologies, echo, WebSocket."""
    ws_body = "<p>Connect a WebSocket to /ws.</p>"
    return [
        site(
            "favicon",
            {
                "/": html_page("Has favicon.ico"),
                "/favicon.ico": Page(body=icon_ico(), content_type="image/x-icon"),
            },
            favicon_path="/favicon.ico",
            favicon=icon_ico(),
            summary="serves /favicon.ico",
        ),
        site(
            "icon-link",
            {
                "/": html_page("Icon via link", head='<link rel="icon" href="/static/icon.png">\n'),
                "/static/icon.png": Page(body=icon_png(), content_type="image/png"),
            },
            favicon_path="/static/icon.png",
            favicon=icon_png(),
            summary='<link rel="icon" href="/static/icon.png">, no /favicon.ico',
        ),
        site(
            "tech",
            {
                "/": html_page(
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
            {"/": html_page("WebSocket endpoint", body=ws_body)},
            dynamic="websocket",
            summary="accepts a WebSocket upgrade on /ws",
        ),
    ]

"""Technology detection on headers, cookies and HTML alone."""

from __future__ import annotations

import pytest

from aioscout.extract.tech import MAX_COST, Work, detect

WORDPRESS_HEAD = """<!DOCTYPE html><html><head>
<meta name="generator" content="WordPress 6.4.2">
<link rel="stylesheet" href="/wp-content/themes/x/style.css">
<script src="https://cdn.jsdelivr.net/npm/bootstrap@5.3.2/dist/js/bootstrap.bundle.min.js"></script>
<script src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
</head><body>"""


def test_server_headers_with_versions() -> None:
    found = detect([("Server", "nginx/1.24.0"), ("X-Powered-By", "PHP/8.2.1")], "")
    assert "Nginx:1.24.0" in found
    assert "PHP:8.2.1" in found
    assert detect([("server", "Apache")], "") == ["Apache"]
    assert "Microsoft ASP.NET" in " ".join(detect([("X-AspNet-Version", "4.0.30319")], ""))


def test_cookies_from_set_cookie_and_jar() -> None:
    assert "PHP" in detect([("Set-Cookie", "PHPSESSID=abc; path=/")], "")
    assert "Java" in detect([], "", cookies={"JSESSIONID": "x"})
    assert "Laravel" in detect([("Set-Cookie", "laravel_session=eyJ; HttpOnly")], "")


def test_meta_generator_script_src_and_implies() -> None:
    found = detect([], WORDPRESS_HEAD + "<p>hello</p></body></html>")
    assert "WordPress:6.4.2" in found
    assert "Bootstrap:5.3.2" in found
    assert "PHP" in found  # implied by WordPress
    assert "MySQL" in found
    assert found == sorted(found)


def test_plain_page_detects_nothing() -> None:
    assert detect([("Content-Type", "text/html")], "<html><body>hi</body></html>") == []
    assert detect([], "") == []


@pytest.mark.slow
def test_large_body_is_cheap_and_hostile_input_is_safe() -> None:
    body = WORDPRESS_HEAD + "<div class='c'><p>text</p><a href='/x'>l</a></div>\n" * 4000
    work = Work()
    found = detect([("Server", "nginx")], body[: 256 * 1024], work=work)
    assert "WordPress:6.4.2" in found
    assert work.chars < 64 * 1024  # a plain page is searched in a few windows
    hostile = "<script src=" * 30_000 + "<meta " * 10_000
    work = Work()
    detect([("Server", "x" * 100_000)] * 300, hostile, work=work)
    assert work.longest <= 512
    assert work.cost <= MAX_COST + 512 * 513

"""Charset-aware title extraction on bytes alone."""

from __future__ import annotations

import html
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aioscout.extract.text import clean_text
from aioscout.extract.title import decode_html, extract_title, normalize_charset

# (python codec used to write the page, label a server would declare, real text)
SAMPLES = [
    ("gbk", "gbk", "中文网站首页 - 欢迎访问我们的公司"),
    ("gb2312", "gb2312", "北京市人民政府门户网站"),
    ("big5", "big5", "繁體中文網站首頁 歡迎光臨"),
    ("shift_jis", "Shift_JIS", "日本語のウェブサイト トップページ"),
    ("cp1251", "windows-1251", "Добро пожаловать на наш сайт"),
    ("euc_kr", "EUC-KR", "한국어 웹사이트 홈페이지에 오신 것을 환영합니다"),
    ("utf-8", "utf-8", "Ünïcödé – 中文 – Русский – 日本語"),
]


def _page(title: str, head_extra: str = "", body: str = "") -> str:
    return (
        f"<!DOCTYPE html>\n<html><head>{head_extra}\n<title>{title}</title>\n"
        f"</head><body><h1>{title}</h1><p>{body}</p></body></html>"
    )


@pytest.mark.parametrize(("codec", "label", "text"), SAMPLES)
def test_charset_declared_in_header(codec: str, label: str, text: str) -> None:
    raw = _page(text).encode(codec)
    assert extract_title(raw, f"text/html; charset={label}") == text
    assert extract_title(raw, f'text/html;charset="{label.upper()}"') == text


@pytest.mark.parametrize(("codec", "label", "text"), SAMPLES)
def test_charset_only_in_meta(codec: str, label: str, text: str) -> None:
    for meta in (
        f'<meta charset="{label}">',
        f"<META http-equiv='Content-Type' content='text/html; charset={label}'>",
    ):
        raw = _page(text, head_extra=meta).encode(codec)
        assert extract_title(raw, "text/html") == text
        assert extract_title(raw, None) == text


@pytest.mark.parametrize(("codec", "label", "text"), SAMPLES)
def test_charset_undeclared_is_detected(codec: str, label: str, text: str) -> None:
    assert extract_title(_page(text).encode(codec), "text/html") == text
    long_page = _page(text, body=(text + " ") * 200).encode(codec)
    assert extract_title(long_page, None) == text


def test_bom_beats_header_and_meta() -> None:
    text = "标题 Überschrift"
    raw = b"\xef\xbb\xbf" + _page(text, '<meta charset="gbk">').encode("utf-8")
    assert extract_title(raw, "text/html; charset=iso-8859-1") == text
    raw16 = b"\xff\xfe" + _page(text).encode("utf-16-le")
    assert extract_title(raw16, "text/html; charset=gbk") == text


def test_header_beats_meta() -> None:
    text = "Добро пожаловать"
    raw = _page(text, '<meta charset="koi8-r">').encode("cp1251")
    assert extract_title(raw, "text/html; charset=windows-1251") == text


def test_header_utf8_that_is_plainly_wrong_yields_to_meta() -> None:
    text = "中文网站首页"
    raw = _page(text, '<meta charset="gb2312">').encode("gbk")
    assert extract_title(raw, "text/html; charset=UTF-8") == text


def test_meta_in_comment_is_ignored_and_unknown_labels_fall_through() -> None:
    text = "中文网站首页"
    raw = _page(text, '<!-- <meta charset="big5"> --><meta charset="gbk">').encode("gbk")
    assert extract_title(raw, "text/html; charset=no-such-charset") == text


def test_whatwg_aliases() -> None:
    assert normalize_charset("GB2312") == "gb18030"
    assert normalize_charset("x-gbk") == "gb18030"
    assert normalize_charset("ISO-8859-1") == "cp1252"
    assert normalize_charset("latin1") == "cp1252"
    assert normalize_charset("US-ASCII") == "cp1252"
    assert normalize_charset("Shift_JIS") == "cp932"
    assert normalize_charset("euc-kr") == "cp949"
    assert normalize_charset(" 'utf8' ") == "utf-8"
    assert normalize_charset("windows-1251") == "cp1251"
    assert normalize_charset("bogus") is None
    assert normalize_charset(None) is None
    # A latin-1 label reads 0x93/0x94 as curly quotes, as browsers do.
    assert extract_title(b"<title>\x93hi\x94</title>", "text/html; charset=iso-8859-1") == "“hi”"
    # gb18030 decodes characters that plain gb2312 lacks.
    assert extract_title("<title>镕</title>".encode("gbk"), "text/html; charset=gb2312") == "镕"


def test_decode_html_replaces_bad_bytes() -> None:
    assert decode_html(b"ok \xff\xfe\xfd", "text/html; charset=shift_jis").startswith("ok ")
    assert decode_html(b"\x82\xa0\x81 ", "text/html; charset=shift_jis") == "あ\ufffd "
    assert decode_html(b"a\xffb", "text/html; charset=utf-16") == "\uff61\ufffd"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"<title>Hello</title>", "Hello"),
        (b"<TITLE lang='en' data-x=\"1\">Hello</TiTlE>", "Hello"),
        (b"<title>  A\n\t&amp;\r\n B&nbsp;&nbsp;C &#x4e2d;&#25991; </title>", "A & B C 中文"),
        (b"<title></title>", ""),
        (b"<title>   \n </title>", ""),
        (b"<html><body>no title here</body></html>", None),
        (b"", None),
        (b"<titles>x</titles>", None),
        (b"<title>first</title><title>second</title>", "first"),
        (b"<svg><title>icon</title></svg><title>Page</title>", "Page"),
        (b"<svg/><title>Page</title>", "Page"),
        (b"<!-- <title>old</title> --><title>new</title>", "new"),
        (b"<script>var s = '<title>js</title>';</script><title>real</title>", "real"),
        (b"<title>a <b>not bold</b></title>", "a <b>not bold</b>"),
        (b"<title>unterminated title text", "unterminated title text"),
        (b"<!-- never closed <title>x</title>", None),
        (b"<title", None),
    ],
)
def test_title_cases(raw: bytes, expected: str | None) -> None:
    assert extract_title(raw, "text/html") == expected


def test_title_is_capped() -> None:
    raw = b"<title>" + b"word " * 1000 + b"</title>"
    title = extract_title(raw, None, max_len=22)
    assert title == "word word word word wo"
    assert extract_title(b"<title>ab      cd</title>", None, max_len=3) == "ab"
    assert extract_title(b"<title>abc</title>", None, max_len=0) == ""
    with pytest.raises(ValueError, match="max_len"):
        extract_title(b"<title>abc</title>", None, max_len=-1)


@pytest.mark.parametrize(
    "raw",
    [
        b"<title" * 45_000,
        b"<title>" + b"<" * 250_000,
        b"<" * 256 * 1024,
        b"<!--" * 60_000,
        b"<svg>" * 50_000 + b"<title>x</title>",
        b"<script>" * 30_000,
        b"<meta " * 40_000 + b"<title>x</title>",
        b"<title>" + b"&amp" * 60_000,
        b"\x81" * 256 * 1024,
        bytes(range(256)) * 1024,
    ],
)
def test_pathological_input_is_linear(raw: bytes) -> None:
    started = time.perf_counter()
    extract_title(raw, None)
    assert time.perf_counter() - started < 1.0


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096), st.sampled_from([None, "text/html", "text/html; charset=gbk"]))
def test_random_bytes_never_raise(raw: bytes, content_type: str | None) -> None:
    title = extract_title(b"<title>" + raw, content_type, max_len=100)
    assert title is not None
    assert len(title) <= 100
    assert title == " ".join(title.split())


_ANY_CHAR = st.characters(exclude_categories=["Cs"])
_ALPHABETS: dict[str, st.SearchStrategy[str]] = {
    "utf-8": _ANY_CHAR,
    "gb18030": _ANY_CHAR,
    "gbk": st.sampled_from(list("中文网站首页欢迎访问我们的公司北京上海 abcXYZ&<>\"'\n\t.-:|")),
    "big5": st.sampled_from(list("繁體中文網站首頁歡迎光臨台北 abcXYZ&<>\"'\n\t.-:|")),
    "shift_jis": st.sampled_from(list("日本語のウェブサイトトップページ東京 abcXYZ&<>\"'\n\t.-:|")),
    "cp1251": st.sampled_from(list("Добро пожаловать наш сайт Москва abcXYZ&<>\"'\n\t.-:|")),
    "euc_kr": st.sampled_from(list("한국어웹사이트홈페이지서울 abcXYZ&<>\"'\n\t.-:|")),
}


@st.composite
def _declared_titles(draw: st.DrawFn) -> tuple[str, str, str]:
    codec = draw(st.sampled_from(sorted(_ALPHABETS)))
    text = draw(st.text(alphabet=_ALPHABETS[codec], max_size=60))
    where = draw(st.sampled_from(["header", "meta"]))
    return codec, text, where


@settings(max_examples=200)
@given(_declared_titles(), st.integers(min_value=1, max_value=80))
def test_title_round_trips_through_escape_and_declared_encoding(
    case: tuple[str, str, str], max_len: int
) -> None:
    codec, text, where = case
    head = f'<meta charset="{codec}">' if where == "meta" else ""
    raw = _page(html.escape(text), head_extra=head).encode(codec)
    content_type = f"text/html; charset={codec}" if where == "header" else "text/html"
    got = extract_title(raw, content_type, max_len=max_len)
    assert got == " ".join(clean_text(text).split())[:max_len].rstrip()
    assert got is not None
    assert "  " not in got
    assert len(got) <= max_len


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # quoted ">" in attributes of the title tag and of tags before it
        (b'<title data-x="a>b">Real</title>', "Real"),
        (b"<meta content='x>y'><title>After meta</title>", "After meta"),
        (b'<meta content="<title>fake</title>"><title>Real</title>', "Real"),
        (b"<a title=<title>x</a><title>Real</title>", "Real"),
        (b'<div data-x="unclosed><title>never</title>', None),
        # comments, bogus comments and CDATA outside foreign content
        (b"<!--><title>a</title>", "a"),
        (b"<!---><title>b</title>", "b"),
        (b"<!-- x --!><title>c</title>", "c"),
        (b"<!-- <title>no</title> -- ><title>no2</title> --><title>yes</title>", "yes"),
        (b"<?php echo '<title>x</title>'; ?><title>y</title>", "y"),
        (b"<![CDATA[<title>cdata</title>]]><title>z</title>", "z"),
        (b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN"><title>Doc</title>', "Doc"),
        # raw-text elements
        (b"<style>/* <title>css</title> */</style><title>ok</title>", "ok"),
        (b"<textarea><title>ta</title></textarea><title>ok</title>", "ok"),
        (b"<noscript><title>ns</title></noscript><title>ok</title>", "ok"),
        (b"<xmp><title>xmp</title></xmp><title>ok</title>", "ok"),
        (b"<iframe><title>if</title></iframe><title>ok</title>", "ok"),
        (b"<noembed><title>ne</title></noembed><title>ok</title>", "ok"),
        (b"<script><!--<script></script><title>x</title>--></script><title>ok</title>", "ok"),
        (b"<script>a='</scripts><title>x</title>'</script ><title>ok</title>", "ok"),
        (b"<plaintext><title>pt</title>", None),
        (b"<template><title>tpl</title></template><title>doc</title>", "doc"),
        # foreign content
        (b"<math><title>m</title></math><title>ok</title>", "ok"),
        (b"<svg><![CDATA[</svg><title>no</title>]]></svg><title>ok</title>", "ok"),
        (b"<svg><p><title>breakout</title>", "breakout"),
        # end tags, case, placement
        (b"<TITLE>Upper</TITLE>", "Upper"),
        (b"<title>Spaced</title >", "Spaced"),
        (b"<title>Slash</title/>", "Slash"),
        (b"<title/>Self closed</title>", "Self closed"),
        (b"<title>a</titles>b</title>", "a</titles>b"),
        (b"<html><body><p>x</p><title>In body</title>", "In body"),
        (b"<head><title>Head</title></head><body><title>Body</title>", "Head"),
        (b"</html><title>After html</title>", "After html"),
        (b"< title>no</title><title>yes</title>", "yes"),
        # control characters, entities and whitespace
        (b"<title>a\x1b[2Jb</title>", "a[2Jb"),
        (b"<title>a\x00b</title>", "ab"),
        (b"<title>a\x07\x08\x7fb</title>", "ab"),
        ("<title>a\u0085\u009bb</title>".encode(), "ab"),
        ("<title>a\u202eb\u2066c</title>".encode(), "abc"),
        (b"<title>a&#27;b&#x80;c&#0;d&#x9b;e</title>", "ab\u20acc\ufffdd\u203ae"),
        (b"<title>a&ampb &lt;c&gt; &copy 2024</title>", "a&b <c> \xa9 2024"),
        (b"<title>\r\n\t a \x0c b \r\n</title>", "a b"),
    ],
)
def test_title_found_as_an_html_tokenizer_finds_it(raw: bytes, expected: str | None) -> None:
    assert extract_title(raw, "text/html; charset=utf-8") == expected


def test_title_bytes_c1_and_boms() -> None:
    # windows-1252: 0x80 is the euro sign; 0x81 is the C1 control U+0081 (dropped).
    latin = "text/html; charset=windows-1252"
    assert extract_title(b"<title>\x80\x81x</title>", latin) == "\u20acx"
    assert extract_title(b"\xef\xbb\xbf<title>BOM</title>", None) == "BOM"
    utf16 = "\ufeff<title>Wide</title>".encode("utf-16-le")
    assert extract_title(utf16, "text/html; charset=iso-8859-1") == "Wide"

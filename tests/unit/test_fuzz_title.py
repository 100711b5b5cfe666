"""Fuzzing the title extractor with hostile documents.

Whatever the bytes, :func:`extract_title` returns ``None`` or a short,
whitespace-collapsed string, never raises, and takes time linear in the
input; what comes after the closing tag never changes the title; a
document cut at any byte still yields a prefix-consistent answer.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioscout.extract import title as title_mod
from aioscout.extract.text import clean_text
from aioscout.extract.title import extract_title

from ._fuzz import fuzz, quick

pytestmark = pytest.mark.slow

_tags = st.sampled_from(
    [
        b"<title>",
        b"</title>",
        b"<TITLE lang=x>",
        b"<title a='>'>",
        b"</title >",
        b'<meta content="<title>">',
        b"<a b=c>",
        b"<br/>",
        b"<!DOCTYPE html>",
        b"<!-->",
        b"<?x?>",
        b"<![CDATA[",
        b"]]>",
        b"<textarea>",
        b"</textarea>",
        b"<noscript>",
        b"</noscript>",
        b"<template>",
        b"</template>",
        b"<math>",
        b"<p>",
        b"'",
        b'"',
        b"=",
        b"<title",
        b"</title",
        b"<!--",
        b"-->",
        b"<script>",
        b"</script>",
        b"<svg>",
        b"</svg>",
        b"<style>",
        b'<meta charset="gbk">',
        b'<meta http-equiv="Content-Type" content="text/html; charset=shift_jis">',
        b"<meta charset=",
        b"&amp;",
        b"&#x1F600;",
        b"&#99999999;",
        b"&",
        b"\xef\xbb\xbf",
        b"\xff\xfe",
        b"\x00",
        b"\xa0",
        b"\r\n\t ",
        "中文".encode("gbk"),
        "日本".encode("shift_jis"),
    ]
)
_document = st.lists(_tags | st.binary(max_size=30), max_size=40).map(b"".join)
_content_type = st.sampled_from(
    [
        None,
        "text/html",
        "text/html; charset=utf-8",
        "text/html; charset=gbk",
        "text/html; charset=x",
    ]
)


def _check(title: str | None, max_len: int) -> None:
    if title is None:
        return
    assert len(title) <= max_len
    assert title == " ".join(title.split())


@fuzz
@quick
@given(_document, _content_type, st.integers(0, 200))
def test_any_document_gives_a_clean_bounded_title(
    raw: bytes, content_type: str | None, max_len: int
) -> None:
    _check(extract_title(raw, content_type, max_len=max_len), max_len)


_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60)
_utf8_tail = st.lists(_tags.filter(bytes.isascii) | _text.map(str.encode), max_size=20).map(
    b"".join
)


@fuzz
@quick
@given(_text, _utf8_tail)
def test_what_follows_the_title_does_not_change_it(text: str, tail: bytes) -> None:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    head = f"<html><head><title>{escaped}</title>".encode()
    want = extract_title(head, "text/html; charset=utf-8")
    assert extract_title(head + tail, "text/html; charset=utf-8") == want
    assert want == " ".join(clean_text(text).split())[:1024].rstrip()


def test_a_stray_byte_after_the_title_keeps_the_declared_utf8() -> None:
    # Common on real sites: a Latin-1 byte in a footer of a page served as UTF-8.
    raw = "<html><head><title>Café Добро 中文</title></head><p>".encode() + b"caf\xe9</p>"
    assert extract_title(raw, "text/html; charset=utf-8") == "Café Добро 中文"


def test_nul_in_a_title_is_not_kept() -> None:
    assert "\x00" not in (extract_title(b"<title>a\x00b</title>", None) or "")


@fuzz
@quick
@given(_document, st.data())
def test_a_document_cut_anywhere_never_raises(raw: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(raw)))
    _check(extract_title(raw[:cut], None), 1024)


@fuzz
@quick
@given(_tags, st.integers(100, 256 * 1024))
def test_repeated_fragments_stay_fast(tag: bytes, size: int) -> None:
    # Up to the default body cap (256 KiB) of one fragment repeated.
    raw = b"<html>" + tag * (size // len(tag))
    started = time.perf_counter()
    _check(extract_title(raw, None), 1024)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.2f}s on {tag!r} x {size // len(tag)}"


@fuzz
@quick
@given(_document)
def test_the_fast_head_check_agrees_with_the_tokenizer(raw: bytes) -> None:
    text = raw.decode("utf-8", "replace")
    assert title_mod._find_title(text) == title_mod._scan(text)


def test_module_exports_extract_title() -> None:
    assert title_mod.extract_title is extract_title

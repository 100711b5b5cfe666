"""Favicon hash (Shodan convention) and icon link discovery."""

from __future__ import annotations

import base64

import pytest

from aioscout.extract.favicon import favicon_hash, icon_links


def _murmur3_32(data: bytes, seed: int = 0) -> int:
    """Reference MurmurHash3 x86_32, written from the algorithm's description."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & mask

    h = seed
    full = len(data) - len(data) % 4
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = rotl((k * c1) & mask, 15) * c2 & mask
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & mask
    tail = data[full:]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= rotl((k * c1) & mask, 15) * c2 & mask
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def _shodan_base64(data: bytes) -> bytes:
    flat = base64.b64encode(data)
    lines = [flat[i : i + 76] for i in range(0, len(flat), 76)]
    return b"".join(line + b"\n" for line in lines)


def test_reference_murmur_matches_published_vectors() -> None:
    assert _murmur3_32(b"") == 0
    assert _murmur3_32(b"hello") == 0x248BFA47
    assert _murmur3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"abc", bytes(range(256)) * 3, b"\x89PNG\r\n\x1a\n" + b"x" * 1000],
)
def test_favicon_hash_matches_reference(data: bytes) -> None:
    assert favicon_hash(data) == _murmur3_32(_shodan_base64(data))


def test_favicon_hash_is_signed_and_uses_wrapped_base64() -> None:
    data = bytes(range(200))
    assert _shodan_base64(data).count(b"\n") == 4  # 268 chars → 4 lines
    assert favicon_hash(data) == _murmur3_32(_shodan_base64(data))
    assert favicon_hash(data) != _murmur3_32(base64.b64encode(data))
    values = {favicon_hash(bytes([i]) * 50) for i in range(64)}
    assert any(v < 0 for v in values)
    assert all(-(2**31) <= v < 2**31 for v in values)


def test_icon_links_resolves_and_filters() -> None:
    html = """
    <html><head>
    <LINK REL="Shortcut Icon" HREF="/static/fav.ico">
    <link rel=icon type="image/png" href='icons/32.png'>
    <link rel="apple-touch-icon" sizes="180x180" href="https://cdn.test/a.png">
    <link rel="stylesheet" href="/style.css">
    <link rel="icon" href="data:image/png;base64,AAAA">
    <link rel="icon" href="javascript:alert(1)">
    <link rel="icon" href="/static/fav.ico">
    <link rel="icon" href="/q?a=1&amp;b=2">
    <link rel="icon">
    </head></html>
    """
    assert icon_links(html, "http://site.test/dir/page.html") == [
        "http://site.test/static/fav.ico",
        "http://site.test/dir/icons/32.png",
        "https://cdn.test/a.png",
        "http://site.test/q?a=1&b=2",
    ]


def test_icon_links_none_and_unterminated() -> None:
    assert icon_links("<html><title>x</title></html>", "https://a.test/") == []
    assert icon_links('<link rel="icon" href="/a.ico"', "https://a.test/") == []
    assert icon_links("<link" * 10_000, "https://a.test/") == []

"""Fuzzing the input side: line splitting and the target parser.

Properties that matter for "one record per input line": the line source
yields exactly one line per newline-separated piece of any byte string
(invalid UTF-8, carriage returns, a BOM, lines far over the cap, any chunk
size), and the parser either returns targets or raises InvalidTarget,
never anything else, and is stable under re-parsing and padding.
"""

from __future__ import annotations

import asyncio
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioscout._exceptions import InvalidTarget
from aioscout.targets import HttpTarget, parse_domain, parse_http_target
from aioscout.targets.sources import stream_lines

from ._fuzz import fuzz, quick

pytestmark = pytest.mark.slow

MAX_LINE = 64

_piece = st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from([b"", b"\r", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"#x", b" 127.0.0.1 "]),
    st.integers(MAX_LINE - 2, 6 * MAX_LINE).map(lambda n: b"a" * n),
    st.integers(1, 3 * MAX_LINE).map(lambda n: "é".encode() * n),
)
_document = st.lists(_piece, max_size=30).map(lambda ps: b"\n".join(ps))


def _split(data: bytes, chunk: int) -> list[str]:
    async def collect() -> list[str]:
        stream = io.BytesIO(data)
        return [x async for x in stream_lines(stream, max_line=MAX_LINE, chunk_size=chunk)]

    return asyncio.run(collect())


@fuzz
@quick
@given(_document, st.integers(1, 200), st.booleans())
def test_one_line_out_per_line_in(data: bytes, chunk: int, final_newline: bool) -> None:
    if final_newline:
        data += b"\n"
    lines = _split(data, chunk)
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    pieces = body.split(b"\n")
    if body.endswith(b"\n") or not body:
        pieces.pop()
    assert len(lines) == len(pieces)
    for line in lines:
        assert "\n" not in line
        assert len(line) <= MAX_LINE + 1  # over-long lines are cut, never dropped


_url_char = st.sampled_from(list("abcXYZ019.-_:/[]@?#%&=~+ü例ß\u3002\uff0e \t\r\x00\ufffd"))
_urlish = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=_url_char, max_size=60),
    st.builds(
        lambda s, h, p, rest: f"{s}{h}{p}{rest}",
        st.sampled_from(["", "http://", "https://", "HTTP://", "//", "ftp://"]),
        st.sampled_from(["127.0.0.1", "[::1]", "::1", "Bücher.Example", "xn--bcher-kva.example"]),
        st.sampled_from(["", ":0", ":1", ":65535", ":65536", ":-1", ":x", "/24", "/129"]),
        st.text(alphabet=_url_char, max_size=20),
    ),
)


def _parse(line: str) -> list[HttpTarget] | None:
    try:
        return list(parse_http_target(line, max_cidr_hosts=64))
    except InvalidTarget:
        return None


@fuzz
@quick
@given(_urlish)
def test_parser_raises_only_invalid_target_and_is_stable(line: str) -> None:
    targets = _parse(line)
    if targets is None:
        return
    assert 1 <= len(targets) <= 64
    for t in targets:
        assert t.host and t.host.isascii() and t.host == t.host.lower()
        assert t.port is None or 1 <= t.port <= 65535
        assert t.path.startswith("/") and "#" not in t.path
        assert not any(c in t.path for c in " \t\r\n\x00")
    if len(targets) == 1:
        (t,) = targets
        # What the parser produced parses back to itself.
        again = _parse(t.url() if t.scheme else t.netloc() + t.path)
        assert again is not None and len(again) == 1
        assert (again[0].host, again[0].port, again[0].path) == (t.host, t.port, t.path)


@fuzz
@quick
@given(_urlish, st.text(alphabet=" \t", max_size=5), st.text(alphabet=" \t\r", max_size=5))
def test_surrounding_whitespace_does_not_matter(line: str, left: str, right: str) -> None:
    assert _parse(left + line + right) == _parse(line)


@fuzz
@quick
@given(st.text(max_size=100) | st.text(alphabet=_url_char, max_size=40))
def test_domain_parser_is_total_and_idempotent(line: str) -> None:
    try:
        name = parse_domain(line)
    except InvalidTarget:
        return
    assert name.isascii() and name == name.lower() and len(name) <= 253
    assert parse_domain(name) == name

"""Word/line counts and body preview."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioscout.extract.text import clean_text, count_words_lines, preview


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (0, 0)),
        ("a", (1, 1)),
        ("a\n", (1, 1)),
        ("hello world\nbye", (3, 2)),
        ("\n\n\n", (0, 3)),
        ("one\ttwo  three\r\nfour\n", (4, 2)),
    ],
)
def test_count_words_lines(text: str, expected: tuple[int, int]) -> None:
    assert count_words_lines(text) == expected


def test_preview_collapses_and_cuts() -> None:
    assert preview("  a \n\n b   c  ", 3) == "a b"
    assert preview("  a \n\n b   c  ", 100) == "a b c"
    assert preview("abc", 0) == ""
    assert preview("   \n ", 5) == ""
    assert preview(" " * 100_000 + "tail word", 4) == "tail"
    with pytest.raises(ValueError, match="n must be"):
        preview("x", -1)


@given(st.text(), st.integers(min_value=0, max_value=300))
def test_preview_is_prefix_of_collapsed(text: str, n: int) -> None:
    out = preview(text, n)
    collapsed = " ".join(text.split())
    assert len(out) <= n
    collapsed = clean_text(collapsed[:n]).rstrip()
    assert collapsed.startswith(out)
    assert out == collapsed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("a\x1b[2J\x1b]0;owned\x07b", "a[2J]0;ownedb"),
        ("nul\x00 del\x7f c1\x85\x9b end", "nul del c1 end"),
        ("tab\tline\nff\x0ccr\r", "tab line ff cr "),
        ("bidi \u202eevil\u202c \u2066x\u2069 \u200fy", "bidi evil x y"),
        ("zwj \u200d soft\u00ad kept", "zwj \u200d soft\u00ad kept"),
        ("sep\u2028para\u2029", "sep para "),
    ],
)
def test_clean_text(text: str, expected: str) -> None:
    assert clean_text(text) == expected


@given(st.text())
def test_clean_text_leaves_no_control(text: str) -> None:
    out = clean_text(text)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in out)
    assert clean_text(out) == out

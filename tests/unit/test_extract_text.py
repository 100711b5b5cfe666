"""Word/line counts and body preview."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioscout.extract.text import count_words_lines, preview


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
    assert collapsed.startswith(out)
    assert out == collapsed[:n].rstrip()

"""Word and line counts and a short preview of a decoded body."""

from __future__ import annotations

__all__ = ["count_words_lines", "preview"]


def count_words_lines(text: str) -> tuple[int, int]:
    """Return ``(words, lines)`` of *text*.

    Words are runs of non-whitespace; lines count like ``wc -l`` plus one for a
    last line without a newline, so ``""`` has 0 lines and ``"a"`` has 1.

    >>> count_words_lines("hello world\\nbye")
    (3, 2)
    """
    if not text:
        return 0, 0
    lines = text.count("\n")
    if not text.endswith("\n"):
        lines += 1
    return len(text.split()), lines


def preview(text: str, n: int) -> str:
    """Return the first *n* characters of *text* with whitespace runs collapsed to one space.

    >>> preview("  a\\n\\n  b   c ", 3)
    'a b'
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    # Collapse a head that doubles until it yields enough characters: O(n) for text
    # with normal spacing, never more than O(len(text)).
    size = max(2 * n, 256)
    while True:
        collapsed = " ".join(text[:size].split())
        if len(collapsed) > n or size >= len(text):
            return collapsed[:n].rstrip()
        size *= 2

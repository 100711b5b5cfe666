"""Word and line counts, a short preview of a decoded body, and the control-character cleaner.

:func:`clean_text` is what every text field of a record goes through before
it is written or printed: a server chooses those bytes, and an ``ESC [2J`` in a
title clears the terminal of whoever reads it.
"""

from __future__ import annotations

import re

__all__ = ["clean_text", "count_words_lines", "has_controls", "preview"]

# C0 controls but the whitespace ones, DEL and C1 (U+0080-U+009F) are dropped;
# the bidi embeddings, overrides and isolates and the marks (U+061C, U+200E,
# U+200F) are dropped too: they reorder what a terminal shows (a file name or
# URL that reads one way and is another).
_DROPPED = "\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Tab, line feed, form feed, carriage return and the Unicode line and
# paragraph separators become a space: a field stays on one line.
_SPACED = "\t\n\x0c\r\u2028\u2029"
_UNSAFE = re.compile(f"[{_DROPPED}{_SPACED}]")
_DROP_TABLE: dict[int, str | None] = dict.fromkeys([*range(0x09), 0x0B, *range(0x0E, 0x20)])
_DROP_TABLE.update(dict.fromkeys(range(0x7F, 0xA0)))
_DROP_TABLE.update({cp: None for cp in [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F)]})
_DROP_TABLE.update({cp: None for cp in range(0x2066, 0x206A)})
_DROP_TABLE.update({cp: " " for cp in (0x09, 0x0A, 0x0C, 0x0D, 0x2028, 0x2029)})


def has_controls(text: str) -> bool:
    """Whether :func:`clean_text` would change ``text``."""
    return _UNSAFE.search(text) is not None


def clean_text(text: str) -> str:
    """``text`` with no character that can act on a terminal or reorder what it shows.

    Dropped: C0 controls other than whitespace (NUL, BEL, BS, ESC, ...), DEL,
    the C1 controls U+0080-U+009F, and the bidirectional controls (U+061C,
    U+200E, U+200F, U+202A-U+202E, U+2066-U+2069). Tab, line feed, form feed,
    carriage return and U+2028/U+2029 become one space each (nothing is
    collapsed). Other format characters (zero-width joiners, soft hyphens) are
    kept: scripts such as Persian and emoji sequences need them. Text with
    nothing to clean is returned as it is, at the cost of one regex search.

    >>> clean_text("a\x1b[2Jb\tc\u202ed")
    'a[2Jb cd'
    """
    if _UNSAFE.search(text) is None:
        return text
    return text.translate(_DROP_TABLE)


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

    Control characters are dropped as :func:`clean_text` drops them.

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
            return clean_text(collapsed[:n]).rstrip()
        size *= 2

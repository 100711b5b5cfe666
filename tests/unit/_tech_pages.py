"""Adversarial pages for the technology fingerprints: one family per pattern.

For every ``html`` and ``scriptSrc`` regex of the fingerprint data, a sample
text is drawn from the regex's own parse tree, with each repeat stretched to
many copies and the last character dropped (a near miss that a backtracking
engine retries from every start). Pages repeat that near miss inside
``<script `` tags full of ``<`` and end with the pattern's literal, the shape
that made searching quadratic. Shared by the tests and ``bench/tech_hostile.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

__all__ = ["adversarial_pages", "near_miss", "sample"]

_CANDIDATES = "<a1 \"'=/-.>_:x\t"


def _category_char(cat: Any) -> str:
    table = {
        c.CATEGORY_DIGIT: "1",
        c.CATEGORY_NOT_DIGIT: "<",
        c.CATEGORY_SPACE: " ",
        c.CATEGORY_NOT_SPACE: "<",
        c.CATEGORY_WORD: "a",
        c.CATEGORY_NOT_WORD: "<",
    }
    return table.get(cat, "a")


def _in_set(ch: str, items: list[tuple[Any, Any]]) -> bool:
    negate = False
    hit = False
    for op, arg in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            hit = hit or ord(ch) == arg
        elif op is c.RANGE:
            hit = hit or arg[0] <= ord(ch) <= arg[1]
        elif op is c.CATEGORY:
            hit = hit or re.fullmatch(_category_pattern(arg), ch) is not None
    return hit != negate


def _category_pattern(cat: Any) -> str:
    return {
        c.CATEGORY_DIGIT: r"\d",
        c.CATEGORY_NOT_DIGIT: r"\D",
        c.CATEGORY_SPACE: r"\s",
        c.CATEGORY_NOT_SPACE: r"\S",
        c.CATEGORY_WORD: r"\w",
        c.CATEGORY_NOT_WORD: r"\W",
    }.get(cat, r"\w")


def _sample(items: Any, stretch: int) -> str:
    out: list[str] = []
    for op, arg in items:
        if op is c.LITERAL:
            out.append(chr(arg))
        elif op is c.NOT_LITERAL:
            out.append("<" if arg != ord("<") else "a")
        elif op is c.ANY:
            out.append("<")
        elif op is c.IN:
            out.append(next((ch for ch in _CANDIDATES if _in_set(ch, arg)), "a"))
        elif op is c.CATEGORY:
            out.append(_category_char(arg))
        elif op is c.SUBPATTERN:
            out.append(_sample(arg[-1], stretch))
        elif op is c.BRANCH:
            out.append(_sample(arg[1][0], stretch))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, high, sub = arg
            count = max(low, min(high, stretch))
            out.append(_sample(sub, stretch) * count)
    return "".join(out)


def sample(regex: str, stretch: int = 1) -> str:
    """A text the regex's parse tree describes, each repeat taken ``stretch`` times."""
    return _sample(_parser.parse(regex, re.IGNORECASE), stretch)


def near_miss(regex: str, stretch: int) -> str:
    """:func:`sample` with stretched repeats and its last character dropped."""
    return sample(regex, stretch)[:-1]


def adversarial_pages(regex: str, literal: str, size: int = 96 * 1024) -> Iterator[str]:
    """Pages of about ``size`` characters built to make ``regex`` backtrack.

    ``literal`` is the text the fingerprint index requires in the page before
    the regex runs at all; every page holds it many times.
    """
    for stretch in (40, 400):
        miss = near_miss(regex, stretch)[:2000]
        unit = f"<script {miss}{literal}{'<' * 64}>"
        yield "<html><head>" + unit * max(1, size // len(unit)) + literal
    lt = "<script " + "<" * 500 + " "
    yield (lt + literal) * max(1, size // (len(lt) + len(literal))) + ">" + literal

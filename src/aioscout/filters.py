"""Matchers and filters: keep or drop HTTP records by what the response showed.

The semantics follow the leading prober's ``-mc``/``-fc`` family:

* every *kind* of matcher given (code, length, string, regex, favicon, time)
  must match (AND across kinds); within one kind, any value matching is
  enough (OR within a kind);
* any filter that matches drops the record, whatever the matchers said.

What each kind looks at in an :class:`~aioscout.HttpResult`:

``code``     ``status`` (the final status after redirects)
``length``   ``content_length`` (declared, else the bytes read)
``string``   case-insensitive substring of the searchable text: ``title``,
             ``body_preview`` when the record has one (``--body-preview``), and
             the response headers (``name: value`` lines) when the record has
             them (``--include-headers``)
``regex``    :func:`re.search` over the same text, case-sensitive unless the
             pattern says ``(?i)``
``favicon``  ``favicon`` (the Shodan-style mmh3 hash; ``--favicon``)
``time``     ``time_ms`` compared with an expression such as ``<500``

Records with an error: a failed probe has no response, so **no matcher passes
it** — when any ``match_*`` is given, error records are dropped (as the
leading prober never prints a failed probe when matching). Filters only drop
what they match: an error record with no response (refused, timeout before
the status line) matches no filter and is kept, so with filters alone
failures stay visible; a partial one (status seen, then the body failed) is
filtered on the fields it has. Dropped records still count in the summary.
A field the record lacks (no favicon computed, no time) never matches.

Example::

    keep = build_keep(Matchers(match_code=parse_codes("200,301-303")))
    kept = [r for r in records if keep is None or keep(r)]
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from ._models import Record

__all__ = [
    "IntRanges",
    "Matchers",
    "TimeExpr",
    "build_keep",
    "parse_codes",
    "parse_time_expr",
]

_MAX_INT = 2**63 - 1
_MAX_SPEC = 4096
_RANGE = re.compile(r"\s*(\d{1,19})\s*(?:-\s*(\d{1,19})\s*)?")
_TIME = re.compile(r"\s*(<=|>=|==|!=|<|>|=)?\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*", re.IGNORECASE)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
}


class IntRanges(AbstractSet[int]):
    """An immutable set of integers stored as sorted, merged inclusive ranges.

    ``parse_codes("0-100000000")`` costs two integers, not a hundred million.

    Example::

        200 in IntRanges([(200, 200), (301, 303)])  # True
    """

    __slots__ = ("_ranges",)

    def __init__(self, ranges: Sequence[tuple[int, int]] = ()) -> None:
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(ranges):
            if lo > hi:
                raise ValueError(f"empty range {lo}-{hi}")
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        self._ranges: tuple[tuple[int, int], ...] = tuple(merged)

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        """The merged inclusive ranges, ascending."""
        return self._ranges

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return any(lo <= value <= hi for lo, hi in self._ranges)

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self._ranges:
            yield from range(lo, hi + 1)

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self._ranges)

    def __hash__(self) -> int:
        return hash(self._ranges)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IntRanges):
            return self._ranges == other._ranges
        if isinstance(other, AbstractSet):
            return len(self) == len(other) and all(v in self for v in other)
        return NotImplemented

    def __repr__(self) -> str:
        spec = ",".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in self._ranges)
        return f"parse_codes({spec!r})"


def parse_codes(spec: str) -> IntRanges:
    """Parse a list of integers and inclusive ranges: ``"200,301-303"``.

    Used for status codes and content lengths. Whitespace around items is
    ignored; an empty item, a negative number, a reversed range or anything
    not a digit is an error.

    Raises:
        ValueError: with a message naming the bad item.

    Example::

        >>> sorted(parse_codes("200, 301-303"))
        [200, 301, 302, 303]
    """
    if len(spec) > _MAX_SPEC:
        raise ValueError(f"number list longer than {_MAX_SPEC} characters")
    ranges: list[tuple[int, int]] = []
    for item in spec.split(","):
        m = _RANGE.fullmatch(item)
        if m is None:
            raise ValueError(f"invalid number or range {item.strip()[:40]!r} (use 200,301-303)")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi > _MAX_INT:
            raise ValueError(f"number too large in {item.strip()!r}")
        if lo > hi:
            raise ValueError(f"reversed range {item.strip()!r}")
        ranges.append((lo, hi))
    return IntRanges(ranges)


@dataclass(frozen=True, slots=True)
class TimeExpr:
    """A comparison of the response time against a threshold in milliseconds."""

    op: str
    ms: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown comparison {self.op!r}")

    def test(self, time_ms: float) -> bool:
        """Whether ``time_ms`` satisfies the expression."""
        return _OPS[self.op](time_ms, self.ms)

    def __str__(self) -> str:
        return f"{self.op}{self.ms:g}"


def parse_time_expr(spec: str) -> TimeExpr:
    """Parse a response-time expression: ``"<500"``, ``">=1000"``, ``"<2s"``.

    Operators: ``<``, ``<=``, ``>``, ``>=``, ``=``/``==``, ``!=``; no operator
    means ``==``. The unit is milliseconds unless ``s`` follows the number.

    Raises:
        ValueError: the text is not such an expression.

    Example::

        >>> parse_time_expr(">= 1.5s")
        TimeExpr(op='>=', ms=1500.0)
    """
    m = _TIME.fullmatch(spec[:64])
    if m is None or len(spec) > 64:
        raise ValueError(f"invalid time expression {spec[:40]!r} (use <500, >=1000 or <2s)")
    value = float(m.group(2))
    if (m.group(3) or "ms").lower() == "s":
        value *= 1000.0
    return TimeExpr(m.group(1) or "==", value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Matchers:
    """Which records to keep: ``match_*`` must all match, any ``filter_*`` drops.

    All fields default to "not set". Regular expressions are checked when the
    object is built (a bad pattern raises :class:`ValueError`) and compiled
    once by :func:`build_keep`. See the module docstring for what each kind
    looks at and how error records are treated.
    """

    match_code: AbstractSet[int] = frozenset()
    filter_code: AbstractSet[int] = frozenset()
    match_length: AbstractSet[int] = frozenset()
    filter_length: AbstractSet[int] = frozenset()
    match_string: tuple[str, ...] = ()
    filter_string: tuple[str, ...] = ()
    match_regex: tuple[str, ...] = ()
    filter_regex: tuple[str, ...] = ()
    match_favicon: AbstractSet[int] = frozenset()
    filter_favicon: AbstractSet[int] = frozenset()
    match_time: TimeExpr | None = None
    filter_time: TimeExpr | None = None

    def __post_init__(self) -> None:
        for pattern in (*self.match_regex, *self.filter_regex):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern[:60]!r}: {exc}") from exc

    @property
    def has_matchers(self) -> bool:
        """Whether any ``match_*`` field is set."""
        return bool(
            self.match_code
            or self.match_length
            or self.match_string
            or self.match_regex
            or self.match_favicon
            or self.match_time is not None
        )

    @property
    def has_filters(self) -> bool:
        """Whether any ``filter_*`` field is set."""
        return bool(
            self.filter_code
            or self.filter_length
            or self.filter_string
            or self.filter_regex
            or self.filter_favicon
            or self.filter_time is not None
        )


Check = Callable[[Record], bool]


def _text_of(record: Record) -> str:
    """The searchable text of a record: title, body preview, header lines."""
    parts: list[str] = []
    title = getattr(record, "title", None)
    if isinstance(title, str):
        parts.append(title)
    preview = getattr(record, "body_preview", None)
    if isinstance(preview, str):
        parts.append(preview)
    headers = getattr(record, "headers", None)
    if isinstance(headers, dict):
        parts.extend(f"{k}: {v}" for k, v in headers.items())
    return "\n".join(parts)


def _int_check(attr: str, values: AbstractSet[int]) -> Check:
    def check(record: Record) -> bool:
        value = getattr(record, attr, None)
        return isinstance(value, int) and value in values

    return check


def _time_check(expr: TimeExpr) -> Check:
    def check(record: Record) -> bool:
        value = getattr(record, "time_ms", None)
        return isinstance(value, int | float) and expr.test(value)

    return check


def _string_check(needles: tuple[str, ...]) -> Check:
    lowered = tuple(n.lower() for n in needles)

    def check(record: Record) -> bool:
        text = _text_of(record).lower()
        return any(n in text for n in lowered)

    return check


def _regex_check(patterns: tuple[str, ...]) -> Check:
    compiled = tuple(re.compile(p) for p in patterns)

    def check(record: Record) -> bool:
        text = _text_of(record)
        return any(c.search(text) is not None for c in compiled)

    return check


def _checks(
    code: AbstractSet[int],
    length: AbstractSet[int],
    string: tuple[str, ...],
    regex: tuple[str, ...],
    favicon: AbstractSet[int],
    time: TimeExpr | None,
) -> list[Check]:
    checks: list[Check] = []
    if code:
        checks.append(_int_check("status", code))
    if length:
        checks.append(_int_check("content_length", length))
    if favicon:
        checks.append(_int_check("favicon", favicon))
    if time is not None:
        checks.append(_time_check(time))
    if string:
        checks.append(_string_check(string))
    if regex:
        checks.append(_regex_check(regex))
    return checks


def build_keep(m: Matchers) -> Callable[[Record], bool] | None:
    """A predicate telling whether to keep a record, or ``None`` when nothing is set.

    ``None`` lets the caller skip the call entirely on the hot path. The
    cheap integer checks run before the text searches.

    Example::

        keep = build_keep(Matchers(filter_code=parse_codes("404")))
        assert keep is not None and not keep(HttpResult(input="x", status=404))
    """
    matches = _checks(
        m.match_code, m.match_length, m.match_string, m.match_regex, m.match_favicon, m.match_time
    )
    filters = _checks(
        m.filter_code,
        m.filter_length,
        m.filter_string,
        m.filter_regex,
        m.filter_favicon,
        m.filter_time,
    )
    if not matches and not filters:
        return None

    def keep(record: Record) -> bool:
        if matches and (record.error is not None or not all(c(record) for c in matches)):
            return False
        return not any(c(record) for c in filters)

    return keep

"""Matchers and filters: parsers, AND/OR semantics, error records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioscout._models import ErrorInfo, ErrorKind, HttpResult
from aioscout.filters import (
    IntRanges,
    Matchers,
    TimeExpr,
    build_keep,
    parse_codes,
    parse_time_expr,
)


def rec(**kw: object) -> HttpResult:
    return HttpResult(input="x", **kw)  # type: ignore[arg-type]


def keeps(m: Matchers, records: list[HttpResult]) -> list[bool]:
    keep = build_keep(m)
    assert keep is not None
    return [keep(r) for r in records]


# -- parsers -----------------------------------------------------------------


def test_parse_codes_list_and_ranges() -> None:
    codes = parse_codes(" 200, 301-303 ,500")
    assert sorted(codes) == [200, 301, 302, 303, 500]
    assert 302 in codes and 304 not in codes and 200 in codes
    assert len(codes) == 5


def test_parse_codes_huge_range_is_compact() -> None:
    lengths = parse_codes("0-100000000000")
    assert 99_999_999_999 in lengths
    assert lengths.ranges == ((0, 100_000_000_000),)


def test_parse_codes_merges_overlaps() -> None:
    assert parse_codes("5-10,1-6,11").ranges == ((1, 11),)
    assert parse_codes("1,3").ranges == ((1, 1), (3, 3))


@pytest.mark.parametrize(
    "spec", ["", "200,", ",200", "abc", "-5", "303-301", "2 00", "1-2-3", "1e3", "0x10", "1" * 30]
)
def test_parse_codes_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_codes(spec)


def test_int_ranges_not_bool_or_str() -> None:
    r = IntRanges([(0, 1)])
    assert True not in r
    assert "1" not in r  # type: ignore[comparison-overlap]


def test_int_ranges_equality_and_hash() -> None:
    assert parse_codes("1-3") == frozenset({1, 2, 3})
    assert parse_codes("1-3") == parse_codes("1,2,3")
    assert hash(parse_codes("1-3")) == hash(parse_codes("3,1-2"))
    assert parse_codes("1-3") != frozenset({1, 2})


@given(st.lists(st.tuples(st.integers(0, 600), st.integers(0, 40)), min_size=1, max_size=8))
def test_int_ranges_agree_with_a_plain_set(pairs: list[tuple[int, int]]) -> None:
    spec = ",".join(f"{lo}-{lo + n}" for lo, n in pairs)
    plain = {v for lo, n in pairs for v in range(lo, lo + n + 1)}
    parsed = parse_codes(spec)
    assert set(parsed) == plain
    assert len(parsed) == len(plain)
    assert all((v in parsed) == (v in plain) for v in range(-1, 700))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("<500", TimeExpr("<", 500.0)),
        (">=1000", TimeExpr(">=", 1000.0)),
        (" <= 20 ", TimeExpr("<=", 20.0)),
        ("250", TimeExpr("==", 250.0)),
        ("=250ms", TimeExpr("=", 250.0)),
        (">1.5s", TimeExpr(">", 1500.0)),
        ("!=3S", TimeExpr("!=", 3000.0)),
    ],
)
def test_parse_time_expr(spec: str, expected: TimeExpr) -> None:
    assert parse_time_expr(spec) == expected


@pytest.mark.parametrize(
    "spec", ["", "<", "=>5", "<<5", "< -5", "5m", "abc", "<5 s s", "<" + "9" * 70]
)
def test_parse_time_expr_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_time_expr(spec)


def test_time_expr_comparisons() -> None:
    assert parse_time_expr("<500").test(499.9)
    assert not parse_time_expr("<500").test(500)
    assert parse_time_expr("<=500").test(500)
    assert parse_time_expr(">=1000").test(1000)
    assert not parse_time_expr(">1000").test(1000)
    assert parse_time_expr("!=1").test(2)
    with pytest.raises(ValueError):
        TimeExpr("~", 1.0)


# -- build_keep --------------------------------------------------------------


def test_nothing_set_gives_none() -> None:
    assert build_keep(Matchers()) is None
    assert not Matchers().has_matchers and not Matchers().has_filters


def test_match_code_or_within_kind() -> None:
    m = Matchers(match_code=parse_codes("200,301"))
    assert keeps(m, [rec(status=200), rec(status=301), rec(status=404), rec()]) == [
        True,
        True,
        False,
        False,
    ]


def test_filter_code_drops() -> None:
    m = Matchers(filter_code=parse_codes("404,500-599"))
    got = keeps(m, [rec(status=200), rec(status=404), rec(status=503)])
    assert got == [True, False, False]


def test_and_across_kinds() -> None:
    m = Matchers(match_code=frozenset({200}), match_length=parse_codes("100-200"))
    got = keeps(
        m,
        [
            rec(status=200, content_length=150),
            rec(status=200, content_length=50),
            rec(status=404, content_length=150),
            rec(status=200),
        ],
    )
    assert got == [True, False, False, False]


def test_filter_wins_over_match() -> None:
    m = Matchers(match_code=frozenset({200}), filter_string=("Default Page",))
    got = keeps(m, [rec(status=200, title="Hello"), rec(status=200, title="nginx default page")])
    assert got == [True, False]


def test_string_case_insensitive_over_title_preview_headers() -> None:
    m = Matchers(match_string=("ADMIN",))
    got = keeps(
        m,
        [
            rec(title="Admin panel"),
            rec(title="x", body_preview="<a href=/admin>"),
            rec(title="x", headers={"X-Powered-By": "AdminKit"}),
            rec(title="x", body_preview="nothing"),
            rec(),
        ],
    )
    assert got == [True, True, True, False, False]


def test_match_string_or_within_kind() -> None:
    m = Matchers(match_string=("login", "sign in"))
    assert keeps(m, [rec(title="Sign In"), rec(title="Log in"), rec(title="Login")]) == [
        True,
        False,
        True,
    ]


def test_regex_case_sensitive_unless_flagged() -> None:
    m = Matchers(match_regex=(r"^Index of /",))
    assert keeps(m, [rec(title="Index of /pub"), rec(title="index of /pub")]) == [True, False]
    m = Matchers(filter_regex=(r"(?i)^index of", r"\d{3} Error"))
    got = keeps(m, [rec(title="INDEX OF /"), rec(title="502 Error"), rec(title="Welcome")])
    assert got == [False, False, True]


def test_bad_regex_raises_value_error() -> None:
    with pytest.raises(ValueError, match="regular expression"):
        Matchers(match_regex=("(unclosed",))
    with pytest.raises(ValueError, match="regular expression"):
        Matchers(filter_regex=("[a-",))


def test_favicon_match_and_filter() -> None:
    m = Matchers(match_favicon=frozenset({-123, 456}))
    got = keeps(m, [rec(favicon=-123), rec(favicon=456), rec(favicon=1), rec()])
    assert got == [True, True, False, False]
    m = Matchers(filter_favicon=frozenset({1}))
    assert keeps(m, [rec(favicon=1), rec(favicon=2), rec()]) == [False, True, True]


def test_time_match_and_filter() -> None:
    m = Matchers(match_time=parse_time_expr("<500"))
    got = keeps(m, [rec(time_ms=10.0), rec(time_ms=800.0), rec()])
    assert got == [True, False, False]
    m = Matchers(filter_time=parse_time_expr(">=1000"))
    assert keeps(m, [rec(time_ms=999.9), rec(time_ms=1000.0)]) == [True, False]


def test_length_filter() -> None:
    m = Matchers(filter_length=parse_codes("0"))
    assert keeps(m, [rec(content_length=0), rec(content_length=12)]) == [False, True]


def test_error_records_dropped_by_matchers_kept_by_filters() -> None:
    refused = rec(error=ErrorInfo(ErrorKind.REFUSED, "connection refused"))
    partial = rec(status=200, error=ErrorInfo(ErrorKind.TIMEOUT, "read timed out"))
    assert keeps(Matchers(match_code=frozenset({200})), [refused, partial]) == [False, False]
    assert keeps(Matchers(filter_code=frozenset({404})), [refused, partial]) == [True, True]
    # A partial record is filtered on the fields it has.
    assert keeps(Matchers(filter_code=frozenset({200})), [partial]) == [False]


def test_matchers_hashable_and_frozen() -> None:
    m = Matchers(match_code=parse_codes("200"), match_time=parse_time_expr("<1"))
    assert hash(m) == hash(Matchers(match_code=parse_codes("200"), match_time=TimeExpr("<", 1)))
    assert m.has_matchers and not m.has_filters
    with pytest.raises(AttributeError):
        m.match_code = frozenset()  # type: ignore[misc]

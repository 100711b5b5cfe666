"""Technology detection does bounded work on pages built to make every pattern backtrack.

The bound is counted, not timed: each regex search sees a window of at most
512 characters, each pattern gets a few windows, one response's searches cost
at most ``MAX_COST`` (length times possible starts, summed), and
:func:`detect_steps` hands control back every ``STEP_COST``.
What a window of that size costs the slowest pattern is measured by
``bench/tech_hostile.py``.
"""

from __future__ import annotations

import itertools

import pytest

from aioscout.extract import tech
from aioscout.extract.tech import MAX_COST, STEP_COST, Work, detect, detect_steps
from tests.unit._tech_pages import adversarial_pages, sample

_WINDOW = 512
_STEP = _WINDOW * (_WINDOW + 1)  # the most one search adds to a step


def _steps(body: str, headers: list[tuple[str, str]] | None = None) -> tuple[Work, list[int]]:
    """Run detect_steps to its end; the work counted at each hand-back."""
    work = Work()
    marks: list[int] = [0]
    steps = detect_steps(headers or [], body, work=work)
    while True:
        try:
            next(steps)
        except StopIteration:
            break
        marks.append(work.cost)
    marks.append(work.cost)
    return work, marks


def _check_bounded(work: Work, marks: list[int]) -> None:
    assert work.longest <= _WINDOW
    assert work.cost <= MAX_COST + _STEP
    gaps = [b - a for a, b in itertools.pairwise(marks)]
    assert max(gaps) <= STEP_COST + _STEP


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["html", "scriptSrc"])
def test_every_pattern_searches_a_bounded_text_on_its_adversarial_pages(kind: str) -> None:
    index = tech._index()
    patterns = index.html if kind == "html" else index.script_src
    searched = 0
    for pattern in patterns:
        assert pattern.regex is not None
        literal = (pattern.literal or ("",))[0]
        for page in adversarial_pages(pattern.regex.pattern, literal, size=24 * 1024):
            work = Work()
            found = tech._Found(work)
            if kind == "html":
                for _ in tech._match_text(found, pattern, page, tech._lower(page)):
                    pass
                most = (4 if pattern.anchor else 16) * _WINDOW
            else:
                srcs = [unit[-512:] for unit in page.split("<script ")[1:256]]
                tech._match_items(found, pattern, srcs)
                most = 4 * 512
            assert work.longest <= _WINDOW
            assert work.chars <= most
            searched += work.calls
    assert searched >= len(patterns)


def test_quadratic_page_from_the_report_is_searched_in_windows() -> None:
    # Many <script tags full of "<", then keywords: the page that took 56 s of CPU.
    unit = "<script " + "<" * 500 + " "
    body = unit * 200 + "data-react wp-content x-data phabricator- ng-app="
    work, marks = _steps(body)
    _check_bounded(work, marks)
    assert work.calls > 0


@pytest.mark.slow
def test_a_page_with_every_literal_stops_at_the_budget() -> None:
    index = tech._index()
    literals = sorted({(p.literal or ("",))[0] for p in index.html + index.script_src})
    body = "".join(f'<script src="{lit}{"<" * 200}">' for lit in literals)
    work, marks = _steps(body, [("Server", "<" * 100_000)] * 300)
    _check_bounded(work, marks)


@pytest.mark.slow
def test_samples_of_the_patterns_still_match_in_their_windows() -> None:
    # The near-miss generator draws from each regex's own parse tree: its full
    # sample matches, and detection inside a bounded window still finds it.
    index = tech._index()
    missed = []
    for pattern in index.html:
        assert pattern.regex is not None
        text = sample(pattern.regex.pattern)
        if pattern.regex.search(text) is None or len(text) > 200:
            continue
        page = "<html><head>" + "<p>filler</p>" * 200 + text + "</head></html>"
        if pattern.tech not in " ".join(detect([], page)):
            missed.append(pattern.tech)
    assert len(missed) <= len(index.html) // 50, missed


def test_a_window_reaches_back_to_the_start_of_the_tag() -> None:
    attrs = " ".join(f'data-a{i}="{i}"' for i in range(12))
    body = f"<html><head><script type=x {attrs}>window.__NUXT__={{}}</script>"
    body += "<p>x</p>" * 2000
    assert any(name.startswith("Nuxt.js") for name in detect([], body))


def test_load_compiles_once_for_concurrent_threads() -> None:
    import threading

    threads = [threading.Thread(target=tech.load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tech.is_loaded()
    assert tech._index() is tech._index()

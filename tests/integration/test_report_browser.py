"""The report opened in a real headless Chromium: charts, counts, the table filter, XSS."""

from __future__ import annotations

from pathlib import Path

import pytest

from aioscout.browser.cdp import Browser, Page
from aioscout.report import build_report
from tests._support.chromium import require_chromium
from tests._support.report_records import HOSTILE_TITLE, Expected, write_records

pytestmark = pytest.mark.slow


async def _open(browser: Browser, html: Path) -> Page:
    page = await browser.new_page()
    await page.goto(html.as_uri(), timeout=60)
    await page.wait_for("window.aioscoutReport && window.aioscoutReport.ready", timeout=60)
    return page


def _bars(page_value: object) -> dict[str, int]:
    assert isinstance(page_value, list)
    return {label: int(count) for label, count in page_value}


async def _chart(page: Page, name: str) -> dict[str, int]:
    value = await page.evaluate(
        f"[...document.querySelectorAll('#chart-{name} rect')]"
        ".map(r => [r.dataset.label, r.dataset.count])"
    )
    return _bars(value)


async def test_report_renders_charts_filters_and_resists_a_hostile_title(tmp_path: Path) -> None:
    exe = require_chromium()
    src = tmp_path / "results.jsonl"
    exp: Expected = write_records(str(src), 3000)
    html = tmp_path / "report.html"
    build_report([str(src)], str(html))
    async with await Browser.launch(exe) as browser:
        page = await _open(browser, html)
        assert await page.evaluate("window.aioscoutReport.rows") == exp.total
        assert await _chart(page, "status") == dict(exp.status)
        assert await _chart(page, "server") == dict(exp.server)
        assert await _chart(page, "ports") == dict(exp.ports)
        assert await _chart(page, "errors") == dict(exp.errors)
        # only the visible rows are in the document
        shown = await page.evaluate("document.querySelectorAll('#rowsbox .row').length")
        assert 0 < shown < 100
        await page.evaluate("window.aioscoutReport.search('shop number 1234')")
        titles = await page.evaluate("window.aioscoutReport.shownRows().map(r => r[3])")
        assert titles == ["Shop number 1234"]
        # the hostile title is text in a cell, and none of its script ran
        await page.evaluate("window.aioscoutReport.search('pwned')")
        cells = await page.evaluate(
            "[...document.querySelectorAll('#rowsbox .row div')].map(d => d.textContent)"
        )
        assert HOSTILE_TITLE in cells
        assert await page.evaluate("typeof window.pwned") == "undefined"
        assert await page.evaluate("document.querySelectorAll('#rowsbox img').length") == 0
        png = await page.screenshot(full_page=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


async def test_typing_in_the_filter_and_sorting(tmp_path: Path) -> None:
    exe = require_chromium()
    src = tmp_path / "results.jsonl"
    write_records(str(src), 500)
    html = tmp_path / "report.html"
    build_report([str(src)], str(html))
    async with await Browser.launch(exe) as browser:
        page = await _open(browser, html)
        await page.evaluate("document.getElementById('search').focus()")
        await page.send("Input.insertText", {"text": "Shop number 42"})
        await page.wait_for("window.aioscoutReport.visible() < 20", timeout=10)
        titles = await page.evaluate("window.aioscoutReport.shownRows().map(r => r[3])")
        assert "Shop number 42" in titles
        assert all(t.startswith("Shop number 42") for t in titles)
        # group cards: the default nginx pages are one card with a button to filter by it
        cards = await page.evaluate(
            "[...document.querySelectorAll('.group .t')].map(t => t.textContent)"
        )
        assert cards.count("Welcome to nginx!") == 1
        # click the "status" header twice: descending
        await page.evaluate("window.aioscoutReport.search('')")
        await page.evaluate("document.querySelectorAll('#thead div')[2].click()")
        await page.evaluate("document.querySelectorAll('#thead div')[2].click()")
        first = await page.evaluate("window.aioscoutReport.shownRows()[0][2]")
        assert first == "500"

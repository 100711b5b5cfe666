"""Headless Chromium for the tests: skip when it is missing, except on CI where that fails."""

from __future__ import annotations

import os

import pytest

from aioscout.browser.cdp import find_chromium

__all__ = ["require_chromium"]


def require_chromium() -> str:
    """The Chromium executable; skip the test without it, or fail when ``CI=true``."""
    found = find_chromium()
    if found is not None:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium is missing on CI: `make services` installs it")
    pytest.skip("chromium is not installed (make services installs it)")

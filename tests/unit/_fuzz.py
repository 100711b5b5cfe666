"""Shared settings for the property tests that double as a bounded fuzz run.

Normally each property runs a modest, quick number of examples. With
``AIOSCOUT_FUZZ_SECONDS=N`` in the environment (``scripts/fuzz.sh`` sets it)
each decorated property keeps drawing fresh examples for about N seconds.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, settings

__all__ = ["FUZZ_SECONDS", "fuzz", "quick"]

FUZZ_SECONDS = float(os.environ.get("AIOSCOUT_FUZZ_SECONDS", "0") or 0)

quick = settings(
    max_examples=200 if FUZZ_SECONDS else 60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)

F = TypeVar("F", bound=Callable[[], None])


def fuzz(test: F) -> F:
    """Repeat a ``@given`` test with fresh examples until the fuzz budget is spent."""

    @functools.wraps(test)
    def run() -> None:
        stop = time.monotonic() + FUZZ_SECONDS
        test()
        while time.monotonic() < stop:
            test()

    return run  # type: ignore[return-value]

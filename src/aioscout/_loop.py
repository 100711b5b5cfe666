"""Choosing and running the event loop (uvloop where installed), without a global policy."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ._exceptions import ConfigError

__all__ = ["loop_factory", "run_loop"]

R = TypeVar("R")

# The objects of start-up (modules, the technology data, ...) are frozen out of
# the collector's sight, so its full passes during a scan only walk what the
# scan made. The thresholds stay the defaults: a larger young generation saved
# a few percent of CPU but let cyclic garbage (exceptions holding frames) pile up
# in the old generation, so peak RSS grew with the input (121 MB at 10k targets,
# 230 MB at 100k) instead of staying flat (83 MB and 84 MB with the defaults).


def loop_factory(name: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop factory for ``auto``, ``uvloop`` or ``asyncio`` (None: the standard loop)."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise ConfigError("--loop uvloop: uvloop is not installed") from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


@contextmanager
def _scan_gc() -> Iterator[None]:
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_loop(main: Coroutine[Any, Any, R], loop_name: str = "auto") -> R:
    """Run ``main`` to completion on a fresh loop of the chosen kind (collector tuned)."""
    with _scan_gc(), asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
        return runner.run(main)

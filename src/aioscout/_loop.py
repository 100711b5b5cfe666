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

# A scan allocates a few dozen short-lived objects per target; the default
# young-generation threshold (700) runs the collector every few targets, each
# run walking everything still alive. A larger threshold, with the objects of
# start-up frozen out of the collector's sight, cuts that to a few percent
# less CPU per target; reference counting still frees almost everything at once.
_GC_THRESHOLD = (50_000, 20, 100)


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
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def run_loop(main: Coroutine[Any, Any, R], loop_name: str = "auto") -> R:
    """Run ``main`` to completion on a fresh loop of the chosen kind (collector tuned)."""
    with _scan_gc(), asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
        return runner.run(main)

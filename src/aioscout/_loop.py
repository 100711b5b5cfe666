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
# scan made. The young generation is far larger than the default 700: a scan
# allocates dozens of short-lived objects per target and keeps thousands of
# targets in flight, and each young pass walks every object still alive, so
# fewer, larger passes cost less. The middle and old thresholds stay the
# defaults, so full passes keep their pace and cyclic garbage cannot pile up
# in the old generation (bench/ checks peak RSS at 1M targets).
_GC_THRESHOLD = (50_000, 10, 10)


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
    """Run ``main`` to completion on a fresh loop of the chosen kind (collector tuned).

    The result is handed over outside the task: in the main thread,
    ``asyncio.Runner`` reads its SIGINT handler back with ``signal.getsignal``,
    which formats ``repr`` of the handler, so of the finished task and of its
    whole result (a cluster chunk's records: milliseconds per chunk).
    """
    out: list[R] = []

    async def kept() -> None:
        out.append(await main)

    with _scan_gc(), asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
        runner.run(kept())
    return out[0]

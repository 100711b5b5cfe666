"""Choosing and running the event loop (uvloop where installed), without a global policy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ._exceptions import ConfigError

__all__ = ["loop_factory", "run_loop"]

R = TypeVar("R")


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


def run_loop(main: Coroutine[Any, Any, R], loop_name: str = "auto") -> R:
    """Run ``main`` to completion on a fresh loop of the chosen kind."""
    with asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
        return runner.run(main)

"""The lab on a loop of its own in a background thread, for code that has no loop.

The synchronous API's tests (and the documentation's examples) block the
calling thread while they iterate, so the lab they scan cannot share that
thread's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aioscout.lab import Lab

__all__ = ["lab_in_thread"]


@contextmanager
def lab_in_thread(**kwargs: Any) -> Iterator[Lab]:
    """Start ``Lab(**kwargs)`` in a thread with its own loop; stop it on exit."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        box["stop"] = lambda: loop.call_soon_threadsafe(stop.set_result, None)
        try:
            async with Lab(**kwargs) as lab:
                box["lab"] = lab
                ready.set()
                await stop
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            raise

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="lab", daemon=True)
    thread.start()
    ready.wait(30)
    if "lab" not in box:
        raise RuntimeError(f"the lab did not start: {box.get('error')!r}")
    try:
        yield box["lab"]
    finally:
        box["stop"]()
        thread.join(30)

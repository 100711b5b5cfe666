"""Deadlines for the hot path: :func:`asyncio.timeout`'s promise, for less.

Why: ``asyncio.timeout`` looks the running loop up twice per use, and on
Python 3.11 each look-up asks the kernel for the process id (a system call);
with a deadline or two per target at thousands of targets a second, that
shows in the profile (about 5% of a worker probing many hosts). These take
the loop from the caller and keep the same bookkeeping of the task's cancel
count, so a cancellation from elsewhere (Ctrl-C, a closed generator, an outer
deadline) is never mistaken for this one.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["Deadline", "deadline"]


class Deadline:
    """A cancellation of ``task`` after ``delay`` seconds, told apart from any other.

    For callers that cannot use a ``with`` block (a loop over addresses that
    goes on after one of them times out): arm it, await, then call
    :meth:`expired` once.
    """

    __slots__ = ("_cancelling", "_fired", "_handle", "_task")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object], delay: float):
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False
        self._handle: asyncio.TimerHandle | None = loop.call_at(loop.time() + delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._fired = True
        self._task.cancel()

    def expired(self) -> bool:
        """Disarm; True when this deadline's own cancellation is the one pending.

        Call it once, when the guarded await is over (whatever its outcome).
        """
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        return self._fired and self._task.uncancel() <= self._cancelling


class deadline:
    """``async with deadline(loop, seconds):`` raises :class:`TimeoutError` when time is up.

    ``loop`` must be the running loop. Example::

        async with deadline(loop, 5.0):
            await fetch()
    """

    __slots__ = ("_armed", "_delay", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self._loop = loop
        self._delay = delay
        self._armed: Deadline | None = None

    async def __aenter__(self) -> None:
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("deadline() must be used inside a task")
        self._armed = Deadline(self._loop, task, self._delay)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        armed, self._armed = self._armed, None
        if armed is not None and armed.expired() and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

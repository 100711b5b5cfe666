"""Rate and per-host limits.

The rate limiter is a GCRA token bucket (the "virtual scheduling" form of the
leaky bucket): each acquirer reserves the next free slot on a timeline spaced
``1/rate`` apart and sleeps until its slot, so many waiters never wake at once
and no background refill task is needed. ``burst`` slots may be taken without
waiting after an idle period. Time comes from an injectable :class:`Clock`, so
tests drive it without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from .protocols import Clock

__all__ = ["HostLimiter", "MonotonicClock", "TokenBucket"]


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, ``burst`` at once.

    Example::

        bucket = TokenBucket(100.0)
        await bucket.acquire()
    """

    def __init__(self, rate: float, burst: int = 1, clock: Clock | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock or MonotonicClock()
        self._tat = self._clock.now()  # theoretical arrival time of the next slot

    def reserve(self) -> float:
        """Take the next slot; return how long the caller must wait for it."""
        now = self._clock.now()
        tat = max(self._tat, now)
        self._tat = tat + self._interval
        return max(0.0, tat - self._tolerance - now)

    async def acquire(self) -> None:
        """Wait until the caller may start one more attempt."""
        wait = self.reserve()
        if wait > 0:
            await self._clock.sleep(wait)


class HostLimiter:
    """At most ``per_host`` concurrent holders for each key; fair (FIFO) hand-off.

    Keys with no holder and no waiter are forgotten, so memory follows the
    number of hosts in flight, not the number seen.
    """

    __slots__ = ("_cap", "_slots")

    def __init__(self, per_host: int) -> None:
        if per_host < 1:
            raise ValueError("per_host must be at least 1")
        self._cap = per_host
        self._slots: dict[str, tuple[list[int], deque[asyncio.Future[None]]]] = {}

    def __len__(self) -> int:
        return len(self._slots)

    async def acquire(self, key: str) -> None:
        entry = self._slots.get(key)
        if entry is None:
            self._slots[key] = ([1], deque())
            return
        count, waiters = entry
        if count[0] < self._cap and not waiters:
            count[0] += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(key)  # the slot was handed to us as we were cancelled
            else:
                # A release() in the same loop turn may already have dropped it.
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)
            raise

    def release(self, key: str) -> None:
        count, waiters = self._slots[key]
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # hand the slot over; count unchanged
                return
        count[0] -= 1
        if count[0] == 0:
            del self._slots[key]

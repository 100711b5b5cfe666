"""Bounded retry with exponential backoff for sinks that fail transiently.

A full disk or a database that restarts is not a reason to lose results: the
sink waits and tries again, doubling the pause each time, until a deadline.
Past the deadline it raises :class:`aioscout.SinkError` so the run stops with
a resumable checkpoint instead of reporting success with results missing.
The clock is injectable so the deadline is tested without sleeping.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .._exceptions import SinkError
from ..engine.protocols import Clock

__all__ = ["MonotonicClock", "RetryPolicy", "in_thread", "redact_url", "retry_call"]

T = TypeVar("T")


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        """Seconds on the monotonic clock."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the running loop."""
        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How long and how often a sink retries before giving up.

    Args:
        deadline: total seconds spent retrying one operation before
            :class:`aioscout.SinkError` is raised (0 = fail at once).
        first_delay: the pause after the first failure.
        max_delay: the longest single pause.
        multiplier: growth of the pause after each failure.
        clock: where time comes from (a fake one in tests).
        on_retry: called before each pause with ``(attempt, message, delay)``,
            e.g. to report "output paused: disk full" on the progress line.
    """

    deadline: float = 30.0
    first_delay: float = 0.05
    max_delay: float = 2.0
    multiplier: float = 2.0
    clock: Clock | None = None
    on_retry: Callable[[int, str, float], None] | None = None

    def __post_init__(self) -> None:
        if self.deadline < 0 or self.first_delay < 0 or self.max_delay < 0:
            raise ValueError("retry deadline and delays must be >= 0")
        if self.multiplier < 1:
            raise ValueError("retry multiplier must be >= 1")


async def retry_call(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    retryable: Callable[[Exception], bool],
    describe: Callable[[Exception], str],
) -> T:
    """Run ``operation`` until it succeeds, retrying failures ``retryable`` accepts.

    ``operation`` must leave no partial effect behind when it raises (the
    sinks roll back a failed batch before raising), so that running it again
    never duplicates anything.

    Raises:
        SinkError: with ``describe(exc)`` as message, at once for an error that
            is not retryable, or once the policy's deadline has passed.
    """
    clock = policy.clock or MonotonicClock()
    start = clock.now()
    delay = policy.first_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except SinkError:
            raise
        except Exception as exc:
            message = describe(exc)
            if not retryable(exc):
                raise SinkError(message) from exc
            remaining = policy.deadline - (clock.now() - start)
            if remaining <= 0:
                raise SinkError(f"{message} (gave up after {attempt} attempts)") from exc
            pause = min(delay, remaining, policy.max_delay)
            if policy.on_retry is not None:
                policy.on_retry(attempt, message, pause)
            await clock.sleep(pause)
            delay = min(delay * policy.multiplier, policy.max_delay)


async def in_thread(func: Callable[[], T]) -> T:
    """Run blocking ``func`` in a thread; if cancelled, wait for it before re-raising.

    A thread cannot be interrupted, so a cancelled caller must not go on (and
    close a file or a connection) while the thread is still using it.
    """
    fut = asyncio.ensure_future(asyncio.to_thread(func))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        await asyncio.wait([fut])
        raise


_SECRET_PARAM = re.compile(r"((?:^|[?&;])(?:password|passwd|pass|secret|token)=)[^&;#]*", re.I)


def redact_url(url: str) -> str:
    """``url`` with ``user:password@`` and ``password=`` values masked, safe for messages.

    Errs on the side of hiding: everything between ``://`` and the last
    ``@`` before the query is masked, even a password with unescaped ``/``.

    >>> redact_url("redis://user:secret@10.0.0.1:6379/0")
    'redis://***@10.0.0.1:6379/0'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    head, qmark, query = rest.partition("?")
    if "@" in head:
        head = "***@" + head.rpartition("@")[2]
    if qmark:
        query = _SECRET_PARAM.sub(r"\1***", query)
    return f"{scheme}{sep}{head}{qmark}{query}"

"""Running the same scan again and again: ``--every INTERVAL`` and ``--at HH:MM``.

Why it is built on the loop's own timers: a scan that repeats needs no cron,
and the loop already knows the time. Each run is due at a fixed time
(``first + k × interval``, or each day at HH:MM): :meth:`loop.call_at
<asyncio.loop.call_at>` fires the next one whatever the current run is
doing. When a run is still going at the moment the next one is due, that
one is skipped (never started twice) and ``say`` is told; the one after is
due as usual, so the schedule keeps its pace instead of drifting.

Example::

    import asyncio
    from aioscout.schedule import Schedule, run_on_schedule

    async def run_once(n: int) -> bool:
        print("run", n)
        return True  # False: stop the schedule

    asyncio.run(run_on_schedule(Schedule(every=0.01, runs=3), run_once, say=print))
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Schedule", "parse_at", "parse_interval", "run_on_schedule", "seconds_until"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_interval(text: str) -> float:
    """Seconds in ``90``, ``5s``, ``10m``, ``1h30m`` or ``1d``; raises ``ValueError``."""
    spec = text.strip().lower()
    try:
        seconds = float(spec)
    except ValueError:
        parts = _PART.findall(spec)
        if not parts or "".join(n + u for n, u in parts) != spec:
            raise ValueError(f"{text!r}: use seconds or 5s, 10m, 1h30m, 1d") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not seconds > 0 or seconds != seconds:
        raise ValueError(f"{text!r}: the interval must be more than zero")
    return seconds


def parse_at(text: str) -> tuple[int, int]:
    """``HH:MM`` (24-hour, local time) as ``(hour, minute)``; raises ``ValueError``."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{text!r}: use HH:MM, 24-hour local time (e.g. 02:30)")
    return int(match[1]), int(match[2])


def seconds_until(hour: int, minute: int, now: dt.datetime) -> float:
    """Seconds from ``now`` to the next ``hour:minute`` (today's, else tomorrow's)."""
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    return (target - now).total_seconds()


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """When runs are due: every ``every`` seconds from now, or daily ``at`` (hour, minute).

    With both, the first run is at ``at`` and then every ``every`` seconds.
    ``runs`` stops after that many runs (``None``: until stopped).
    """

    every: float | None = None
    at: tuple[int, int] | None = None
    runs: int | None = None

    def __post_init__(self) -> None:
        if self.every is None and self.at is None:
            raise ValueError("a schedule needs every or at")
        if self.runs is not None and self.runs < 1:
            raise ValueError("runs must be at least 1")

    @property
    def interval(self) -> float:
        """Seconds between due times."""
        return self.every if self.every is not None else 86400.0

    def first_delay(self, now: dt.datetime | None = None) -> float:
        """Seconds until the first run is due (0 for ``every`` alone: at once)."""
        if self.at is None:
            return 0.0
        return seconds_until(*self.at, now or dt.datetime.now())


async def run_on_schedule(
    schedule: Schedule,
    run_once: Callable[[int], Awaitable[bool]],
    *,
    say: Callable[[str], None],
    stop: asyncio.Event | None = None,
) -> int:
    """Call ``run_once(n)`` (n = 1, 2, …) when each run is due; return how many ran.

    Ends when ``run_once`` returns False, after ``schedule.runs`` runs, or
    when ``stop`` is set (between runs at once; during a run, once it ends).
    A run due while the previous one still goes is skipped and ``say`` is told.
    """
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    started = 0
    running: asyncio.Task[bool] | None = None
    handle: asyncio.TimerHandle | None = None
    due = loop.time() + schedule.first_delay()

    async def one(n: int) -> bool:
        try:
            keep_going = await run_once(n)
        finally:
            if schedule.runs is not None and n >= schedule.runs:
                stop.set()
        if not keep_going:
            stop.set()
        return keep_going

    async with asyncio.TaskGroup() as tg:

        def tick() -> None:
            nonlocal due, handle, running, started
            if stop.is_set():
                return
            due += schedule.interval
            while due <= loop.time():  # a clock jump or a long stall: the next future slot
                due += schedule.interval
            handle = loop.call_at(due, tick)
            if running is not None and not running.done():
                at = dt.datetime.now().strftime("%H:%M:%S")
                say(f"run {started} still going at {at}: skipping this run")
                return
            started += 1
            running = tg.create_task(one(started))

        handle = loop.call_at(due, tick)
        try:
            await stop.wait()
        finally:
            if handle is not None:
                handle.cancel()
    return started

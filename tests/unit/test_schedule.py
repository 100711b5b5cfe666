"""Schedules: parsing, due times, and runs that overrun their slot (never two at once)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from aioscout.schedule import Schedule, parse_at, parse_interval, run_on_schedule, seconds_until


def test_parse_interval_and_at() -> None:
    assert [parse_interval(s) for s in ("90", "5s", "10m", "1h30m", "1d", "0.5")] == [
        90.0,
        5.0,
        600.0,
        5400.0,
        86400.0,
        0.5,
    ]
    for bad in ("", "0", "-5", "5x", "5s junk", "nan", "m"):
        with pytest.raises(ValueError):
            parse_interval(bad)
    assert parse_at("02:30") == (2, 30)
    for bad in ("24:00", "12:60", "1230", "noon"):
        with pytest.raises(ValueError):
            parse_at(bad)


def test_seconds_until_today_or_tomorrow() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, 0)
    assert seconds_until(13, 0, now) == 3600
    assert seconds_until(12, 0, now) == 86400
    assert seconds_until(11, 0, now) == 23 * 3600
    assert Schedule(every=5).first_delay(now) == 0
    assert Schedule(at=(12, 30)).first_delay(now) == 1800


async def test_runs_are_numbered_and_stop_after_runs() -> None:
    done: list[int] = []

    async def once(n: int) -> bool:
        done.append(n)
        return True

    assert await run_on_schedule(Schedule(every=0.001, runs=3), once, say=print) == 3
    assert done == [1, 2, 3]


async def test_a_run_that_overruns_is_not_started_twice() -> None:
    skipped = asyncio.Event()
    said: list[str] = []
    running = 0
    most = 0

    def say(text: str) -> None:
        said.append(text)
        skipped.set()

    async def once(n: int) -> bool:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if n == 1:
            await skipped.wait()  # still going when the next run is due
        running -= 1
        return True

    assert await run_on_schedule(Schedule(every=0.001, runs=2), once, say=say) == 2
    assert most == 1
    assert said and "run 1 still going" in said[0] and "skipping" in said[0]


async def test_stop_between_runs_and_run_once_returning_false() -> None:
    stop = asyncio.Event()

    async def once(n: int) -> bool:
        stop.set()
        return True

    assert await run_on_schedule(Schedule(every=3600), once, say=print, stop=stop) == 1

    async def refuse(n: int) -> bool:
        return False

    assert await run_on_schedule(Schedule(every=0.001), refuse, say=print) == 1
    with pytest.raises(ValueError):
        Schedule()

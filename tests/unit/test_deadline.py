"""The hot path's deadline keeps asyncio.timeout's promises."""

from __future__ import annotations

import asyncio

import pytest

from aioscout._deadline import deadline


async def test_time_up_raises_timeout_error() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        async with deadline(loop, 0.01):
            await asyncio.sleep(5)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_in_time_is_left_alone() -> None:
    loop = asyncio.get_running_loop()
    async with deadline(loop, 5):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)  # nothing fires later


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    loop = asyncio.get_running_loop()

    async def guarded() -> None:
        async with deadline(loop, 5):
            await asyncio.sleep(5)

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nested_deadlines_each_raise_their_own() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        async with deadline(loop, 0.01):
            try:
                async with deadline(loop, 5):
                    await asyncio.sleep(5)
            except TimeoutError:  # pragma: no cover - the inner one must not claim it
                pytest.fail("the outer deadline's cancellation was taken for the inner one")

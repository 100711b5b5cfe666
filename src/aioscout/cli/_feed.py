"""A sink that feeds a second scan running beside the first (a pipe inside one process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from .._models import Record

__all__ = ["LineFeed"]


class LineFeed:
    """Streams ``pick(record)`` of each written record (when not ``None``) as input lines
    of another scan: ``dns … --probe-http`` feeds the names found, ``ports …
    --probe-http`` the URLs of web ports. Bounded: a slow second scan holds the first
    one back. ``aclose`` ends :meth:`lines`."""

    def __init__(self, pick: Callable[[Record], str | None]) -> None:
        self.pick = pick
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(10_000)

    async def write(self, records: Sequence[Record]) -> None:
        for record in records:
            line = self.pick(record)
            if line is not None:
                await self.queue.put(line)

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        await self.queue.put(None)

    async def lines(self) -> AsyncIterator[str]:
        while (line := await self.queue.get()) is not None:
            yield line

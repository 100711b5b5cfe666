"""Screenshots as a stage after a probe: over result files, or around the HTTP probe.

``screenshot_lines`` reads records (JSON Lines), captures the page of each
HTTP record that has a status, and yields every record, in input order, with
``screenshot`` (the PNG's path or ``null``) and ``screenshot_error`` added.

``ScreenshotProbeFactory`` wraps a probe factory: each worker that builds the
probe gets one browser of its own, and every HTTP record with a status leaves
the probe with its ``screenshot`` filled in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from .._models import records_of
from .shots import ScreenshotOptions, Screenshotter, Shot

__all__ = ["ScreenshotProbeFactory", "page_of", "screenshot_lines"]


def page_of(rec: dict[str, Any]) -> tuple[str, str | None] | None:
    """The URL to capture for a record (and the address to reach it), or ``None``."""
    if rec.get("error") or rec.get("status") is None:
        return None
    url = rec.get("final_url") or rec.get("url")
    if not isinstance(url, str) or "state" in rec or "sha256" in rec:
        return None
    ip = rec.get("ip")
    return url, ip if isinstance(ip, str) else None


async def _shoot(shooter: Screenshotter, rec: dict[str, Any] | None) -> dict[str, Any] | None:
    if rec is None:
        return None
    page = page_of(rec)
    if page is None:
        return rec
    shot: Shot = await shooter.shoot(page[0], ip=page[1])
    rec["screenshot"] = shot.path
    rec["screenshot_error"] = (
        {"kind": shot.error, "detail": shot.detail} if shot.error is not None else None
    )
    return rec


async def screenshot_lines(
    lines: Iterable[bytes], options: ScreenshotOptions
) -> AsyncIterator[bytes]:
    """Each input line back as a JSON line, screenshots added; unreadable lines as they were."""
    window = max(2, options.tabs * 2)
    async with Screenshotter(options) as shooter, asyncio.TaskGroup() as tg:
        pending: list[tuple[bytes, asyncio.Task[dict[str, Any] | None]]] = []
        for line in lines:
            if not line.strip():
                continue
            rec: dict[str, Any] | None = None
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(line)
                rec = value if isinstance(value, dict) else None
            pending.append((line, tg.create_task(_shoot(shooter, rec))))
            while len(pending) >= window or (pending and pending[0][1].done()):
                yield await _done(pending.pop(0))
        for item in pending:
            yield await _done(item)


async def _done(item: tuple[bytes, asyncio.Task[dict[str, Any] | None]]) -> bytes:
    line, task = item
    rec = await task
    return line.rstrip(b"\r\n") + b"\n" if rec is None else orjson.dumps(rec) + b"\n"


@dataclass(frozen=True)
class ScreenshotProbeFactory:
    """A probe factory whose probes also screenshot each page they find (picklable)."""

    inner: Any
    options: ScreenshotOptions

    def __call__(self, config: Any) -> _ScreenshotProbe:
        return _ScreenshotProbe(self.inner(config), self.options)

    def modules(self) -> tuple[str, ...]:
        """The modules a worker imports for the wrapped probe, and this one."""
        inner = getattr(self.inner, "modules", None)
        return (*(inner() if inner else ()), __name__)


class _ScreenshotProbe:
    """The wrapped probe, then a screenshot of each record with a status."""

    def __init__(self, inner: Any, options: ScreenshotOptions) -> None:
        self.inner = inner
        self.keeps_deadline = getattr(inner, "keeps_deadline", False)
        self._shooter = Screenshotter(options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def start(self) -> None:
        await self.inner.start()
        await self._shooter.start()

    async def probe(self, line: str, target: Any) -> Any:
        record = await self.inner.probe(line, target)
        for rec in records_of(record):
            if getattr(rec, "error", None) is not None or getattr(rec, "status", None) is None:
                continue
            url = getattr(rec, "final_url", None) or getattr(rec, "url", None)
            if url and hasattr(rec, "screenshot"):
                shot = await self._shooter.shoot(url, ip=getattr(rec, "ip", None))
                rec.screenshot = shot.path
        return record

    async def aclose(self) -> None:
        try:
            await self._shooter.aclose()
        finally:
            await self.inner.aclose()

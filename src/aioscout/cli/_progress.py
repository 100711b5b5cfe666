"""Progress while a run goes, and the summary after it.

On a terminal, one status line is pinned below the records: done/total,
percentage, rate and ETA when the number of items is known (a list file,
CIDR ranges, a wordlist times its domains), done and rate when it is not
(stdin). Records printed to the same terminal go through :meth:`StatusLine.emit`,
which clears the line, writes them and draws it again, so the two never mix.
When standard error is not a terminal, ``--stats N`` prints one plain summary
line every N seconds instead (background jobs, CI logs). Every number shown
to a person has the one format of :func:`~._human.fmt_int`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import shutil
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ..engine import Stats, Stopper
from ..sinks._file import OutputClosed
from ._human import fmt_int

__all__ = [
    "Estimate",
    "StatusLine",
    "count_items",
    "progress_text",
    "show_progress",
    "start_count",
    "summary_line",
]

_CLEAR = b"\r\x1b[2K"
_TARGET_LINE = re.compile(rb"^[ \t]*[^ \t\r\n#]", re.MULTILINE)
_CIDR_LINE = re.compile(rb"^[ \t]*[0-9.]+/([0-9]{1,2})[ \t\r]*$", re.MULTILINE)
_COUNT_LIMIT = 1 << 30  # bytes of a list counted for the total; past it, the total is unknown


@dataclass(frozen=True, slots=True)
class Estimate:
    """How to count a run's items before it starts: the list, and what each line becomes."""

    path: str | None = None  # a regular file of targets (None: stdin or nothing)
    args: Sequence[str] = ()  # targets given as arguments
    per_line: int = 1  # items per target line (ports x paths, or domains for a wordlist)
    cidr: bool = False  # CIDR lines count their addresses (http)


def _count_file(path: str, cidr: bool, max_cidr: int) -> int | None:
    try:
        if os.path.getsize(path) > _COUNT_LIMIT:
            return None
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    lines = len(_TARGET_LINE.findall(data))
    if cidr and b"/" in data:
        for prefix in _CIDR_LINE.findall(data):
            size = 1 << max(0, 32 - int(prefix))
            lines += (size if size <= max_cidr else 1) - 1
    return lines


def count_items(estimate: Estimate, max_cidr: int = 65536) -> int | None:
    """The number of items a run will have, or None when it cannot be known (stdin).

    Blank and comment lines are not counted (they are skipped); a CIDR line
    counts its addresses. Lines naming their own port are counted once per
    port given with ``-p`` too, so the total can be an upper bound.
    """
    total = 0
    for arg in estimate.args:
        match = _CIDR_LINE.fullmatch(arg.encode()) if estimate.cidr else None
        size = 1 << max(0, 32 - int(match.group(1))) if match else 1
        total += size if size <= max_cidr else 1
    if estimate.path is not None:
        counted = _count_file(estimate.path, estimate.cidr, max_cidr)
        if counted is None:
            return None
        total += counted
    return total * estimate.per_line


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_text(stats: Stats, total: int | None, *, not_found: bool = False) -> str:
    """One line: ``1,234/10,000 12% · 2,345/s · ETA 0:04 · 1,200 ok · 34 errors``."""
    done, rate = stats.done + stats.skipped, stats.rate
    parts = []
    if total:
        total = max(total, done)
        pct = 100 * done // total
        eta = (total - done) / rate if rate > 0 else None
        parts.append(f"{fmt_int(done)}/{fmt_int(total)} {pct}%")
        parts.append(f"{fmt_int(rate)}/s")
        parts.append(f"ETA {_clock(eta)}" if eta is not None else "ETA -")
    else:
        parts.append(f"{fmt_int(done)} done")
        parts.append(f"{fmt_int(rate)}/s")
    parts.append(f"{fmt_int(stats.ok)} {'found' if not_found else 'ok'}")
    missing, errors = _split_errors(stats, not_found)
    if not_found:
        parts.append(f"{fmt_int(missing)} not found")
    parts.append(f"{fmt_int(errors)} errors")
    if stats.in_flight:
        parts.append(f"{fmt_int(stats.in_flight)} in flight")
    parts.append(_clock(stats.elapsed))
    return " · ".join(parts)


def _split_errors(stats: Stats, not_found: bool) -> tuple[int, int]:
    """(names not found, other errors): a brute force's NXDOMAIN answers are not errors."""
    missing = stats.errors.get("dns", 0) if not_found else 0
    return missing, sum(stats.errors.values()) - missing


def summary_line(stats: Stats, *, not_found: bool = False, resumable: bool = False) -> str:
    """The summary printed once the run ends.

    ``not_found``: errors of kind ``dns`` are names that do not exist (a DNS
    brute force or list), counted as "not found". ``resumable``: the run has
    a checkpoint to resume from and an output to resume into, so an
    interrupted run says "rerun with --resume".
    """
    missing, errors = _split_errors(stats, not_found)
    kinds = ", ".join(
        f"{kind} {fmt_int(n)}"
        for kind, n in stats.errors.most_common()
        if not (not_found and kind == "dns")
    )
    parts = [f"{fmt_int(stats.done)} done", f"{fmt_int(stats.ok)} {'found' if not_found else 'ok'}"]
    if not_found:
        parts.append(f"{fmt_int(missing)} not found")
    parts.append(f"{fmt_int(errors)} errors" + (f" ({kinds})" if kinds else ""))
    # With only found names shown, the names not found (and failed) are filtered too.
    filtered = stats.filtered - (missing + errors if not_found else 0)
    if filtered > 0:
        parts.append(f"{fmt_int(filtered)} filtered")
    if stats.skipped:
        parts.append(f"{fmt_int(stats.skipped)} already done")
    parts.append(f"{stats.elapsed:.1f} s, {fmt_int(stats.rate)}/s")
    if stats.interrupted:
        parts.append("interrupted: rerun with --resume to finish" if resumable else "interrupted")
    return "; ".join(parts)


class StatusLine:
    """The pinned progress line on a terminal, and the writes that must not mix with it.

    ``emit`` writes records to standard output: the line (on standard error)
    is cleared first and drawn again after, so records scroll above it.
    """

    def __init__(self, *, shown: bool) -> None:
        self._shown = shown
        self._text = b""
        self._lock = threading.Lock()

    def _draw(self) -> None:
        if self._text:
            os.write(2, _CLEAR + self._text)

    def set(self, text: str) -> None:
        """Show ``text`` as the status line (cut to the terminal's width)."""
        if not self._shown:
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        if len(text) > width:
            text = text[: max(width - 1, 0)] + "…"
        with self._lock:
            self._text = text.encode("utf-8", "replace")
            self._draw()

    def clear(self) -> None:
        """Remove the line (at the end of the run)."""
        if not self._shown:
            return
        with self._lock:
            if self._text:
                os.write(2, _CLEAR)
            self._text = b""

    def say(self, message: str) -> None:
        """A message line on standard error, above the status line."""
        with self._lock:
            line = message.encode("utf-8", "replace") + b"\n"
            _write_all(2, (_CLEAR + line) if self._shown else (b"\n" + line))
            if self._shown:
                self._draw()

    def emit(self, data: bytes) -> None:
        """Write ``data`` (whole lines) to standard output above the status line."""
        with self._lock:
            if self._shown and self._text:
                os.write(2, _CLEAR)
            try:
                _write_all(1, data)
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.EIO, errno.EBADF):
                    raise OutputClosed("cannot write results: output closed") from exc
                raise
            finally:
                if self._shown:
                    self._draw()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def show_progress(
    stats: Stats,
    stopper: Stopper,
    status: StatusLine,
    total: asyncio.Future[int | None] | None,
    *,
    not_found: bool,
    every: float,
    bar: bool,
) -> None:
    """Keep the status line (``bar``) or the periodic ``--stats`` lines going until cancelled."""
    if total is not None:
        # A list of ordinary size is counted in a moment: show the total from the start.
        await asyncio.wait([total], timeout=0.1)
    try:
        while True:
            if not bar:
                await asyncio.sleep(every)
            known = total.result() if total is not None and total.done() else None
            text = progress_text(stats, known, not_found=not_found)
            if stopper.stopping:
                text += " · stopping…"
            if bar:
                status.set(text)
                await asyncio.sleep(0.2)
            else:
                print(text, file=sys.stderr, flush=True)
    finally:
        status.clear()


def start_count(estimate: Estimate, max_cidr: int) -> asyncio.Future[int | None]:
    """Count the run's items in a daemon thread (a large list takes a moment)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int | None] = loop.create_future()

    def deliver(value: int | None) -> None:
        if not fut.done():
            fut.set_result(value)

    def count() -> None:
        value = count_items(estimate, max_cidr)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(deliver, value)

    threading.Thread(target=count, name="aioscout-count", daemon=True).start()
    return fut

"""Run statistics: what the progress bar shows and the summary prints."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Stats"]


@dataclass(slots=True)
class Stats:
    """Counters for one run; updated by the engine, read by anyone.

    ``done`` counts every record produced (written or filtered out);
    ``skipped`` counts items a resumed run found already done.
    """

    started: float = field(default_factory=time.monotonic)
    read: int = 0
    done: int = 0
    ok: int = 0
    written: int = 0
    filtered: int = 0
    skipped: int = 0
    retries: int = 0
    in_flight: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    finished: float | None = None
    interrupted: bool = False

    @property
    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return max(end - self.started, 1e-9)

    @property
    def rate(self) -> float:
        """Records per second since the start."""
        return self.done / self.elapsed

    def merge(self, other: Stats) -> None:
        """Add another process's counters into these."""
        self.read += other.read
        self.done += other.done
        self.ok += other.ok
        self.written += other.written
        self.filtered += other.filtered
        self.skipped += other.skipped
        self.retries += other.retries
        self.in_flight += other.in_flight
        self.errors.update(other.errors)

    def as_dict(self) -> dict[str, object]:
        """The summary as plain data (for ``--stats-json`` and the library)."""
        return {
            "done": self.done,
            "ok": self.ok,
            "errors": dict(sorted(self.errors.items())),
            "written": self.written,
            "filtered": self.filtered,
            "skipped": self.skipped,
            "retries": self.retries,
            "elapsed_s": round(self.elapsed, 3),
            "rate_per_s": round(self.rate, 1),
            "interrupted": self.interrupted,
        }

    def summary_line(self) -> str:
        """One human line: totals, error kinds, rate."""
        errs = ", ".join(f"{k} {v}" for k, v in self.errors.most_common())
        parts = [
            f"{self.done} done",
            f"{self.ok} ok",
            f"{sum(self.errors.values())} errors" + (f" ({errs})" if errs else ""),
        ]
        if self.filtered:
            parts.append(f"{self.filtered} filtered")
        if self.skipped:
            parts.append(f"{self.skipped} already done")
        parts.append(f"{self.elapsed:.1f}s, {self.rate:,.0f}/s")
        if self.interrupted:
            parts.append("interrupted: rerun with --resume to finish")
        return "; ".join(parts)

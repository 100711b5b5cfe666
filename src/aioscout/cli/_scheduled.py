"""A scanning command with ``--every``/``--at``: the same scan on a schedule, changes only.

Each run writes its records where ``-o`` says, one output per run (a JSON
Lines file ``NAME.<UTC time>.jsonl`` beside ``NAME.jsonl``, or a table
``<table>_<UTC time>`` of the SQLite database), and keeps them in memory to
compare with the next. What reaches stdout is the change set (see
:mod:`aioscout.diff`): human lines on a terminal, JSON Lines otherwise. The
first run compares with the newest earlier run file beside ``-o`` if there
is one, else everything is new. ``--notify URL`` posts each non-empty
change set. Ctrl-C between runs ends the command at once (status 0); during
a run it stops that run as usual (status 130).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import replace
from typing import Any

import click
import orjson

from .. import diff
from .._config import ScanConfig
from .._models import Record
from ..engine import Probe, Stats
from ..notify import Notifier, secrets_of
from ..schedule import Schedule, run_on_schedule
from ..sinks.jsonl import encode_record

__all__ = ["Collector", "run_output", "run_scheduled"]


class Collector:
    """A sink keeping one run's records as JSON objects (what the next run is compared with)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    async def write(self, records: Sequence[Record]) -> None:
        """Keep a batch."""
        self.rows.extend(orjson.loads(encode_record(r)) for r in records)

    async def flush(self) -> None:
        """Nothing to make durable."""

    async def aclose(self) -> None:
        """Nothing to release."""


def run_output(output: str | None, stamp: str) -> str | None:
    """Where run ``stamp``'s records go, given ``-o``: a file per run, a table per run."""
    if output is None or output == "-" or output.startswith("/dev/"):
        return output
    if output.lower().startswith("sqlite://"):
        base, _, query = output.partition("?")
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        params["table"] = f"{params.get('table', 'results')}_{stamp}"
        return base + "?" + "&".join(f"{k}={v}" for k, v in params.items())
    if "://" in output:
        return output  # Redis: every run appends to the same list or stream
    stem, ext = os.path.splitext(output)
    return f"{stem}.{stamp}{ext or '.jsonl'}"


def _previous_run(output: str | None) -> list[dict[str, Any]] | None:
    """The newest earlier run beside ``output`` (``NAME.<stamp>.jsonl``, a table), if any."""
    if output is not None and output.lower().startswith("sqlite://"):
        return _previous_table(output)
    if output is None or "://" in output or output == "-":
        return None
    stem, ext = os.path.splitext(output)
    found = sorted(glob.glob(f"{glob.escape(stem)}.2*{ext or '.jsonl'}"))
    if not found:
        return None
    try:
        return diff.load(found[-1])
    except OSError:
        return None


def _previous_table(output: str) -> list[dict[str, Any]] | None:
    base, _, query = output.partition("?")
    table = dict(p.partition("=")[::2] for p in query.split("&") if p).get("table", "results")
    path = base[len("sqlite:///") :]
    if not os.path.exists(path):
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = [
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                if name.startswith(f"{table}_2")
            ]
        finally:
            conn.close()
        return diff.load(f"{base}?table={max(names)}") if names else None
    except (sqlite3.Error, ValueError, OSError):
        return None


def _stamp(taken: set[str]) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    n, unique = 1, stamp
    while unique in taken:
        n += 1
        unique = f"{stamp}_{n}"
    taken.add(unique)
    return unique


def _emit(changes: diff.ChangeSet, human: bool) -> None:
    if human:
        for text in diff.render_human(changes):
            click.echo(text)
        return
    out = sys.stdout.buffer
    for data in diff.render_jsonl(changes):
        out.write(data + b"\n")
    out.flush()


async def run_scheduled(
    probe: Probe[Any] | Callable[[ScanConfig], Probe[Any]],
    lines: Callable[[], AsyncIterable[str]],
    config: ScanConfig,
    spec: Any,
    execute: Callable[..., Awaitable[Stats]],
    *,
    keep: Callable[[Record], bool] | None = None,
) -> Stats | None:
    """Run the scan on ``spec``'s schedule; the last run's statistics (None if none ran).

    ``spec`` is the command's OutputSpec, ``execute`` runs one scan (both from
    :mod:`._common`, passed in so this module does not import it back).
    """

    def say(text: str) -> None:
        if not spec.silent:
            click.echo(f"aioscout: {text}", err=True)

    schedule = Schedule(every=spec.every, at=spec.at, runs=spec.runs)
    notifier = None
    if spec.notify:
        notifier = Notifier(
            spec.notify,
            spec.notify_format,
            secrets=secrets_of(*getattr(probe, "args", ())),
            say=lambda text: click.echo(f"aioscout: {text}", err=True),
        )
    previous = _previous_run(spec.output)
    stamps: set[str] = set()
    last: list[Stats] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def between_runs() -> None:  # Ctrl-C while waiting: end now
        say("stopped between runs")
        stop.set()

    def wait_for_signals() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, between_runs)

    async def run_once(n: int) -> bool:
        nonlocal previous
        stamp = _stamp(stamps)
        collector = Collector()
        this = replace(
            spec, output=run_output(spec.output, stamp), terminal=None, silent=True, resume=False
        )
        try:
            stats = await execute(
                probe, lines(), config, this, keep=keep, extra_sinks=[collector], quiet_output=True
            )
        finally:
            wait_for_signals()  # execute() put back the default handlers
        last[:] = [stats]
        changes = diff.diff_records(previous or [], collector.rows)
        previous = collector.rows
        _emit(changes, spec.terminal == "human")
        say(f"run {n}: {stats.done} results, {changes.summary()}")
        if notifier is not None and changes:
            meta = {"command": spec.command, "run": n, "at": stamp}
            await notifier.send(changes, meta)
        return not stats.interrupted

    wait_for_signals()
    try:
        await run_on_schedule(schedule, run_once, say=say, stop=stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return last[0] if last else None

"""What every scanning command shares: options, the ScanConfig they build, and the run.

Options are grouped as decorators so each command states which groups it takes.
Nothing below cli/ reads flags or the environment: this module turns them into
:class:`ScanConfig` and friends, opens the sinks and the checkpoint, installs
the two-stage Ctrl-C handler and runs the engine on the chosen event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import stat
import sys
from collections.abc import AsyncIterable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from .._config import Limits, ScanConfig, Timeouts
from .._exceptions import AioscoutError, ConfigError
from .._loop import run_loop
from .._models import Record
from ..engine import Checkpoint, Probe, Sink, Stats, Stopper, run_scan

__all__ = [
    "OutputSpec",
    "common_options",
    "fail",
    "input_identity",
    "parse_pairs",
    "parse_timeouts",
    "run_command",
    "run_loop",
    "scan_config_from",
]

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")


def fail(message: str) -> None:
    """Exit with status 2 and a one-line reason (for unusable arguments or input)."""
    raise click.UsageError(message)


def parse_pairs(values: tuple[str, ...], sep: str, what: str) -> tuple[tuple[str, str], ...]:
    """``NAME<sep>VALUE`` flags (headers, params, cookies, form fields) as pairs."""
    out = []
    for v in values:
        key, found, val = v.partition(sep)
        if not found or not key.strip():
            fail(f"{what} {v!r}: expected NAME{sep}VALUE")
        out.append((key.strip(), val.strip() if sep == ":" else val))
    return tuple(out)


def parse_timeouts(spec: str) -> Timeouts:
    """``10`` (total) or ``connect=3,read=5,total=10`` in seconds."""
    try:
        if "=" not in spec:
            total = float(spec)
            return Timeouts(connect=min(5.0, total), read=min(5.0, total), total=total)
        parts = dict(p.split("=", 1) for p in spec.split(",") if p)
        unknown = set(parts) - {"connect", "read", "total"}
        if unknown:
            raise ValueError(f"unknown phase {sorted(unknown)[0]!r}")
        values = {k: float(v) for k, v in parts.items()}
        total = values.get("total", max(10.0, *values.values()))
        return Timeouts(
            connect=values.get("connect", min(5.0, total)),
            read=values.get("read", min(5.0, total)),
            total=total,
        )
    except ValueError as exc:
        raise click.BadParameter(
            f"{spec!r}: {exc} (use seconds, or connect=3,read=5,total=10)"
        ) from None


def _opts(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


def common_options(
    default_concurrency: int = 256,
    *,
    short_workers: bool = True,
    concurrency_flags: tuple[str, ...] = ("-c", "--concurrency"),
) -> Callable[[F], F]:
    """Input, output, engine and display options shared by the scanning commands.

    ``concurrency_flags``: ``aioscout ssh`` gives ``-c`` to the command it runs.
    """
    workers_flags = ("-w", "--workers") if short_workers else ("--workers",)
    return _opts(
        click.argument("targets", nargs=-1),
        click.option(
            "-l",
            "--list",
            "list_file",
            metavar="FILE",
            help="Read targets from FILE, one per line ('-' for stdin).",
        ),
        click.option(
            "-o",
            "--output",
            metavar="FILE",
            help="Write records to FILE (JSON Lines; sqlite:///x.db and "
            "redis://host:port/db?key=k also work). Default: stdout.",
        ),
        click.option("--csv", "as_csv", is_flag=True, help="Write CSV instead of JSON Lines."),
        click.option(
            "--resume",
            is_flag=True,
            help="Continue an interrupted run from OUTPUT.ckpt (starts if none).",
        ),
        click.option(
            *concurrency_flags,
            "concurrency",
            type=click.IntRange(1, 100_000),
            default=default_concurrency,
            show_default=True,
            help="Targets in flight at once (across all workers).",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(0),
            default=0.0,
            help="At most this many attempts per second (0: no limit).",
        ),
        click.option(
            "--per-host",
            type=click.IntRange(1),
            default=8,
            show_default=True,
            help="At most this many concurrent probes per host.",
        ),
        click.option(
            "--timeout",
            "timeout_spec",
            default="10",
            show_default=True,
            help="Seconds per target: N, or connect=N,read=N,total=N.",
        ),
        click.option(
            "--retries",
            type=click.IntRange(0, 20),
            default=1,
            show_default=True,
            help="Retries for retryable errors (connection resets).",
        ),
        click.option("--no-dedup", is_flag=True, help="Probe duplicate targets again."),
        click.option(
            *workers_flags,
            "workers",
            type=click.IntRange(1, 256),
            default=None,
            help="Worker processes, each with its own event loop (default: one per core"
            " for an input over 64 KiB or a pipe, else 1).",
        ),
        click.option(
            "--loop",
            "loop_name",
            type=click.Choice(["auto", "uvloop", "asyncio"]),
            default="auto",
            show_default=True,
            help="Event loop implementation.",
        ),
        click.option(
            "-s", "--silent", is_flag=True, help="Print records only: no progress bar, no summary."
        ),
        click.option("--no-progress", is_flag=True, help="Never show the progress bar."),
    )


# Below about this many bytes of input (a couple of thousand targets), starting
# worker processes costs more than a second core saves.
_WORKERS_MIN_INPUT = 64 * 1024


def default_workers(input_path: str | None, *, multiplier: int = 1) -> int:
    """``-w`` when not given: one process per usable core for a large or streamed input.

    ``input_path`` is the target list (``-`` for stdin, ``None`` when the targets
    are command-line arguments only); ``multiplier`` scales its size (a brute
    force tries every word under each domain). A small file, or targets given as
    arguments, run in this process alone: spawning workers would cost more than
    it saves. A pipe's size is unknown, so it gets every core.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    if cores == 1 or input_path is None:
        return 1
    try:
        st = os.fstat(0) if input_path == "-" else os.stat(input_path)
    except OSError:
        return 1  # the command reports the unreadable input itself
    if stat.S_ISREG(st.st_mode) and st.st_size * multiplier < _WORKERS_MIN_INPUT:
        return 1
    return cores


def scan_config_from(
    params: dict[str, Any],
    limits: Limits | None = None,
    *,
    input_path: str | None = None,
    multiplier: int = 1,
) -> ScanConfig:
    """The :class:`ScanConfig` for a command's parsed options (see :func:`default_workers`)."""
    workers = params["workers"] or default_workers(input_path, multiplier=multiplier)
    return ScanConfig(
        concurrency=params["concurrency"],
        per_host=params["per_host"],
        rate=params["rate"],
        retries=params["retries"],
        timeouts=parse_timeouts(params["timeout_spec"]),
        limits=limits or Limits(),
        dedup=not params["no_dedup"],
        workers=workers,
        loop=params["loop_name"],
    )


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """Where records go and how the run is checkpointed."""

    output: str | None
    as_csv: bool
    resume: bool
    silent: bool
    progress: bool
    fingerprint: str


def fingerprint(command: str, *parts: object) -> str:
    """A short hash of what determines item numbering (targets and expansion options)."""
    blob = repr((command, *parts)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(blob).hexdigest()[:16]


def input_identity(path: str | None) -> object:
    """What identifies an input file for resume: its path, size and modification time.

    Resuming after the list was edited would count the wrong items as done, so
    the checkpoint's fingerprint changes with the file and ``--resume`` refuses.
    """
    if path in (None, "-"):
        return path
    assert path is not None
    try:
        st = os.stat(path)
    except OSError:
        return os.path.abspath(path)
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns)


def _open_sinks(spec: OutputSpec) -> tuple[list[Sink], Checkpoint | None]:
    from ..sinks import CsvSink, JsonlSink, open_sink

    out = spec.output
    if out is not None and (out == "-" or "://" in out):
        return [open_sink(out)], None
    if out is None:
        return [CsvSink(None) if spec.as_csv else JsonlSink(None)], None
    # A file: checkpointed next to it, so the same command line can be resumed.
    checkpoint = Checkpoint.open(out + ".ckpt", resume=spec.resume, fingerprint=spec.fingerprint)
    resuming = spec.resume and checkpoint.position is not None
    if resuming and not os.path.exists(out):
        checkpoint.close()
        raise ConfigError(f"cannot resume: {out} is gone; delete {out}.ckpt to start over")
    # Resuming cuts what the checkpoint does not vouch for, a torn last line included.
    cut = checkpoint.position if resuming else None
    sink_type = CsvSink if spec.as_csv else JsonlSink
    return [sink_type(out, append=resuming, truncate_at=cut)], checkpoint


async def _progress(stats: Stats, stopper: Stopper) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console(stderr=True)

    def line() -> str:
        errs = sum(stats.errors.values())
        state = " [yellow]stopping…[/]" if stopper.stopping else ""
        return (
            f"[bold]{stats.done:,}[/] done  [green]{stats.ok:,} ok[/]  [red]{errs:,} errors[/]"
            f"  {stats.in_flight:,} in flight  {stats.rate:,.0f}/s  {stats.elapsed:,.0f}s{state}"
        )

    with Live(line(), console=console, refresh_per_second=5, transient=True) as live:
        while True:
            await asyncio.sleep(0.2)
            live.update(line())


async def execute(
    probe: Probe[Any] | Callable[[ScanConfig], Probe[Any]],
    lines: AsyncIterable[str],
    config: ScanConfig,
    spec: OutputSpec,
    *,
    keep: Callable[[Record], bool] | None = None,
    extra_sinks: Sequence[Sink] = (),
    quiet_output: bool = False,
    stopper: Stopper | None = None,
    signals: bool = True,
) -> Stats:
    """Run one scan with signals, progress, sinks and checkpoint wired in.

    ``quiet_output``: no stdout sink when no output was named (the records
    only feed ``extra_sinks``). ``signals``: install the Ctrl-C/SIGTERM handler.
    """
    if quiet_output and spec.output is None:
        sinks: list[Sink] = []
        checkpoint = None
    else:
        sinks, checkpoint = _open_sinks(spec)
    sinks = [*sinks, *extra_sinks]
    stopper = stopper or Stopper()
    stats = Stats()
    loop = asyncio.get_running_loop()

    def on_signal(signame: str) -> None:
        first = not stopper.stopping
        stopper.request()
        if not spec.silent:
            msg = (
                f"\n{signame}: finishing targets in flight (Ctrl-C again to stop at once)"
                if first
                else f"\n{signame}: stopping now"
            )
            click.echo(msg, err=True)

    handled = (signal.SIGINT, signal.SIGTERM) if signals else ()
    for sig in handled:
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        async with asyncio.TaskGroup() as tg:
            bar = None
            if spec.progress and not spec.silent and sys.stderr.isatty():
                bar = tg.create_task(_progress(stats, stopper))
            try:
                await run_scan(
                    probe,
                    lines,
                    sinks,
                    config,
                    keep=keep,
                    checkpoint=checkpoint,
                    stopper=stopper,
                    stats=stats,
                )
            finally:
                if bar is not None:
                    bar.cancel()
    finally:
        for sig in handled:
            with suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        for sink in sinks:
            with suppress(AioscoutError, OSError):
                await sink.aclose()
        if checkpoint is not None:
            checkpoint.close()
    return stats


def leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    """The non-group exceptions inside ``group``, however deeply nested."""
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def run_command(
    probe: Probe[Any] | Callable[[ScanConfig], Probe[Any]],
    lines: Callable[[], AsyncIterable[str]],
    config: ScanConfig,
    spec: OutputSpec,
    *,
    keep: Callable[[Record], bool] | None = None,
) -> None:
    """Run a scan from a click command and exit with the right status and summary."""
    if config.workers > 1 and not hasattr(probe, "expand"):
        # Before the loop starts: the workers are copies of this process made now,
        # with their modules imported, not interpreters started once the scan is
        # under way (see engine._spawn.prefork).
        from ..engine._spawn import prefork
        from ..registry import worker_modules

        prefork(config.workers, worker_modules(probe))
    try:
        stats = run_loop(execute(probe, lines(), config, spec, keep=keep), config.loop)
    except* AioscoutError as group:
        for exc in leaves(group):
            click.echo(f"aioscout: {exc}", err=True)
        sys.exit(1)
    if not spec.silent:
        click.echo(stats.summary_line(), err=True)
    if stats.interrupted:
        sys.exit(130)

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
import shlex
import signal
import stat
import sys
from collections.abc import AsyncIterable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import click

from .._config import ScanConfig, Timeouts
from .._exceptions import AioscoutError, ConfigError
from .._loop import run_loop
from .._models import Record
from ..engine import Checkpoint, Probe, Sink, Stats, Stopper, run_scan
from ._checks import NothingToResume, check_output, checkpoint_path, fail
from ._config_file import config_option
from ._human import COLUMNS, RENDERERS, TerminalSink, View, color_wanted, render_any
from ._progress import Estimate, StatusLine, show_progress, start_count, summary_line
from ._schedule_opts import schedule_of, schedule_options

__all__ = [
    "Estimate",
    "GroupedCommand",
    "OutputSpec",
    "all_targets",
    "common_options",
    "exit_for",
    "fail",
    "input_identity",
    "output_spec",
    "parse_pairs",
    "parse_timeouts",
    "run_command",
    "run_loop",
    "scan_config_from",
]

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")


def resolver_specs(values: Sequence[str], path: str | None = None) -> tuple[str, ...]:
    """``--resolver`` values (plus a file of them), checked now: one line and status 2 if bad."""
    from ..dnsproto.servers import check_resolvers, read_resolver_file

    try:
        return check_resolvers([*values, *(read_resolver_file(path) if path else ())])
    except ConfigError as exc:
        fail(str(exc))


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


_GROUP_ORDER = (
    "Input",
    "Request",
    "Probes",
    "Matchers and filters",
    "Output",
    "Engine",
    "Schedule",
    "Other",
)
_GROUPS = {
    "Input": "target list_file ports path all_ips max_cidr wordlist domain",
    "Request": "method header param cookie data data_file json_body form file user_agent "
    "random_agent follow_redirects max_redirects max_body verify ca_file sni proxy proxy_auth "
    "resolver resolvers_file trusted_resolver query_timeout query_retries per_resolver_rate "
    "max_time restart_partial max_size keep_headers_cross_origin",
    "Probes": "include_headers favicon tech http2 websocket body_preview store_responses types "
    "qt_a qt_aaaa qt_cname qt_mx qt_ns qt_txt qt_ptr qt_soa only_found keep_wildcards "
    "wildcard_checks probe_http http_ports "
    "shot_dir shot_tabs shot_timeout shot_viewport shot_full_page shot_memory",
    "Matchers and filters": "mc fc ml fl ms fs mr fe mfav ffav mt ft",
    "Output": "output json_out as_csv col_sc col_cl col_ct col_rt col_title col_server col_ip "
    "silent no_progress stats no_color dns_output directory sink_timeout",
    "Engine": "resume concurrency rate per_host timeout_spec retries no_dedup workers loop_name "
    "cluster",
    "Schedule": "every at_time runs notify notify_format",
    "Other": "config version",
}
_GROUP_OF = {name: group for group, names in _GROUPS.items() for name in names.split()}


_STATS_EVERY = 5.0


def _is_number(args: list[str]) -> bool:
    try:
        float(args[0])
    except (IndexError, ValueError):
        return False
    return True


class GroupedCommand(click.Command):
    """A command whose ``--help`` lists its options by purpose (input, request, probes,
    matchers and filters, output, engine), in that order."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse, with ``-stats``/``--stats`` alone meaning every 5 seconds (as httpx's
        flag): a value is taken only when the next argument is a number, so
        ``-stats host`` never reads the host as the interval."""
        fixed: list[str] = []
        for i, arg in enumerate(args):
            fixed.append(arg)
            if arg in ("-stats", "--stats") and not _is_number(args[i + 1 : i + 2]):
                fixed.append(str(_STATS_EVERY))
        return super().parse_args(ctx, fixed)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the options, one section per group."""
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            group = _GROUP_OF.get(param.name or "", "Other")
            sections.setdefault(group, []).append(record)
        for title in _GROUP_ORDER:
            if title in sections:
                with formatter.section(title):
                    formatter.write_dl(sections[title])


def common_options(default_concurrency: int = 256) -> Callable[[F], F]:
    """Input, output, engine and display options shared by the scanning commands.

    Short and single-dash names follow httpx/dnsx where the meaning is the
    same (``-u``, ``-l``, ``-o``, ``-j/-json``, ``-silent``, ``-rl``, ``-t/-c``,
    ``-nc``, ``-stats``, ``-resume``); ``--workers`` has no short name.
    """
    return _opts(
        click.argument("targets", nargs=-1),
        click.option(
            "-u",
            "--target",
            "target",
            multiple=True,
            metavar="TARGET",
            help="A target (repeatable); the same as giving it as an argument.",
        ),
        click.option(
            "-l",
            "--list",
            "list_file",
            metavar="FILE",
            help="Read targets from FILE, one per line, or JSON Lines records ('-': stdin).",
        ),
        click.option(
            "-o",
            "--output",
            metavar="FILE|URL",
            help="Write records to FILE (JSON Lines), sqlite:///x.db or "
            "redis://host:port/db?key=k. Default: stdout.",
        ),
        click.option(
            "-j",
            "-json",
            "--json",
            "json_out",
            is_flag=True,
            help="JSON Lines on stdout even on a terminal (a pipe or file always gets them).",
        ),
        click.option("--csv", "as_csv", is_flag=True, help="Write CSV instead of JSON Lines."),
        click.option(
            "--sink-timeout",
            type=click.FloatRange(0),
            default=SINK_TIMEOUT,
            show_default=True,
            help="Seconds the output may stay unwritable (a database away, a full disk)"
            " before the run stops with status 1 and a resumable checkpoint.",
        ),
        click.option(
            "-resume",
            "--resume",
            is_flag=True,
            help="Continue an interrupted run from OUTPUT.ckpt (starts if none).",
        ),
        click.option(
            "-c",
            "-t",
            "--concurrency",
            type=click.IntRange(1, 100_000),
            default=default_concurrency,
            show_default=True,
            help="Targets in flight at once (across all workers); -t as in httpx/dnsx.",
        ),
        click.option(
            "-rl",
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
            "-timeout",
            "--timeout",
            "timeout_spec",
            default="10",
            show_default=True,
            help="Seconds per target: N, or connect=N,read=N,total=N.",
        ),
        click.option(
            "-retries",
            "--retries",
            type=click.IntRange(0, 20),
            default=1,
            show_default=True,
            help="Retries for retryable errors (connection resets).",
        ),
        click.option("--no-dedup", is_flag=True, help="Probe duplicate targets again."),
        click.option(
            "--workers",
            "workers",
            type=click.IntRange(1, 256),
            default=None,
            help="Worker processes, each with its own event loop (default: one per core"
            " for an input over 64 KiB or a pipe, else 1).",
        ),
        click.option(
            "--cluster",
            metavar="ADDRESS",
            default=None,
            help="Run on a Ray cluster: ray://HOST:PORT, or 'local' to start one here"
            " (needs aioscout[ray]; --workers then caps the tasks running at once).",
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
            "-s",
            "-silent",
            "--silent",
            is_flag=True,
            help="Records only: no progress, no summary (and none on the terminal with -o).",
        ),
        click.option("--no-progress", is_flag=True, help="Never show the progress bar."),
        click.option(
            "-stats",
            "--stats",
            type=click.FloatRange(0.1),
            default=None,
            metavar="[SECONDS]",
            help="When stderr is not a terminal, a progress line every N seconds (default 5).",
        ),
        click.option(
            "-nc",
            "--no-color",
            is_flag=True,
            help="No colour on the terminal (also when NO_COLOR is set).",
        ),
        *schedule_options(),
        click.version_option(None, "-V", "--version", package_name="aioscout"),
        config_option(),
    )


SINK_TIMEOUT = 60.0  # a database restart takes seconds; a minute covers a slow one


def all_targets(params: dict[str, Any]) -> tuple[str, ...]:
    """The targets given as arguments and with ``-u``."""
    return (*params["targets"], *params.get("target", ()))


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
    *,
    input_path: str | None = None,
    multiplier: int = 1,
) -> ScanConfig:
    """The :class:`ScanConfig` for a command's parsed options (see :func:`default_workers`)."""
    cluster = cluster_address(params.get("cluster"))
    if cluster:  # the cluster's tasks are the workers; this process only drives them
        workers, tasks = 1, params["workers"] or 0
    else:
        workers = params["workers"] or default_workers(input_path, multiplier=multiplier)
        tasks = 0
    return ScanConfig(
        concurrency=params["concurrency"],
        per_host=params["per_host"],
        rate=params["rate"],
        retries=params["retries"],
        timeouts=parse_timeouts(params["timeout_spec"]),
        dedup=not params["no_dedup"],
        workers=workers,
        loop=params["loop_name"],
        cluster=cluster,
        cluster_tasks=tasks,
    )


def cluster_address(value: str | None) -> str:
    """``--cluster``'s address checked (``local`` or ``ray://HOST:PORT``), Ray installed."""
    if not value:
        return ""
    if value != "local" and not (value.startswith("ray://") and ":" in value[6:]):
        fail(f"--cluster {value!r}: expected ray://HOST:PORT or local")
    import importlib.util

    # Found, not imported: Ray reads its settings (loopback, token) when imported,
    # and the backend sets them first.
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        fail("--cluster needs Ray: pip install 'aioscout[ray]'")
    return value


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """Where records go, how the run is checkpointed, and what a person sees.

    ``terminal``: records also (or only) go to the terminal on stdout,
    ``"human"`` (one line each, see :mod:`._human`) or ``"json"``; ``None``
    when stdout is not a terminal or nobody asked. ``command`` picks the line
    renderer; ``estimate`` counts the items for the progress bar;
    ``stats_every`` prints a summary line every N seconds when stderr is not a
    terminal; ``not_found`` counts kind ``dns`` errors as names not found.
    """

    output: str | None
    as_csv: bool
    resume: bool
    silent: bool
    progress: bool
    fingerprint: str
    terminal: str | None = None
    command: str = ""
    view: View = field(default_factory=View)
    estimate: Estimate | None = None
    max_cidr: int = 65536
    stats_every: float = 0.0
    not_found: bool = False
    every: float | None = None
    at: tuple[int, int] | None = None
    runs: int | None = None
    notify: str | None = None
    notify_format: str = "json"


def terminal_mode(params: dict[str, Any]) -> str | None:
    """What the terminal on stdout shows: human lines, JSON (``-j``), or nothing.

    Only a terminal gets anything: on a pipe or a file stdout keeps JSON Lines
    (or CSV) as before. With ``-o FILE`` the terminal still shows the records
    unless ``--silent``; ``-o -`` and ``--csv`` to stdout are taken literally.
    """
    output = params.get("output")
    if not sys.stdout.isatty() or output == "-":
        return None
    if output is None:
        if params.get("as_csv"):
            return None
    elif params.get("silent"):
        return None
    return "json" if params.get("json_out") else "human"


def output_spec(
    params: dict[str, Any],
    command: str,
    fingerprint: str,
    *,
    output: str | None = None,
    estimate: Estimate | None = None,
    not_found: bool = False,
) -> OutputSpec:
    """The :class:`OutputSpec` of a scanning command's parsed options."""
    out = params["output"] if output is None else output
    columns = frozenset(c for c in COLUMNS if params.get(f"col_{c}"))
    if columns and params.get("tech"):
        columns |= {"td"}  # -td both detects and shows, as in httpx
    color = color_wanted(params.get("no_color", False), sys.stdout.isatty())
    return OutputSpec(
        output=out,
        as_csv=params["as_csv"],
        resume=params["resume"],
        silent=params["silent"],
        progress=not params["no_progress"],
        fingerprint=fingerprint,
        terminal=terminal_mode({**params, "output": out}),
        command=command,
        view=View(color=color, columns=columns) if columns else View(color=color),
        estimate=estimate,
        max_cidr=params.get("max_cidr") or 65536,
        stats_every=float(params.get("stats") or 0),
        not_found=not_found,
        **schedule_of(params),
    )


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


_SECRET_FLAGS = ("--proxy-auth", "--cookie", "-H", "--header", "--data", "--json", "--form")


def safe_command(argv: Sequence[str]) -> str:
    """The command line with credentials masked (URL userinfo, secret-bearing flag values)."""
    from ..sinks import redact_url

    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        if arg in _SECRET_FLAGS:
            hide_next = True
        elif eq and flag in _SECRET_FLAGS:
            arg = f"{flag}=***"
        elif "://" in arg or "@" in arg:
            arg = redact_url(arg)
        out.append(shlex.quote(arg))
    return " ".join(out)


def _sink_timeout() -> float:
    ctx = click.get_current_context(silent=True)
    value = None if ctx is None else ctx.params.get("sink_timeout")
    return SINK_TIMEOUT if value is None else float(value)


def _open_database(spec: OutputSpec, out: str) -> tuple[list[Sink], Checkpoint]:
    """A SQL output and its checkpoint (in the current directory, named after the output)."""
    from ..sinks import RetryPolicy, RunInfo, open_sink, redact_url

    safe = redact_url(out)
    name = hashlib.sha256(safe.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    checkpoint = Checkpoint.open(
        f"aioscout-{name}.ckpt", resume=spec.resume, fingerprint=spec.fingerprint
    )
    run = RunInfo(
        fingerprint=fingerprint("sink", spec.fingerprint, safe),
        command=safe_command(["aioscout", *sys.argv[1:]]),
        resume=spec.resume,
    )
    deadline = _sink_timeout()

    def paused(attempt: int, message: str, delay: float) -> None:
        if attempt == 1:  # once per outage: the output waits, the run holds still
            click.echo(f"aioscout: {message}; retrying for up to {deadline:g}s", err=True)

    try:
        sink = open_sink(out, run=run, retry=RetryPolicy(deadline=deadline, on_retry=paused))
    except BaseException:
        checkpoint.close()
        raise
    return [sink], checkpoint


def _open_sinks(spec: OutputSpec) -> tuple[list[Sink], Checkpoint | None]:
    from ..sinks import SQL_SCHEMES, CsvSink, JsonlSink, RetryPolicy, open_sink

    out = spec.output
    if out is not None and out.lower().startswith(SQL_SCHEMES):
        return _open_database(spec, out)
    if out is not None and (out == "-" or "://" in out):
        return [open_sink(out, retry=RetryPolicy(deadline=_sink_timeout()))], None
    sink_type = CsvSink if spec.as_csv else JsonlSink
    if out is None and spec.terminal is not None:
        return [], None  # the terminal sink shows them
    ckpt = checkpoint_path(out)
    retry = RetryPolicy(deadline=_sink_timeout())
    if out is None or ckpt is None:  # stdout, /dev/null, a pipe: nothing to resume into
        return [sink_type(out, retry=retry)], None
    # A file: checkpointed next to it, so the same command line can be resumed.
    checkpoint = Checkpoint.open(ckpt, resume=spec.resume, fingerprint=spec.fingerprint)
    resuming = spec.resume and checkpoint.position is not None
    if resuming and not os.path.exists(out):
        checkpoint.close()
        raise ConfigError(f"cannot resume: {out} is gone; delete {ckpt} to start over")
    # Resuming cuts what the checkpoint does not vouch for, a torn last line included.
    cut = checkpoint.position if resuming else None
    return [sink_type(out, append=resuming, truncate_at=cut, retry=retry)], checkpoint


def _all_sinks(
    spec: OutputSpec, status: StatusLine, quiet_output: bool
) -> tuple[list[Sink], Checkpoint | None]:
    """The output's sinks (and checkpoint), plus the terminal's when it shows records."""
    if quiet_output and spec.output is None:
        return [], None
    sinks, checkpoint = _open_sinks(spec)
    if spec.terminal is not None:
        render = RENDERERS.get(spec.command, render_any) if spec.terminal == "human" else None
        sinks.append(TerminalSink(render, spec.view, status.emit))
    return sinks, checkpoint


async def _progress(
    spec: OutputSpec, stats: Stats, stopper: Stopper, status: StatusLine, *, bar: bool
) -> None:
    """The progress line (or ``--stats`` lines), with the total counted beside it."""
    total = start_count(spec.estimate, spec.max_cidr) if spec.estimate is not None else None
    await show_progress(
        stats,
        stopper,
        status,
        total,
        not_found=spec.not_found,
        every=spec.stats_every,
        bar=bar,
    )


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
    bar = spec.progress and not spec.silent and sys.stderr.isatty()
    status = StatusLine(shown=bar)
    sinks, checkpoint = _all_sinks(spec, status, quiet_output)
    sinks = [*sinks, *extra_sinks]
    stopper = stopper or Stopper()
    stats = Stats()
    loop = asyncio.get_running_loop()

    def on_signal(signame: str) -> None:
        first = not stopper.stopping
        stopper.request()
        if not spec.silent:
            msg = (
                f"{signame}: finishing targets in flight (Ctrl-C again to stop at once)"
                if first
                else f"{signame}: stopping now"
            )
            status.say(msg)

    handled = (signal.SIGINT, signal.SIGTERM) if signals else ()
    for sig in handled:
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        async with asyncio.TaskGroup() as tg:
            shown = None
            if bar or (spec.stats_every > 0 and not spec.silent):
                shown = tg.create_task(_progress(spec, stats, stopper, status, bar=bar))
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
                if shown is not None:
                    shown.cancel()
    finally:
        for sig in handled:
            with suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        for sink in sinks:
            with suppress(AioscoutError, OSError):
                await sink.aclose()
        if checkpoint is not None:
            checkpoint.close()
    if checkpoint is not None and not stats.interrupted:
        # Complete: nothing is left to resume, so no checkpoint is left to mislead.
        with suppress(FileNotFoundError):
            os.unlink(checkpoint.path)
    return stats


def leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    """The non-group exceptions inside ``group``, however deeply nested."""
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def exit_for(group: BaseExceptionGroup[AioscoutError]) -> NoReturn:
    """End the command for the errors that stopped a run, one line each.

    A closed output pipe (``| head -1``) ends quietly with status 0; unusable
    configuration found once the run started (an unreadable input) exits 2;
    anything else (a sink that gave up) exits 1.
    """
    from ..sinks._file import OutputClosed

    errors = [e for e in leaves(group) if not isinstance(e, OutputClosed)]
    if not errors:
        sys.exit(0)
    for exc in errors:
        click.echo(f"aioscout: {exc}", err=True)
    sys.exit(2 if all(isinstance(e, ConfigError) for e in errors) else 1)


def run_command(
    probe: Probe[Any] | Callable[[ScanConfig], Probe[Any]],
    lines: Callable[[], AsyncIterable[str]],
    config: ScanConfig,
    spec: OutputSpec,
    *,
    keep: Callable[[Record], bool] | None = None,
) -> None:
    """Run a scan from a click command and exit with the right status and summary.

    Before anything is created or sent, the output (and a resume) is checked
    and the probe is built once, so an unusable option (a bad port or proxy,
    a missing CA file) ends the command with one line and status 2.
    """
    try:
        check_output(
            spec.output, as_csv=spec.as_csv, resume=spec.resume, fingerprint=spec.fingerprint
        )
    except NothingToResume as done:
        if not spec.silent:
            click.echo(f"aioscout: {done}", err=True)
        return
    if not hasattr(probe, "expand"):
        try:
            probe(config)
        except AioscoutError as exc:
            fail(str(exc))
    if spec.every is not None or spec.at is not None:
        _run_scheduled(probe, lines, config, spec, keep=keep)
        return
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
        exit_for(group)
    if not spec.silent:
        resumable = checkpoint_path(spec.output) is not None
        click.echo(summary_line(stats, not_found=spec.not_found, resumable=resumable), err=True)
    if stats.interrupted:
        sys.exit(130)


def _run_scheduled(
    probe: Probe[Any] | Callable[[ScanConfig], Probe[Any]],
    lines: Callable[[], AsyncIterable[str]],
    config: ScanConfig,
    spec: OutputSpec,
    *,
    keep: Callable[[Record], bool] | None = None,
) -> None:
    from ._scheduled import run_scheduled

    try:
        stats = run_loop(run_scheduled(probe, lines, config, spec, execute, keep=keep), config.loop)
    except* AioscoutError as group:
        exit_for(group)
    if stats is not None and stats.interrupted:
        sys.exit(130)

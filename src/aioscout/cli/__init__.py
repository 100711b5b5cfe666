"""The ``aioscout`` command line: each subcommand builds config and hands it to the engine."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

from .. import registry
from .._memory import pin_mmap_threshold

__all__ = ["main"]

# The commands that are not probes, name -> (module, attribute); the probes' commands come
# from the registry. All are loaded on first use, so `aioscout dns` never imports aiohttp.
_COMMANDS = {
    "lab": ("aioscout.cli.lab_cmd", "lab"),
    "demo": ("aioscout.cli.demo_cmd", "demo"),
    "show": ("aioscout.cli.show_cmd", "show"),
    "config": ("aioscout.cli.config_cmd", "config"),
    "report": ("aioscout.cli.report_cmd", "report"),
    "screenshot": ("aioscout.cli.screenshot_cmd", "screenshot"),
    "diff": ("aioscout.cli.diff_cmd", "diff"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*_COMMANDS, *registry.names()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = registry.get(cmd_name)
        if spec is not None:
            from ._generated import command_for

            return command_for(spec)
        if cmd_name not in _COMMANDS:
            return None
        module, attr = _COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="aioscout")
def cli() -> None:
    """aioscout: asyncio reconnaissance at scale (HTTP probing, DNS brute force, downloads)."""


def main(args: Sequence[str] | None = None, prog_name: str | None = None) -> NoReturn:
    """Console entry point: run the command line, then end the process at once.

    The exit handlers run (coverage, logging, the reaping of unused workers) and
    the standard streams are flushed, but the interpreter's teardown is skipped:
    after a scan it took 30-45 ms (the collector walking everything, module by
    module) for nothing a finished command needs. Only for the console script
    and ``python -m aioscout``; ``cli`` itself stays an ordinary click command.
    """
    pin_mmap_threshold()  # see aioscout._memory: TLS buffers stay off the heap
    try:
        code = _run(args, prog_name)
    except SystemExit as exc:
        code = _exit_status(exc.code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head), a closed stream
            stream.flush()
    os._exit(code)


def _run(args: Sequence[str] | None = None, prog_name: str | None = None) -> int:
    """Run the command line; an unusable argument is one line on stderr and status 2."""
    try:
        result = cli.main(args, prog_name=prog_name or "aioscout", standalone_mode=False)
    except click.UsageError as exc:
        where = f"aioscout {exc.ctx.info_name}" if exc.ctx and exc.ctx.parent else "aioscout"
        message = " ".join(exc.format_message().split())
        print(f"{where}: {message}", file=sys.stderr)
        return 2
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        print("aioscout: aborted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


def _exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` gives: None is 0, a message is printed and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1

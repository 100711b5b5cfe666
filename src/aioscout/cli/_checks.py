"""Checks of the arguments, made before anything is created or sent.

Every unusable argument ends the command with one line and status 2 (see
:func:`fail`), before an output file, a checkpoint or a directory exists and
before a packet leaves: a bad port or proxy, a missing file, a directory given
as a list, no targets at all, a ``--resume`` that does not match its output.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

__all__ = [
    "NothingToResume",
    "check_dir_arg",
    "check_file_arg",
    "check_output",
    "check_ports",
    "check_resolvers",
    "check_source",
    "checkpoint_path",
    "fail",
]


class NothingToResume(Exception):
    """``--resume`` of a run that completed: the command has nothing to do."""


def fail(message: str) -> NoReturn:
    """Exit with status 2 and a one-line reason (for unusable arguments or input)."""
    raise click.UsageError(message)


def check_file_arg(flag: str, path: str | None) -> None:
    """``path`` (given with ``flag``) names a readable file, not a directory."""
    if path is None or path == "-":
        return
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        fail(f"{flag} {path}: {exc.strerror or exc}")
    if stat.S_ISDIR(mode):
        fail(f"{flag} {path}: is a directory, not a file")
    if not os.access(path, os.R_OK):
        fail(f"{flag} {path}: cannot read it")


def check_dir_arg(flag: str, path: str | None) -> None:
    """``path`` is a directory or can become one (nothing else is in the way)."""
    if path is None:
        return
    if os.path.exists(path) and not os.path.isdir(path):
        fail(f"{flag} {path}: exists and is not a directory")
    if not path:
        fail(f"{flag}: empty directory name")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        fail(f"{flag} {path}: {parent} is not a directory")
    if not os.path.isdir(path) and not os.access(parent, os.W_OK | os.X_OK):
        fail(f"{flag} {path}: cannot create it in {parent}")


def check_resolvers(flag: str, specs: Sequence[str]) -> None:
    """Every resolver is ``IP``, ``IP:PORT`` or ``[IPv6]:PORT``."""
    from ..dnsproto.resolver import parse_resolver

    for spec in specs:
        if not spec.strip():
            fail(f"{flag}: empty resolver (give IP or IP:PORT)")
        try:
            parse_resolver(spec)
        except ValueError as exc:  # ConfigError: its message names the spec and the fault
            fail(f"{flag}: {exc}")


def check_ports(specs: Sequence[str]) -> None:
    """Every ``-p`` spec names ports (``80,443,8000-8100,https:8443``)."""
    from ..targets.ports import parse_ports

    for spec in specs:
        if not spec.strip():
            fail("-p: empty port list (give 80,443,8000-8100,https:8443)")
        try:
            parse_ports(spec)
        except ValueError as exc:
            fail(f"-p {spec}: {exc}")


def check_source(targets: Sequence[str], list_file: str | None, *, flag: str = "-l") -> None:
    """There are targets to read: arguments, a readable list, or stdin that is no terminal."""
    check_file_arg(flag, list_file)
    if targets or list_file is not None:
        return
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        fail("no targets: give them as arguments, with -l FILE, or on stdin")


_SQL_SCHEMES = ("sqlite://", "mysql://", "mariadb://", "postgresql://", "postgres://")


def _is_database(output: str) -> bool:
    return "://" in output


def checkpoint_path(output: str | None) -> str | None:
    """Where the checkpoint of ``output`` lives: beside a regular file (or one to be
    made), never beside ``/dev/null``, a terminal, a pipe or a database."""
    if output is None or output == "-" or _is_database(output):
        return None
    absolute = os.path.abspath(output)
    if absolute.startswith(("/dev/", "/proc/")) or os.path.realpath(output).startswith("/proc/"):
        return None  # /dev/stdout is a regular file when stdout is redirected to one
    try:
        mode = os.stat(output).st_mode
    except FileNotFoundError:
        return output + ".ckpt"
    except OSError:
        return None
    return output + ".ckpt" if stat.S_ISREG(mode) else None


def check_output(output: str | None, *, as_csv: bool, resume: bool, fingerprint: str) -> None:
    """The output can be written and, with ``resume``, resumed by this very command."""
    if output == "":
        fail("-o: empty output name (give a file, '-', sqlite:/// or redis://)")
    if output is None or output == "-":
        if resume:
            fail("--resume needs -o FILE: the checkpoint is kept beside the output file")
        return
    if _is_database(output):
        if as_csv:
            fail(f"--csv writes a file, not {output.split('://', 1)[0]}://: drop one of them")
        if resume and not output.lower().startswith(_SQL_SCHEMES):
            fail("--resume needs -o FILE or a SQL database: a Redis output keeps no checkpoint")
        if output.lower().startswith("sqlite:///"):
            db = output[len("sqlite:///") :].partition("?")[0]
            folder = os.path.dirname(os.path.abspath(db))
            if not os.path.isdir(folder):
                fail(f"-o {output}: directory {folder} does not exist")
        return
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        fail(f"-o {output}: directory {parent} does not exist")
    if os.path.isdir(output):
        fail(f"-o {output}: is a directory")
    ckpt = checkpoint_path(output)
    if not resume:
        return
    if ckpt is None:
        fail(f"--resume needs -o FILE: {output} is not a regular file")
    _check_resume(output, ckpt, fingerprint)


# The first line of a checkpoint file (engine.checkpoint) starts with this.
_MAGIC = "aioscout-checkpoint 1"


def _check_resume(output: str, ckpt: str, fingerprint: str) -> None:
    if not os.path.exists(ckpt):
        if os.path.exists(output) and os.path.getsize(output) > 0:
            # A run leaves its checkpoint until it completes: this one completed.
            raise NothingToResume(
                f"nothing to resume: {output} is complete (no {ckpt} beside it); "
                "drop --resume to run again"
            )
        return  # nothing done yet: the run simply starts
    try:
        with open(ckpt, "rb") as f:
            header = f.readline().decode("utf-8", "replace").rstrip("\n")
    except OSError as exc:
        fail(f"cannot read checkpoint {ckpt}: {exc.strerror or exc}")
    if not header.startswith(_MAGIC):
        fail(f"cannot resume: {ckpt} is not an aioscout checkpoint")
    if header[len(_MAGIC) + 1 :] != fingerprint:
        fail(
            f"cannot resume: {ckpt} belongs to a run with other targets or options; "
            "rerun the original command, or delete it to start over"
        )
    if not os.path.exists(output):
        fail(f"cannot resume: {output} is gone; delete {ckpt} to start over")

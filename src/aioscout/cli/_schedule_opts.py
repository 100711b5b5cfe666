"""The options of a scan on a schedule (``--every``, ``--at``, ``--runs``, ``--notify``).

Every scanning command takes them (see :func:`._common.common_options`);
:mod:`._scheduled` runs the schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ._checks import fail

__all__ = ["schedule_of", "schedule_options"]

F = TypeVar("F", bound=Callable[..., Any])


def schedule_options() -> list[Callable[[F], F]]:
    """``--every``/``--at``/``--runs`` and ``--notify``: see :mod:`._scheduled`."""
    return [
        click.option(
            "--every",
            metavar="INTERVAL",
            help="Run the same scan again every INTERVAL (90, 5s, 10m, 1h, 1d) and print"
            " only what changed since the previous run.",
        ),
        click.option(
            "--at",
            "at_time",
            metavar="HH:MM",
            help="Run the scan each day at HH:MM (local time), printing only the changes.",
        ),
        click.option(
            "--runs",
            type=click.IntRange(1),
            default=None,
            help="With --every/--at: stop after this many runs (default: until Ctrl-C).",
        ),
        click.option(
            "--notify",
            metavar="URL",
            help="With --every/--at: POST each change set as JSON to this webhook.",
        ),
        click.option(
            "--notify-format",
            type=click.Choice(["json", "slack", "discord", "teams"]),
            default="json",
            show_default=True,
            help="The webhook body: the changes as JSON, or a Slack, Discord or Teams message.",
        ),
    ]


def schedule_of(params: dict[str, Any]) -> dict[str, Any]:
    """The OutputSpec fields of ``--every``/``--at``/``--runs``/``--notify`` (checked)."""
    from ..schedule import parse_at, parse_interval

    every, at = params.get("every"), params.get("at_time")
    if not (every or at):
        for flag, key in (("--runs", "runs"), ("--notify", "notify")):
            if params.get(key):
                fail(f"{flag} needs --every or --at")
        return {}
    if params.get("probe_http"):
        fail("--every/--at cannot be combined with --probe-http: schedule dns, then http -l")
    if params.get("list_file") == "-":
        fail("--every/--at read the targets again for each run: give them as arguments or -l FILE")
    if params.get("resume"):
        fail("--resume cannot be combined with --every/--at (each run starts afresh)")
    try:
        fields: dict[str, Any] = {
            "every": parse_interval(every) if every else None,
            "at": parse_at(at) if at else None,
        }
    except ValueError as exc:
        fail(f"{'--every' if every and 'HH:MM' not in str(exc) else '--at'} {exc}")
    notify = params.get("notify")
    if notify and not notify.lower().startswith(("http://", "https://")):
        fail("--notify: an http:// or https:// URL is needed")
    return {
        **fields,
        "runs": params.get("runs"),
        "notify": notify,
        "notify_format": params.get("notify_format") or "json",
    }

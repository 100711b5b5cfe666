"""``aioscout diff OLD NEW``: what changed between two scans."""

from __future__ import annotations

import sqlite3
import sys

import click

from ._checks import fail

__all__ = ["diff"]


@click.command()
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@click.option(
    "-j",
    "-json",
    "--json",
    "json_out",
    is_flag=True,
    help="JSON Lines: one object per change (the same as --format json).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "json", "md"]),
    default=None,
    help="human (the default): a line per change; json: JSON Lines; md: a Markdown summary.",
)
@click.option(
    "--errors",
    is_flag=True,
    help="Count records with an error as results (default: a host that stops answering"
    " is gone, one that starts answering is new).",
)
@click.option(
    "--title", default="Scan changes", show_default=True, help="The heading of --format md."
)
@click.version_option(None, "-V", "--version", package_name="aioscout")
def diff(old: str, new: str, json_out: bool, fmt: str | None, errors: bool, title: str) -> None:
    """New, gone and changed results between two scans of the same command.

    OLD and NEW are JSON Lines files (-o out.jsonl) or SQLite outputs
    (sqlite:///runs.db?table=NAME). Results are matched by what they are
    about: the input for http, the name for dns, host:port for ports, the
    URL for fetch, the host for ssh (found from the records' fields). A
    change lists its fields old → new: status, title, server, TLS expiry,
    technologies, DNS answers, banner, error kind …

    \b
    Examples:
      aioscout diff monday.jsonl tuesday.jsonl
      aioscout diff monday.jsonl tuesday.jsonl --format md > changes.md
      aioscout diff old.jsonl new.jsonl -j | jq 'select(.change=="new")'
    """
    from .. import diff as engine

    try:
        before, after = engine.load(old), engine.load(new)
    except OSError as exc:
        fail(f"cannot read {exc.filename or old}: {exc.strerror or exc}")
    except (ValueError, sqlite3.Error) as exc:
        fail(str(exc))
    changes = engine.diff_records(before, after, errors=errors)
    fmt = fmt or ("json" if json_out else "human")
    if fmt == "md":
        click.echo(engine.render_markdown(changes, title), nl=False)
    elif fmt == "json":
        out = sys.stdout.buffer
        for line in engine.render_jsonl(changes):
            out.write(line + b"\n")
        out.flush()
    else:
        for text in engine.render_human(changes):
            click.echo(text)
        click.echo(changes.summary(), err=True)

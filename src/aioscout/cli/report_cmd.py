"""``aioscout report``: one offline HTML file from the results of any command."""

from __future__ import annotations

import os
import sys
import tempfile

import click
import orjson

__all__ = ["report"]


@click.command()
@click.argument("results", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    metavar="FILE",
    help="The HTML file to write (self-contained: opens without network).",
)
@click.option("--title", default="", metavar="TEXT", help="The report's heading.")
@click.version_option(None, "-V", "--version", package_name="aioscout")
def report(results: tuple[str, ...], output: str, title: str) -> None:
    """Write an HTML report (summary, charts, page groups, a searchable table).

    RESULTS are JSON Lines files written by any aioscout command (http, dns,
    fetch, ports, screenshot), or database outputs (sqlite:///FILE, mysql://...,
    postgresql://...: the newest run's table, or ?table=NAME); records of
    different commands may be mixed.

    \b
    Examples:
      aioscout report http.jsonl -o report.html
      aioscout report http.jsonl dns.jsonl ports.jsonl -o all.html --title "ACME recon"
    """
    from ..report import build_report

    with tempfile.TemporaryDirectory(prefix="aioscout-report-") as tmp:
        paths = [_as_file(spec, tmp, i) for i, spec in enumerate(results)]
        stats = build_report(paths, output, title=title)
    print(
        f"report: {stats['records']} records, {stats['groups']} page groups, "
        f"{stats['bytes'] / 1e6:.1f} MB -> {output}",
        file=sys.stderr,
    )


def _as_file(spec: str, tmp: str, index: int) -> str:
    """A JSON Lines file for ``spec``: the file itself, or a database's records copied out."""
    from ..sinks import SQL_SCHEMES

    if not spec.lower().startswith(SQL_SCHEMES):
        if not os.path.isfile(spec):
            raise click.UsageError(f"{spec}: no such file (nor a database output)")
        return spec
    from .._exceptions import AioscoutError
    from .._loop import run_loop
    from ..sinks import open_reader

    path = os.path.join(tmp, f"db{index}.jsonl")
    try:
        reader = open_reader(spec)
        run_loop(_copy_out(reader, path), "auto")
    except AioscoutError as exc:
        raise click.UsageError(f"{spec.split('@')[-1]}: {exc}") from None
    return path


async def _copy_out(reader: object, path: str) -> None:
    """Write the records of the reader's table (else the newest run's) to ``path``."""
    from typing import Any

    db: Any = reader
    try:
        table = db.table
        if table is None:
            table = next((r.results_table for r in await db.runs() if r.results_table), None)
        if table is None:
            raise click.UsageError("no results in this database yet (no run wrote a table)")
        with open(path, "wb") as out:
            async for _run, _item, _sub, stored in db.read(table, run_id=None, where=None):
                data = orjson.loads(stored) if isinstance(stored, str | bytes) else stored
                out.write(orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE))
    finally:
        await db.aclose()

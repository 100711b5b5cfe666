"""``aioscout show DB-URL``: print what a results database holds, as a live run prints it."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from .._exceptions import AioscoutError
from .._loop import run_loop
from ._common import fail

__all__ = ["show"]


@click.command()
@click.argument("database", metavar="DB-URL")
@click.option(
    "--where", metavar="SQL", help="Only rows matching this SQL condition, e.g. 'status = 200'."
)
@click.option("--run", "run_id", metavar="ID", help="Only this run's rows (see --runs).")
@click.option("--runs", "list_runs", is_flag=True, help="List the runs instead of the records.")
@click.option(
    "-j", "--json", "as_json", is_flag=True, help="JSON Lines (the only form for now; the default)."
)
def show(
    database: str, where: str | None, run_id: str | None, list_runs: bool, as_json: bool
) -> None:
    """Print the records a database holds (sqlite:///, mysql://, postgresql://).

    The table is the URL's ?table=NAME, else the newest run's. Records print
    as JSON Lines, exactly as the run that stored them wrote them. Example:

        aioscout show 'postgresql://u:pw@127.0.0.1/scan' --where 'status = 200'
    """
    from ..sinks import SQL_SCHEMES, open_reader

    if not database.lower().startswith(SQL_SCHEMES):
        fail("show reads sqlite:///FILE, mysql://... or postgresql://... outputs")
    try:
        reader = open_reader(database)
    except AioscoutError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        run_loop(_show(reader, where, run_id, list_runs), "auto")
    except* AioscoutError as group:
        for err in group.exceptions:
            click.echo(f"aioscout: {err}", err=True)
        sys.exit(1)


async def _show(reader: Any, where: str | None, run_id: str | None, list_runs: bool) -> None:
    from ..sinks._decode import rebuild, record_type_named

    out = sys.stdout.buffer
    try:
        runs = await reader.runs()
        if list_runs:
            for r in runs:
                out.write(orjson.dumps(_run_json(r), default=str, option=orjson.OPT_APPEND_NEWLINE))
            return
        table = reader.table
        chosen = [r for r in runs if run_id is None or r.run_id == run_id]
        if table is None:
            table = next((r.results_table for r in chosen if r.results_table), None)
        if table is None:
            raise click.ClickException("no results in this database yet (no run wrote a table)")
        names = {r.record_type for r in runs if r.results_table == table and r.record_type}
        record_type = record_type_named(names.pop()) if len(names) == 1 else None
        async for _run, _item, _sub, stored in reader.read(table, run_id=run_id, where=where):
            data = orjson.loads(stored) if isinstance(stored, str | bytes) else stored
            if record_type is not None:
                data = rebuild(record_type, data)
            out.write(orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE))
        out.flush()
    finally:
        await reader.aclose()


def _run_json(run: Any) -> dict[str, object]:
    return {
        "run_id": run.run_id,
        "table": run.results_table,
        "command": run.command,
        "started": run.started,
        "ended": run.ended,
        "rows": run.row_count,
        "errors": run.error_count,
    }

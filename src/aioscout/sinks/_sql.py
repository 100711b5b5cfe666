"""What the SQL sinks share: the run, the rows, idempotent batches and the retry loop.

Why it is exactly once: every row is keyed by ``(run_id, item, sub)`` (see
:mod:`._schema`) and written with an upsert, one transaction per batch. The
engine commits a batch to its checkpoint only after :meth:`SqlSink.write_items`
returned, i.e. after the database committed it; a batch that was committed
but not checkpointed (kill -9 between the two) is written again by the
resumed run under the same run id and replaces itself. A batch whose commit
reply was lost (the server went away) is retried on a new connection and
lands once for the same reason.

Why the run id survives ``--resume``: a resumed run looks up the newest run
with the same fingerprint (the command's targets and options, and the
output) in the ``run`` table and carries on under its id.

While the database is away, :meth:`SqlSink.write_items` retries with
exponential backoff and does not return, so the engine's writer stops taking
results and the bounded queues stop the workers (backpressure, flat memory);
past the retry deadline it raises :class:`aioscout.SinkError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import orjson

from .._exceptions import SinkError
from .._models import Record
from ._retry import RetryPolicy, retry_call
from ._schema import (
    RUN_TABLE,
    Dialect,
    TableSpec,
    check_identifier,
    quote,
    run_table_ddl,
    table_spec,
)
from .jsonl import encode_record

__all__ = ["RunInfo", "SqlSink", "StoredRun", "clean_text"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """What a SQL sink records about its run.

    Args:
        fingerprint: what the run scans (equal for a run and its ``--resume``);
            empty: every sink starts a new run.
        command: the command line, secrets already masked.
        resume: carry on under the newest run with the same fingerprint.
    """

    fingerprint: str = ""
    command: str = ""
    resume: bool = False


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """``value`` storable as UTF-8 text in every database (no lone surrogates, no NUL)."""
    if value.isascii() and "\x00" not in value:
        return value
    return _SURROGATE.sub("\ufffd", value).replace("\x00", "\ufffd")


def _clean_json(data: bytes) -> bytes:
    # PostgreSQL's JSONB refuses \u0000 in a string: such a record is re-encoded without it.
    if b"\\u0000" not in data:
        return data

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("\x00", "\ufffd")
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return orjson.dumps(scrub(orjson.loads(data)))


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A row of the ``run`` table."""

    run_id: str
    results_table: str | None
    record_type: str | None
    command: str | None
    started: object
    ended: object
    row_count: int | None
    error_count: int | None


class SqlSink:
    """The common part of the SQLite, MariaDB/MySQL and PostgreSQL sinks.

    A subclass provides the connection and the few statements that differ:
    ``_connect``, ``_disconnect``, ``_execute``, ``_fetch_one``, ``_upsert``,
    ``_retryable`` and ``_describe_target``. Every call of theirs runs under
    :meth:`_attempt`, which drops the connection on any failure so that the
    next try starts on a fresh one.
    """

    dialect: Dialect = "sqlite"
    what = "SQL"

    def __init__(
        self,
        *,
        table: str | None = None,
        run: RunInfo | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> None:
        if table is not None:
            check_identifier(table)
        if timeout <= 0:
            raise ValueError("the database timeout must be > 0")
        self._table_arg = table
        self._run = run or RunInfo()
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._closed = False
        self._connected = False
        self._run_id: str | None = None
        self._spec: TableSpec | None = None
        self._table: str | None = None
        self._table_ready = False
        self._next_item = 0
        self.read_only = False  # set by a reader: connect without creating anything

    # -- what a subclass provides ------------------------------------------------------------

    async def _connect(self) -> None:
        raise NotImplementedError

    async def _disconnect(self) -> None:
        raise NotImplementedError

    async def _execute(self, sql: str, args: Sequence[object] = ()) -> None:
        raise NotImplementedError

    async def _fetch_one(self, sql: str, args: Sequence[object] = ()) -> tuple[Any, ...] | None:
        raise NotImplementedError

    async def _fetch_all(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def _upsert(self, rows: list[tuple[object, ...]]) -> None:
        """Write ``rows`` (complete, in :attr:`TableSpec.names` order) in one transaction."""
        raise NotImplementedError

    async def _table_prepared(self) -> None:
        """Called once the results table exists (on every new connection)."""

    def _retryable(self, exc: Exception) -> bool:
        raise NotImplementedError

    def _describe_target(self) -> str:
        raise NotImplementedError

    def _timestamp(self, value: datetime) -> object:
        """A timestamp as this database takes it."""
        return value

    def _json_value(self, data: bytes) -> object:
        """The record's JSON (UTF-8) as this database's driver takes it."""
        return data.decode("utf-8")

    # -- the shared part ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The database (credentials masked) and table, for messages."""
        table = self._table or self._table_arg
        return self._describe_target() + (f" (table {table})" if table else "")

    @property
    def run_id(self) -> str | None:
        """The run's id once the sink has connected (None before)."""
        return self._run_id

    @property
    def table(self) -> str | None:
        """The results table (None before the first record when none was named)."""
        return self._table or self._table_arg

    def _now(self) -> object:
        return self._timestamp(datetime.now(UTC).replace(microsecond=0))

    async def _attempt(self, body: Callable[[], Any]) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                if not self._connected:
                    await self._connect()
                    self._connected = True
                    self._table_ready = False
                    if not self.read_only:
                        await self._prepare_run()
                if self._spec is not None and not self._table_ready:
                    await self._prepare_table(self._spec)
                return await body()
        except BaseException:
            await self._drop()
            raise

    async def _drop(self) -> None:
        if self._connected:
            self._connected = False
            with contextlib.suppress(Exception):
                await self._disconnect()

    async def _call(self, body: Callable[[], Any], verb: str = "write results to") -> Any:
        def describe(exc: Exception) -> str:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"cannot {verb} {self.what} {self.name}: {detail}"

        return await retry_call(
            lambda: self._attempt(body),
            policy=self._retry,
            retryable=self._retryable,
            describe=describe,
        )

    async def _prepare_run(self) -> None:
        for statement in run_table_ddl(self.dialect):
            await self._execute(statement)
        if self._run_id is not None:
            return
        run_id = None
        if self._run.resume and self._run.fingerprint:
            row = await self._fetch_one(
                self._sql(
                    "SELECT run_id FROM {run} WHERE fingerprint = {p1} ORDER BY started DESC"
                    " LIMIT 1"
                ),
                (self._run.fingerprint,),
            )
            run_id = None if row is None else str(row[0])
        if run_id is not None:
            await self._execute(
                self._sql("UPDATE {run} SET ended = NULL WHERE run_id = {p1}"), (run_id,)
            )
        else:
            run_id = uuid.uuid4().hex
            await self._execute(
                self._sql(
                    "INSERT INTO {run} (run_id, fingerprint, results_table, command, started)"
                    " VALUES ({p1}, {p2}, {p3}, {p4}, {p5})"
                ),
                (run_id, self._run.fingerprint, self._table_arg, self._run.command, self._now()),
            )
        self._run_id = run_id

    def _sql(self, template: str) -> str:
        marks = {
            "sqlite": ["?"] * 5,
            "mysql": ["%s"] * 5,
            "postgres": [f"${i}" for i in range(1, 6)],
        }[self.dialect]
        return template.format(
            run=quote(RUN_TABLE, self.dialect), **{f"p{i}": m for i, m in enumerate(marks, 1)}
        )

    async def _prepare_table(self, spec: TableSpec) -> None:
        assert self._table is not None
        create, *indexes = spec.ddl(self._table, self.dialect)
        await self._execute(create)
        await self._check_columns(spec)
        for statement in indexes:
            await self._execute(statement)
        await self._execute(
            self._sql(
                "UPDATE {run} SET results_table = {p1}, record_type = {p2} WHERE run_id = {p3}"
            ),
            (self._table, _type_name(spec.record_type), self._run_id),
        )
        await self._table_prepared()
        self._table_ready = True

    async def _check_columns(self, spec: TableSpec) -> None:
        """Refuse a table that exists without the columns the records need."""

    def _rows(self, records: Sequence[Record], items: Sequence[int]) -> list[tuple[object, ...]]:
        spec = self._spec
        assert spec is not None and self._run_id is not None
        run_id = self._run_id
        times = spec.time_positions
        texts = [i for i, c in enumerate(spec.columns) if c.kind == "text"]
        texts += [len(spec.columns) + 1]  # error_detail
        rows: list[tuple[object, ...]] = []
        previous, sub = -1, 0
        for record, item in zip(records, items, strict=True):
            sub = sub + 1 if item == previous else 0
            previous = item
            values = spec.values(record)
            for p in times:
                v = values[p]
                if v is not None:
                    values[p] = self._timestamp(v)  # type: ignore[arg-type]
            for p in texts:
                v = values[p]
                if isinstance(v, str) and not (v.isascii() and "\x00" not in v):
                    values[p] = clean_text(v)
            record_json = self._json_value(_clean_json(encode_record(record)))
            rows.append((run_id, item, sub, *values, record_json))
        return rows

    async def write(self, records: Sequence[Record]) -> None:
        """Store a batch, numbering its records after the ones this sink stored before."""
        start = self._next_item
        await self.write_items(records, range(start, start + len(records)))

    async def write_items(self, records: Sequence[Record], items: Sequence[int]) -> None:
        """Upsert a batch keyed by item number (records of one item are consecutive).

        Returns once the database committed all of it; retries while it is
        away; raises :class:`aioscout.SinkError` past the retry deadline.
        """
        if len(items) != len(records):
            raise ValueError(f"{len(records)} records but {len(items)} item numbers")
        if not records:
            return
        async with self._lock:
            if self._closed:
                raise SinkError(f"cannot write results to {self.what} {self.name}: sink closed")
            record_type = type(records[0])
            if self._spec is None:
                spec = table_spec(record_type)
                self._table = self._table_arg or spec.default_name
                self._spec = spec
            elif record_type is not self._spec.record_type:
                raise TypeError(
                    f"a {self.what} sink takes one record type: got {record_type.__name__}"
                    f" after {self._spec.record_type.__name__}"
                )
            if any(type(r) is not record_type for r in records):
                raise TypeError(f"a {self.what} sink takes one record type per run")
            self._next_item = max(self._next_item, max(items) + 1)

            async def body() -> None:
                await self._upsert(self._rows(records, items))

            await self._call(body)

    async def count(self) -> int:
        """Rows of this run in the results table (0 before the first batch)."""
        async with self._lock:
            if self._spec is None or self._run_id is None:
                return 0
            table = quote(self._table or "", self.dialect)
            sql = f"SELECT count(*) FROM {table} WHERE run_id = "
            mark = {"sqlite": "?", "mysql": "%s", "postgres": "$1"}[self.dialect]

            async def body() -> int:
                row = await self._fetch_one(sql + mark, (self._run_id,))
                return 0 if row is None else int(row[0])

            n: int = await self._call(body, "count rows in")
            return n

    async def runs(self) -> list[StoredRun]:
        """The runs the database holds, newest first."""
        cols = ", ".join(quote(c, self.dialect) for c in StoredRun.__slots__)
        sql = f"SELECT {cols} FROM {self._sql('{run}')} ORDER BY started DESC"

        async def body() -> list[StoredRun]:
            return [StoredRun(*row) for row in await self._fetch_all(sql)]

        found: list[StoredRun] = await self._call(body, "read runs from")
        return found

    async def read(
        self, table: str, *, run_id: str | None = None, where: str | None = None, page: int = 1000
    ) -> AsyncIterator[tuple[str, int, int, object]]:
        """``(run_id, item, sub, record JSON)`` of the rows of ``table``, in key order, by pages.

        ``where`` is an SQL condition on the table's columns, given as is.
        """
        check_identifier(table)
        d = self.dialect
        key = ", ".join(quote(k, d) for k in ("run_id", "item", "sub"))
        mark = {"sqlite": ["?"] * 4, "mysql": ["%s"] * 4, "postgres": ["$1", "$2", "$3", "$4"]}[d]
        conds = [f"({key}) > ({mark[0]}, {mark[1]}, {mark[2]})"]
        if run_id is not None:
            conds.append(f"{quote('run_id', d)} = {mark[3]}")
        if where:
            conds.append(f"({where})")
        sql = (
            f"SELECT {key}, {quote('record', d)} FROM {quote(table, d)} "
            f"WHERE {' AND '.join(conds)} ORDER BY {key} LIMIT {int(page)}"
        )
        last: tuple[object, ...] = ("", -1, -1)
        while True:
            args = (*last, run_id) if run_id is not None else last

            async def body(args: tuple[object, ...] = args) -> list[tuple[Any, ...]]:
                return await self._fetch_all(sql, args)

            rows: list[tuple[Any, ...]] = await self._call(body, "read results from")
            for row in rows:
                yield row[0], int(row[1]), int(row[2]), row[3]
            if len(rows) < page:
                return
            last = tuple(rows[-1][:3])

    async def flush(self) -> None:
        """Nothing to do: a batch is committed when :meth:`write_items` returns."""

    async def aclose(self) -> None:
        """Record the run's end and counts (one try, bounded), then disconnect."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._connected and self._run_id is not None:
                    with contextlib.suppress(Exception):
                        await self._attempt(self._finish_run)
            finally:
                await self._drop()

    async def _finish_run(self) -> None:
        if self._table is not None and self._table_ready:
            t = quote(self._table, self.dialect)
            mark = {"sqlite": "?", "mysql": "%s", "postgres": "$1"}[self.dialect]
            row = await self._fetch_one(
                f"SELECT count(*), count(error_kind) FROM {t} WHERE run_id = {mark}",
                (self._run_id,),
            )
            rows, errors = (0, 0) if row is None else (int(row[0]), int(row[1]))
        else:
            rows, errors = 0, 0
        await self._execute(
            self._sql(
                "UPDATE {run} SET ended = {p1}, row_count = {p2}, error_count = {p3}"
                " WHERE run_id = {p4}"
            ),
            (self._now(), rows, errors, self._run_id),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _type_name(record_type: type) -> str:
    return f"{record_type.__module__}:{record_type.__qualname__}"

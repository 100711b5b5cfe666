"""MariaDB / MySQL output through asyncmy: one upsert statement and one transaction per batch.

The schema, the run id and the retry loop are the shared ones (see
:mod:`._sql`). A batch goes as multi-row ``INSERT ... ON DUPLICATE KEY
UPDATE`` statements of up to 4 MiB each (one for a usual batch), inside
``BEGIN`` / ``COMMIT``, the record's JSON as a hex literal.

Why asyncmy: with ``executemany`` the two drivers wrote batches at the same
speed within the noise of a shared machine, and asyncmy used a little less
client CPU per row; the sink builds its own statements with the driver's
literal escaping, and asyncmy's compiled escaping takes about half the CPU of
PyMySQL's (aiomysql's) for the same rows (bench/sql_sinks.py, bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from .._exceptions import ConfigError
from ._retry import RetryPolicy, redact_url
from ._schema import upsert_sql
from ._sql import RunInfo, SqlSink

try:
    import asyncmy
    import asyncmy.errors as mysql_errors
except ImportError:  # pragma: no cover - depends on the optional extra
    asyncmy = None  # type: ignore[assignment]

__all__ = ["MysqlSink"]

# Server error codes after which the same batch may succeed on a new try:
# lock wait timeout, deadlock, server shutting down, too many connections,
# read-only (a failover in progress), query interrupted.
# SQL text per statement: well under the smallest usual max_allowed_packet (16 MiB).
_STATEMENT_BYTES = 4 * 1024 * 1024

_TRANSIENT_CODES = frozenset({1205, 1213, 1053, 1040, 1290, 1317, 1836, 2006, 2013, 2014})


class MysqlSink(SqlSink):
    """Write records to a MariaDB or MySQL database (see :mod:`aioscout.sinks._schema`).

    Args:
        url: ``mysql://user:password@host:port/database`` (also ``mariadb://``;
            ``?unix_socket=/path`` for a socket).
        table: the results table (default: the record type's, e.g. ``http``).
        run: the run's fingerprint, command line and whether it resumes.
        retry: how long the sink keeps retrying while the server is away.
        timeout: seconds allowed for one attempt (connect and write a batch).

    Example::

        async with MysqlSink("mysql://scan:pw@127.0.0.1:3306/recon") as sink:
            await sink.write(records)
    """

    dialect = "mysql"
    what = "MariaDB"

    def __init__(
        self,
        url: str,
        *,
        table: str | None = None,
        run: RunInfo | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> None:
        if asyncmy is None:  # pragma: no cover
            raise ConfigError(
                "the MariaDB/MySQL output needs asyncmy: pip install 'aioscout[mysql]'"
            )
        super().__init__(table=table, run=run, retry=retry, timeout=timeout)
        self._safe = redact_url(url)
        self._params = _connect_params(url, self._safe)
        self._conn: Any = None
        self._insert_head = ""
        self._insert_tail = ""

    def _describe_target(self) -> str:
        return self._safe

    async def _connect(self) -> None:
        self._conn = await asyncmy.connect(
            **self._params,
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=self._timeout,
            # Notes (an IF NOT EXISTS that found the table) are not warnings here.
            init_command="SET SESSION sql_notes = 0, time_zone = '+00:00'",
        )

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def _execute(self, sql: str, args: Sequence[object] = ()) -> None:
        async with self._conn.cursor() as cur:
            await cur.execute(sql, tuple(args) or None)

    async def _fetch_one(self, sql: str, args: Sequence[object] = ()) -> tuple[Any, ...] | None:
        async with self._conn.cursor() as cur:
            await cur.execute(sql, tuple(args) or None)
            row = await cur.fetchone()
        return None if row is None else tuple(row)

    async def _fetch_all(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        async with self._conn.cursor() as cur:
            await cur.execute(sql, tuple(args) or None)
            return [tuple(row) for row in await cur.fetchall()]

    async def _table_prepared(self) -> None:
        assert self._spec is not None and self._table is not None
        head, _, tail = upsert_sql(self._table, self._spec.names, "mysql").partition(" VALUES (")
        self._insert_head = f"{head} VALUES "
        self._insert_tail = " " + tail.partition(") ")[2]

    async def _upsert(self, rows: list[tuple[object, ...]]) -> None:
        conn = self._conn
        literal = conn.literal
        statements: list[str] = []
        values: list[str] = []
        size = 0
        for row in rows:
            record = row[-1]
            assert isinstance(record, bytes)
            # The JSON goes as a hex literal: hex() is a third of the client's CPU
            # per row that escaping it character by character costs.
            text = f"({','.join([literal(v) for v in row[:-1]])},_utf8mb4 X'{record.hex()}')"
            values.append(text)
            size += len(text)
            if size >= _STATEMENT_BYTES:
                statements.append(self._statement(values))
                values, size = [], 0
        if values:
            statements.append(self._statement(values))
        await conn.begin()
        async with conn.cursor() as cur:
            for statement in statements:
                await cur.execute(statement)
        await conn.commit()

    def _statement(self, values: list[str]) -> str:
        return f"{self._insert_head}{','.join(values)}{self._insert_tail}"

    def _json_value(self, data: bytes) -> object:
        return data

    def _timestamp(self, value: datetime) -> object:
        return value.replace(tzinfo=None)  # DATETIME in UTC (the session's time zone)

    def _retryable(self, exc: Exception) -> bool:
        if isinstance(exc, mysql_errors.OperationalError | mysql_errors.InternalError):
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            # 1044/1045: access denied (a wrong password does not get better).
            return code not in (1044, 1045, 1049) and (code in _TRANSIENT_CODES or code >= 2000)
        return isinstance(exc, mysql_errors.InterfaceError | OSError | TimeoutError | EOFError)


def _connect_params(url: str, safe: str) -> dict[str, Any]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"bad MariaDB/MySQL output {safe}: {exc}") from None
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ConfigError(f"bad MariaDB/MySQL output {safe}: name the database (…/DBNAME)")
    params: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": database,
    }
    return params

"""PostgreSQL output through asyncpg: COPY into a staging table, then one upsert per batch.

The schema, the run id and the retry loop are the shared ones (see
:mod:`._sql`). A batch is copied (binary ``COPY``) into a temporary table
that empties itself at commit, then moved with one ``INSERT ... SELECT ...
ON CONFLICT DO UPDATE``, both in one transaction: the measured faster way to
upsert a batch (``executemany`` of the upsert sends a statement per row;
bench/sql_sinks.py, bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from .._exceptions import ConfigError
from ._retry import RetryPolicy, redact_url
from ._schema import KEY_COLUMNS, quote
from ._sql import RunInfo, SqlSink

try:
    import asyncpg
except ImportError:  # pragma: no cover - depends on the optional extra
    asyncpg = None

__all__ = ["PostgresSink"]

_STAGE = "aioscout_stage"

# SQLSTATE classes after which the same batch may succeed on a new try:
# connection exceptions, insufficient resources, operator intervention
# (admin shutdown, crash shutdown, cannot connect now), serialization/deadlock.
_TRANSIENT_CLASSES = ("08", "53", "57", "40")


class PostgresSink(SqlSink):
    """Write records to a PostgreSQL database (see :mod:`aioscout.sinks._schema`).

    Args:
        url: ``postgresql://user:password@host:port/database`` (also ``postgres://``).
        table: the results table (default: the record type's, e.g. ``http``).
        run: the run's fingerprint, command line and whether it resumes.
        retry: how long the sink keeps retrying while the server is away.
        timeout: seconds allowed for one attempt (connect and write a batch).

    Example::

        async with PostgresSink("postgresql://scan:pw@127.0.0.1:5432/recon") as sink:
            await sink.write(records)
    """

    dialect = "postgres"
    what = "PostgreSQL"

    def __init__(
        self,
        url: str,
        *,
        table: str | None = None,
        run: RunInfo | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> None:
        if asyncpg is None:  # pragma: no cover
            raise ConfigError(
                "the PostgreSQL output needs asyncpg: pip install 'aioscout[postgres]'"
            )
        super().__init__(table=table, run=run, retry=retry, timeout=timeout)
        self._safe = redact_url(url)
        self._params = _connect_params(url, self._safe)
        self._conn: Any = None
        self._merge = ""

    def _describe_target(self) -> str:
        return self._safe

    async def _connect(self) -> None:
        self._conn = await asyncpg.connect(
            **self._params,
            timeout=self._timeout,
            command_timeout=self._timeout,
            statement_cache_size=16,
            server_settings={"client_min_messages": "warning", "timezone": "UTC"},
        )

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def _execute(self, sql: str, args: Sequence[object] = ()) -> None:
        await self._conn.execute(sql, *args)

    async def _fetch_one(self, sql: str, args: Sequence[object] = ()) -> tuple[Any, ...] | None:
        row = await self._conn.fetchrow(sql, *args)
        return None if row is None else tuple(row)

    async def _fetch_all(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self._conn.fetch(sql, *args)]

    async def _table_prepared(self) -> None:
        assert self._spec is not None and self._table is not None
        table = quote(self._table, "postgres")
        await self._conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE {table}) ON COMMIT DELETE ROWS"
        )
        names = self._spec.names
        cols = ", ".join(quote(n, "postgres") for n in names)
        keys = ", ".join(quote(k, "postgres") for k in KEY_COLUMNS)
        sets = ", ".join(
            f"{quote(n, 'postgres')} = excluded.{quote(n, 'postgres')}"
            for n in names
            if n not in KEY_COLUMNS
        )
        self._merge = (
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {_STAGE} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
        )

    async def _upsert(self, rows: list[tuple[object, ...]]) -> None:
        assert self._spec is not None
        conn = self._conn
        async with conn.transaction():
            await conn.copy_records_to_table(_STAGE, records=rows, columns=self._spec.names)
            await conn.execute(self._merge)

    def _retryable(self, exc: Exception) -> bool:
        if isinstance(exc, asyncpg.DataError):  # a value the column refuses
            return False
        if isinstance(exc, asyncpg.PostgresError):
            state = getattr(exc, "sqlstate", "") or ""
            return state.startswith(_TRANSIENT_CLASSES) and state != "28P01"
        # InternalClientError: the protocol lost track of the connection when the
        # server went away mid-batch (seen on COMMIT after a restart); the
        # connection is dropped and the batch is written again on a new one.
        return isinstance(
            exc,
            asyncpg.InterfaceError
            | asyncpg.InternalClientError
            | OSError
            | TimeoutError
            | EOFError
            | ConnectionError,
        )


def _connect_params(url: str, safe: str) -> dict[str, Any]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"bad PostgreSQL output {safe}: {exc}") from None
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ConfigError(f"bad PostgreSQL output {safe}: name the database (…/DBNAME)")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": port or 5432,
        "user": unquote(parts.username or "") or None,
        "password": unquote(parts.password or "") or None,
        "database": database,
    }

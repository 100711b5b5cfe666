"""SQLite output on the shared schema: one upsert transaction per batch, WAL mode.

The tables are the ones the MariaDB and PostgreSQL sinks create (see
:mod:`._schema`): one per record type keyed by ``(run_id, item, sub)``, typed
columns, the record as JSON in ``record``, and the ``run`` table, so a query
written for one database works on the others. The stdlib driver blocks, so
every call runs in a thread; a batch is committed whole or rolled back whole,
then retried while the database is locked or the disk is full.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .._exceptions import SinkError
from ._retry import RetryPolicy, in_thread
from ._schema import quote, upsert_sql
from ._sql import RunInfo, SqlSink

__all__ = ["SqliteSink"]


class SqliteSink(SqlSink):
    """Write records to a SQLite database.

    Args:
        path: the database file (created if missing).
        table: the results table (default: the record type's, e.g. ``http``).
        run: the run's fingerprint, command line and whether it resumes.
        retry: how long a failed batch is retried before SinkError.

    Example::

        async with SqliteSink("results.db", table="http") as sink:
            await sink.write(records)
    """

    dialect = "sqlite"
    what = "SQLite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str | None = None,
        run: RunInfo | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(table=table, run=run, retry=retry, timeout=3600.0)
        self._path = os.fspath(path)
        self._conn: sqlite3.Connection | None = None
        self._sql_upsert = ""

    def _describe_target(self) -> str:
        return self._path

    def _open_sync(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, timeout=5.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    async def _connect(self) -> None:
        self._conn = await in_thread(self._open_sync)

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await in_thread(conn.close)

    async def _execute(self, sql: str, args: Sequence[object] = ()) -> None:
        conn = self._conn
        assert conn is not None
        await in_thread(lambda: conn.execute(sql, tuple(args)))

    async def _fetch_one(self, sql: str, args: Sequence[object] = ()) -> tuple[Any, ...] | None:
        conn = self._conn
        assert conn is not None
        row = await in_thread(lambda: conn.execute(sql, tuple(args)).fetchone())
        return None if row is None else tuple(row)

    async def _fetch_all(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        conn = self._conn
        assert conn is not None
        rows = await in_thread(lambda: conn.execute(sql, tuple(args)).fetchall())
        return [tuple(row) for row in rows]

    async def _check_columns(self, spec: Any) -> None:
        conn = self._conn
        assert conn is not None and self._table is not None
        table = quote(self._table, "sqlite")
        rows = await in_thread(lambda: conn.execute(f"PRAGMA table_info({table})").fetchall())
        missing = [n for n in spec.names if n not in {row[1] for row in rows}]
        if missing:
            raise SinkError(
                f"cannot write results to SQLite {self.name}: the table exists without "
                f"columns {', '.join(missing)}; choose another table"
            )

    async def _table_prepared(self) -> None:
        assert self._spec is not None and self._table is not None
        self._sql_upsert = upsert_sql(self._table, self._spec.names, "sqlite")

    def _upsert_sync(self, rows: list[tuple[object, ...]]) -> None:
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(self._sql_upsert, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the original error matters more
                    conn.execute("ROLLBACK")
            raise

    async def _upsert(self, rows: list[tuple[object, ...]]) -> None:
        await in_thread(lambda: self._upsert_sync(rows))

    def _timestamp(self, value: datetime) -> object:
        return value.strftime("%Y-%m-%d %H:%M:%S")  # SQLite's own date format, in UTC

    async def flush(self) -> None:
        """Copy the write-ahead log into the database file (committed batches are safe already)."""
        async with self._lock:
            conn = self._conn
            if conn is None or self._closed:
                return
            with contextlib.suppress(sqlite3.Error):  # busy: the next flush does it
                await in_thread(lambda: conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())

    async def _drop(self) -> None:
        # A SQLite connection survives a failed batch (it was rolled back): keep it.
        return

    async def aclose(self) -> None:
        """Record the run's end, checkpoint the write-ahead log and close the database."""
        try:
            await super().aclose()
        finally:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                self._connected = False
                with contextlib.suppress(sqlite3.Error):
                    await in_thread(lambda: conn.execute("PRAGMA wal_checkpoint(PASSIVE)"))
                await in_thread(conn.close)

    def _retryable(self, exc: Exception) -> bool:
        return _retryable(exc)


_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_PROTOCOL")


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        return name.startswith(_TRANSIENT)
    return isinstance(exc, OSError)

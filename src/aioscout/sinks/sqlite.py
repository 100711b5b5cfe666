"""SQLite output: one row per record, one transaction per batch, WAL mode.

The table has a column for each scalar field of the record type (input,
url, status, title, ...), ``error_kind`` and ``error_detail``, and a
``record`` column with the whole record as JSON. The stdlib driver blocks,
so every call runs in a thread; a batch is committed whole or rolled back
whole, then retried while the database is locked or the disk is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self, TypeVar

from .._exceptions import SinkError
from .._models import ErrorInfo, Record
from ._retry import RetryPolicy, in_thread, retry_call
from .jsonl import encode_record

__all__ = ["SqliteSink"]

T = TypeVar("T")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "INTEGER"}


def _scalar_columns(record_type: type) -> list[tuple[str, str]]:
    columns: list[tuple[str, str]] = []
    for f in dataclasses.fields(record_type):
        annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        base = annotation.replace(" | None", "").replace("None | ", "").strip()
        if base in _SQL_TYPES:
            columns.append((f.name, _SQL_TYPES[base]))
    return columns


class SqliteSink:
    """Write records to a table of a SQLite database.

    Args:
        path: the database file (created if missing).
        table: the table name (created from the first batch's record type).
        retry: how long a failed batch is retried before SinkError.

    Example::

        async with SqliteSink("results.db", table="http") as sink:
            await sink.write(records)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "results",
        retry: RetryPolicy | None = None,
    ) -> None:
        if not _IDENTIFIER.fullmatch(table):
            raise ValueError(f"invalid SQLite table name {table!r}: use letters, digits and _")
        self._path = os.fspath(path)
        self._table = table
        self._retry = retry or RetryPolicy()
        self._conn: sqlite3.Connection | None = None
        self._type: type | None = None
        self._columns: list[str] = []
        self._insert = ""
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def name(self) -> str:
        """The database path and table, for messages."""
        return f"{self._path} (table {self._table})"

    async def _call(self, func: Callable[[], T]) -> T:
        async def attempt() -> T:
            return await in_thread(func)

        return await retry_call(
            attempt, policy=self._retry, retryable=_retryable, describe=self._describe
        )

    def _describe(self, exc: Exception) -> str:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"cannot write results to SQLite {self.name}: {detail}"

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

    def _prepare_sync(self, record_type: type) -> None:
        conn = self._conn
        assert conn is not None
        scalars = _scalar_columns(record_type)
        wanted = [
            ("id", "INTEGER PRIMARY KEY"),
            *scalars,
            ("error_kind", "TEXT"),
            ("error_detail", "TEXT"),
            ("record", "TEXT NOT NULL"),
        ]
        ddl = ", ".join(f'"{n}" {t}' for n, t in wanted)
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{self._table}" ({ddl})')
        have = {row[1] for row in conn.execute(f'PRAGMA table_info("{self._table}")')}
        missing = [n for n, _ in wanted if n not in have]
        if missing:
            raise SinkError(
                f"cannot write results to SQLite {self.name}: the table exists without "
                f"columns {', '.join(missing)}; choose another table"
            )
        self._columns = [n for n, _ in scalars]
        names = [*self._columns, "error_kind", "error_detail", "record"]
        self._insert = (
            f'INSERT INTO "{self._table}" ({", ".join(f"{chr(34)}{n}{chr(34)}" for n in names)}) '
            f"VALUES ({', '.join('?' * len(names))})"
        )

    def _row(self, record: Record) -> tuple[object, ...]:
        error = record.error
        values: list[object] = [getattr(record, n) for n in self._columns]
        if isinstance(error, ErrorInfo):
            values += [str(error.kind), error.detail]
        else:
            values += [None, None]
        values.append(encode_record(record).decode("utf-8"))
        return tuple(values)

    def _insert_sync(self, rows: list[tuple[object, ...]]) -> None:
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(self._insert, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the original error matters more
                    conn.execute("ROLLBACK")
            raise

    async def write(self, records: Sequence[Record]) -> None:
        """Insert a batch in one transaction; all rows commit or SinkError is raised."""
        if not records:
            return
        async with self._lock:
            if self._closed:
                raise SinkError(f"cannot write results to SQLite {self.name}: the sink is closed")
            if self._conn is None:
                self._conn = await self._call(self._open_sync)
            if self._type is None:
                record_type = type(records[0])
                await self._call(lambda: self._prepare_sync(record_type))
                self._type = record_type
            for record in records:
                if type(record) is not self._type:
                    raise TypeError(
                        f"a SQLite sink takes one record type: got {type(record).__name__}"
                        f" after {self._type.__name__}"
                    )
            rows = [self._row(r) for r in records]
            await self._call(lambda: self._insert_sync(rows))

    async def count(self) -> int:
        """The number of rows in the table (0 before the first batch)."""
        async with self._lock:
            conn = self._conn
            if conn is None or self._type is None:
                return 0
            (n,) = await in_thread(
                lambda: conn.execute(f'SELECT count(*) FROM "{self._table}"').fetchone()
            )
            return int(n)

    async def flush(self) -> None:
        """Checkpoint the write-ahead log into the database file."""
        async with self._lock:
            conn = self._conn
            if conn is None or self._closed:
                return
            await self._call(lambda: conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())

    async def aclose(self) -> None:
        """Checkpoint and close the database."""
        if self._closed:
            return
        try:
            await self.flush()
        finally:
            async with self._lock:
                self._closed = True
                conn, self._conn = self._conn, None
                if conn is not None:
                    await in_thread(conn.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_PROTOCOL")


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        return name.startswith(_TRANSIENT)
    return isinstance(exc, OSError)

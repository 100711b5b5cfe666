"""CSV output: one row per record, flat columns, header written once.

The columns are the record's fields in declaration order, with ``error``
split into ``error_kind`` and ``error_detail``. Nested values (redirect
chain, TLS facts, DNS answers, headers, lists) are JSON-encoded in their
cell. Rows are written a batch at a time with the same whole-batch
guarantee as JSON Lines (see :mod:`._file`).

Formula injection: a text cell that a spreadsheet would read as a formula
(its first character, after any leading whitespace, is ``=``, ``+``, ``-``,
``@``, a tab, CR or LF, or a full-width ``＝ ＋ － ＠``) is written with a single
quote in front, as OWASP's CSV Injection page recommends, so ``=HYPERLINK(...)``
in a title stays text.
"""

from __future__ import annotations

import csv as _csv
import dataclasses
import io
import os
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import orjson

from .._models import ErrorInfo, Record
from ._file import OutputFile
from ._retry import RetryPolicy

__all__ = ["CsvSink", "csv_columns", "csv_row", "neutralise"]


def csv_columns(record_type: type) -> list[str]:
    """The CSV header for a record type (a dataclass from :mod:`aioscout._models`)."""
    if not dataclasses.is_dataclass(record_type):
        raise TypeError(f"{record_type!r} is not a record type")
    columns: list[str] = []
    for f in dataclasses.fields(record_type):
        if f.name == "error":
            columns += ["error_kind", "error_detail"]
        else:
            columns.append(f.name)
    return columns


_FORMULA_LEADS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def neutralise(text: str) -> str:
    """``text`` prefixed with ``'`` when a spreadsheet would run it as a formula.

    >>> neutralise("=HYPERLINK(\"http://x\")")
    '\'=HYPERLINK("http://x")'
    >>> neutralise("Home")
    'Home'
    """
    if not text:
        return text
    if text[0] in _FORMULA_LEADS:
        return "'" + text
    stripped = text.lstrip()
    if stripped and stripped[0] in _FORMULA_LEADS:
        return "'" + text
    return text


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode("utf-8", "replace")


def csv_row(record: Record) -> list[str]:
    """One record as the cells of its row, in :func:`csv_columns` order."""
    row: list[str] = []
    for f in dataclasses.fields(record):  # type: ignore[arg-type]
        value = getattr(record, f.name)
        if f.name == "error":
            if isinstance(value, ErrorInfo):
                row += [str(value.kind), neutralise(value.detail)]
            else:
                row += ["", ""]
        else:
            row.append(_cell(value))
    return row


class CsvSink:
    """Write records as CSV rows to a file or standard output.

    All records of one sink must be of one type (one probe per run); the
    header comes from the first batch and is written once (not again when
    appending to a file that already has content).

    Args:
        path: the output file; ``None`` or ``"-"`` for standard output.
        append: keep what the file holds (a torn last line is cut first).
        truncate_at: with ``append``, cut the file to this offset first.
        retry: how long a failed write is retried before SinkError.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        append: bool = False,
        truncate_at: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._out = OutputFile(
            None if path is None else os.fspath(path),
            append=append,
            truncate_at=truncate_at,
            retry=retry,
        )
        self._type: type | None = None
        self._need_header = not (self._out.is_regular and self._out.position() > 0)

    @property
    def name(self) -> str:
        """The file name, or ``"standard output"``."""
        return self._out.name

    def position(self) -> int:
        """Bytes in the output after the last whole batch (durable after flush)."""
        return self._out.position()

    async def write(self, records: Sequence[Record]) -> None:
        """Append a batch of rows; all of them reach the output or SinkError is raised."""
        if not records:
            return
        if self._type is None:
            self._type = type(records[0])
        buf = io.StringIO()
        writer = _csv.writer(buf, lineterminator="\n")
        header = self._need_header
        if header:
            writer.writerow(csv_columns(self._type))
        for record in records:
            if type(record) is not self._type:
                raise TypeError(
                    f"a CSV sink takes one record type: got {type(record).__name__}"
                    f" after {self._type.__name__}"
                )
            writer.writerow(csv_row(record))
        await self._out.write(buf.getvalue().encode("utf-8", "replace"))
        if header:
            self._need_header = False

    async def flush(self) -> None:
        """fsync the file (no-op for a pipe or terminal)."""
        await self._out.flush()

    async def aclose(self) -> None:
        """Flush and close."""
        await self._out.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

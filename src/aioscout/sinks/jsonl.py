"""JSON Lines output: one JSON object per record, one line each.

A batch is encoded with orjson into one buffer and written with one write
loop, so the file grows by whole lines only (see :mod:`._file`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import orjson

from .._models import Record
from ._file import OutputFile, truncate_torn_tail
from ._retry import RetryPolicy

__all__ = ["JsonlSink", "encode_batch", "encode_lines", "encode_record", "truncate_torn_tail"]


def encode_record(record: Record) -> bytes:
    """One record as compact JSON (no newline).

    A string orjson refuses (a lone surrogate from undecodable input) is
    re-encoded with replacement characters rather than losing the record.
    """
    try:
        return orjson.dumps(record)
    except orjson.JSONEncodeError:
        return orjson.dumps(_sanitise(_plain(record)))


def encode_batch(records: Sequence[Record]) -> bytes:
    """Records as JSON Lines: one object per line, every line ending in ``\\n``."""
    if not records:
        return b""
    dumps = orjson.dumps
    try:
        return b"\n".join([dumps(r) for r in records]) + b"\n"
    except orjson.JSONEncodeError:
        return b"\n".join([encode_record(r) for r in records]) + b"\n"


def encode_lines(records: Sequence[Record]) -> list[bytes]:
    """Records as JSON Lines, one ``bytes`` each (ending in ``\\n``).

    What :meth:`JsonlSink.write_encoded` takes, joined: process workers encode
    their records with it, so the writing process only joins and writes them.
    """
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE  # one buffer per line, not two
    try:
        return [dumps(r, option=newline) for r in records]
    except orjson.JSONEncodeError:
        return [encode_record(r) + b"\n" for r in records]


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _sanitise(value: object) -> object:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_sanitise(k): _sanitise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitise(v) for v in value]
    return value


class JsonlSink:
    """Write records as JSON Lines to a file or standard output.

    Args:
        path: the output file; ``None`` or ``"-"`` for standard output.
        append: keep what the file holds (a torn last line is cut first).
        truncate_at: with ``append``, cut the file to this offset first: the
            :meth:`position` a checkpoint recorded before the run stopped.
        retry: how long a failed write (disk full, ...) is retried before
            :class:`aioscout.SinkError` is raised (default 30 s).

    Example::

        async with JsonlSink("results.jsonl") as sink:
            await sink.write([HttpResult(input="127.0.0.1", status=200)])
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

    @property
    def name(self) -> str:
        """The file name, or ``"standard output"``."""
        return self._out.name

    def position(self) -> int:
        """Bytes in the output after the last whole batch (durable after flush)."""
        return self._out.position()

    async def write(self, records: Sequence[Record]) -> None:
        """Append a batch of records; all of them reach the output or SinkError is raised."""
        await self._out.write(encode_batch(records))

    encode_lines = staticmethod(encode_lines)
    """How :meth:`write_encoded` wants records encoded (a picklable function)."""

    async def write_encoded(self, data: bytes, count: int) -> None:
        """Append ``count`` records already encoded by :attr:`encode_lines` and joined."""
        if data:
            await self._out.write(data)

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

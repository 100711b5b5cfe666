"""Where records go: JSON Lines (default), CSV, SQLite, MariaDB/MySQL, PostgreSQL and Redis.

Every sink follows :class:`aioscout.engine.Sink`: ``write`` takes a batch
and returns only once all of it is stored (or raises
:class:`aioscout.SinkError` after retrying for a bounded time), ``flush``
makes it durable, ``aclose`` releases the resource. :func:`open_sink`
chooses a sink from an output spec such as ``-``, ``out.jsonl``,
``out.csv``, ``sqlite:///out.db``, ``mysql://user:pw@host/db``,
``postgresql://user:pw@host/db`` or ``redis://127.0.0.1:6379/0?key=k``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._exceptions import ConfigError
from ._retry import RetryPolicy, redact_url
from ._sql import RunInfo, SqlSink
from .csv import CsvSink
from .jsonl import JsonlSink, encode_batch, encode_record, truncate_torn_tail
from .sqlite import SqliteSink

if TYPE_CHECKING:
    from ..engine.protocols import Sink
    from .mysql import MysqlSink
    from .postgres import PostgresSink
    from .redis import RedisSink, RedisSource

__all__ = [
    "SQL_SCHEMES",
    "CsvSink",
    "JsonlSink",
    "MysqlSink",
    "PostgresSink",
    "RedisSink",
    "RedisSource",
    "RetryPolicy",
    "RunInfo",
    "SqlSink",
    "SqliteSink",
    "encode_batch",
    "encode_record",
    "open_reader",
    "open_sink",
    "redact_url",
    "truncate_torn_tail",
]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_MYSQL_SCHEMES = ("mysql://", "mariadb://")
_PG_SCHEMES = ("postgresql://", "postgres://")
SQL_SCHEMES = ("sqlite://", *_MYSQL_SCHEMES, *_PG_SCHEMES)
"""Outputs that store records keyed by run and item (checkpointed, resumable)."""


def __getattr__(name: str) -> object:
    # The drivers are optional extras: import one only when its sink is asked for.
    if name in ("RedisSink", "RedisSource"):
        from . import redis as _redis

        return getattr(_redis, name)
    if name == "MysqlSink":
        from .mysql import MysqlSink

        return MysqlSink
    if name == "PostgresSink":
        from .postgres import PostgresSink

        return PostgresSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_sink(
    spec: str,
    *,
    append: bool = False,
    retry: RetryPolicy | None = None,
    run: RunInfo | None = None,
) -> Sink:
    """The sink an output spec names.

    - ``-``: JSON Lines on standard output
    - ``PATH.csv``: CSV; any other path: JSON Lines
    - ``sqlite:///relative.db`` or ``sqlite:////absolute.db``, optional ``?table=NAME``
    - ``mysql://user:pass@host:port/db`` (also ``mariadb://``) and
      ``postgresql://user:pass@host:port/db`` (also ``postgres://``), optional
      ``?table=NAME`` (default: the record type's table, e.g. ``http``)
    - ``redis://[user:pass@]host:port/db?key=KEY&mode=list|stream`` (also
      ``rediss://``, ``unix://``)

    Args:
        spec: the output spec.
        append: for files, keep existing content (resume).
        retry: the retry policy given to the sink.
        run: for the SQL sinks, the run's fingerprint and command line.

    Raises:
        ConfigError: for an unknown scheme or a bad parameter (credentials in
            the spec are never repeated in the message).

    Example::

        sink = open_sink("results.csv")
    """
    if not spec:
        raise ConfigError("empty output spec: give a file name, '-', sqlite:/// or redis://")
    if spec == "-":
        return JsonlSink(None, retry=retry)
    lower = spec.lower()
    if lower.startswith("sqlite://"):
        return _open_sqlite(spec, retry, run)
    if lower.startswith(_MYSQL_SCHEMES + _PG_SCHEMES):
        return _open_server_sql(spec, retry, run)
    if lower.startswith(_REDIS_SCHEMES):
        return _open_redis(spec, retry)
    if "://" in spec:
        scheme = spec.split("://", 1)[0]
        raise ConfigError(
            f"unsupported output {scheme}://...: use a file, '-', sqlite:///, mysql://,"
            " postgresql:// or redis://"
        )
    if lower.endswith(".csv"):
        return CsvSink(spec, append=append, retry=retry)
    return JsonlSink(spec, append=append, retry=retry)


def open_reader(spec: str) -> SqlSink:
    """A SQL output opened for reading what it holds (``aioscout show``): it creates nothing.

    Raises:
        ConfigError: for a spec that is not a SQL database, or a bad one.
    """
    if not spec.lower().startswith(SQL_SCHEMES):
        raise ConfigError("only sqlite:///, mysql:// and postgresql:// outputs can be read back")
    sink = open_sink(spec, retry=RetryPolicy(deadline=10.0))
    assert isinstance(sink, SqlSink)
    sink.read_only = True
    return sink


def _open_sqlite(spec: str, retry: RetryPolicy | None, run: RunInfo | None) -> Sink:
    rest = spec[len("sqlite://") :]
    if not rest.startswith("/") or len(rest) < 2:
        raise ConfigError(f"bad SQLite output {spec!r}: use sqlite:///file.db")
    path, _, query = rest[1:].partition("?")
    params = dict(parse_qsl(query))
    unknown = set(params) - {"table"}
    if unknown:
        raise ConfigError(f"unknown SQLite output parameter(s): {', '.join(sorted(unknown))}")
    try:
        return SqliteSink(path, table=params.get("table"), retry=retry, run=run)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _open_server_sql(spec: str, retry: RetryPolicy | None, run: RunInfo | None) -> Sink:
    safe = redact_url(spec)
    mysql = spec.lower().startswith(_MYSQL_SCHEMES)
    what = "MariaDB/MySQL" if mysql else "PostgreSQL"
    try:
        parts = urlsplit(spec)
    except ValueError as exc:
        raise ConfigError(f"bad {what} output {safe}") from exc
    params = dict(parse_qsl(parts.query))
    unknown = set(params) - {"table"}
    if unknown:
        raise ConfigError(f"unknown {what} output parameter(s): {', '.join(sorted(unknown))}")
    url = urlunsplit(parts._replace(query=""))
    try:
        # Each raises ConfigError with the pip command when its driver is missing.
        if mysql:
            from .mysql import MysqlSink

            return MysqlSink(url, table=params.get("table"), retry=retry, run=run)
        from .postgres import PostgresSink

        return PostgresSink(url, table=params.get("table"), retry=retry, run=run)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"bad {what} output {safe}: {exc}") from exc


def _open_redis(spec: str, retry: RetryPolicy | None) -> Sink:
    from .redis import RedisSink

    safe = redact_url(spec)
    try:
        parts = urlsplit(spec)
    except ValueError as exc:
        raise ConfigError(f"bad Redis output {safe}") from exc
    params = parse_qsl(parts.query)
    ours = {k: v for k, v in params if k in ("key", "mode")}
    rest = [(k, v) for k, v in params if k not in ("key", "mode")]
    url = urlunsplit(parts._replace(query=urlencode(rest)))
    mode = ours.get("mode", "list")
    if mode not in ("list", "stream"):
        raise ConfigError(f"bad Redis output {safe}: mode must be list or stream")
    try:
        return RedisSink(
            url,
            ours.get("key", "aioscout:results"),
            mode=cast(Literal["list", "stream"], mode),
            retry=retry,
        )
    except ValueError as exc:
        raise ConfigError(f"bad Redis output {safe}: {exc}") from exc

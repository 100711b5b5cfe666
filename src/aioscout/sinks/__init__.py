"""Where records go: JSON Lines (default), CSV, SQLite and Redis sinks.

Every sink follows :class:`aioscout.engine.Sink`: ``write`` takes a batch
and returns only once all of it is stored (or raises
:class:`aioscout.SinkError` after retrying for a bounded time), ``flush``
makes it durable, ``aclose`` releases the resource. :func:`open_sink`
chooses a sink from an output spec such as ``-``, ``out.jsonl``,
``out.csv``, ``sqlite:///out.db`` or ``redis://127.0.0.1:6379/0?key=k``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._exceptions import ConfigError
from ._retry import RetryPolicy, redact_url
from .csv import CsvSink
from .jsonl import JsonlSink, encode_batch, encode_record, truncate_torn_tail
from .sqlite import SqliteSink

if TYPE_CHECKING:
    from ..engine.protocols import Sink
    from .redis import RedisSink, RedisSource

__all__ = [
    "CsvSink",
    "JsonlSink",
    "RedisSink",
    "RedisSource",
    "RetryPolicy",
    "SqliteSink",
    "encode_batch",
    "encode_record",
    "open_sink",
    "redact_url",
    "truncate_torn_tail",
]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def __getattr__(name: str) -> object:
    # redis is an optional extra: import it only when a Redis sink is asked for.
    if name in ("RedisSink", "RedisSource"):
        from . import redis as _redis

        return getattr(_redis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_sink(spec: str, *, append: bool = False, retry: RetryPolicy | None = None) -> Sink:
    """The sink an output spec names.

    - ``-``: JSON Lines on standard output
    - ``PATH.csv``: CSV; any other path: JSON Lines
    - ``sqlite:///relative.db`` or ``sqlite:////absolute.db``, optional ``?table=NAME``
    - ``redis://[user:pass@]host:port/db?key=KEY&mode=list|stream`` (also
      ``rediss://``, ``unix://``)

    Args:
        spec: the output spec.
        append: for files, keep existing content (resume).
        retry: the retry policy given to the sink.

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
        return _open_sqlite(spec, retry)
    if lower.startswith(_REDIS_SCHEMES):
        return _open_redis(spec, retry)
    if "://" in spec:
        scheme = spec.split("://", 1)[0]
        raise ConfigError(
            f"unsupported output {scheme}://...: use a file, '-', sqlite:/// or redis://"
        )
    if lower.endswith(".csv"):
        return CsvSink(spec, append=append, retry=retry)
    return JsonlSink(spec, append=append, retry=retry)


def _open_sqlite(spec: str, retry: RetryPolicy | None) -> Sink:
    rest = spec[len("sqlite://") :]
    if not rest.startswith("/") or len(rest) < 2:
        raise ConfigError(f"bad SQLite output {spec!r}: use sqlite:///file.db")
    path, _, query = rest[1:].partition("?")
    params = dict(parse_qsl(query))
    unknown = set(params) - {"table"}
    if unknown:
        raise ConfigError(f"unknown SQLite output parameter(s): {', '.join(sorted(unknown))}")
    try:
        return SqliteSink(path, table=params.get("table", "results"), retry=retry)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


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

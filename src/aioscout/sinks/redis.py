"""Redis output (a list or a stream) and a Redis list as a source of targets.

Why a script rather than a bare RPUSH: when the server goes away, a batch
whose reply was lost may or may not have landed, and retrying it blindly
could store it twice. Each chunk of a batch therefore carries a sequence
number, and a small server-side script appends it only if that number is
newer than the last one this sink stored (kept in a hash next to the key,
one field per sink, removed on close). A retried chunk lands exactly once.
The sink retries with exponential backoff up to a deadline, then raises
:class:`aioscout.SinkError`; a batch is acknowledged only after the server
confirmed every chunk of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Literal, Self, TypeVar, cast

from .._exceptions import SinkError
from .._models import Record
from ._retry import RetryPolicy, redact_url, retry_call
from .jsonl import encode_record

try:
    import redis.asyncio as aioredis
    import redis.exceptions as redis_errors
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError:  # pragma: no cover - depends on the optional extra
    aioredis = None  # type: ignore[assignment]

__all__ = ["RedisSink", "RedisSource"]

T = TypeVar("T")

# Lua's unpack() is bounded by the C stack (~8000 values): chunk below that.
CHUNK = 1000

_APPEND = """
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if tonumber(ARGV[2]) <= last then return 0 end
if ARGV[3] == 'stream' then
  for i = 4, #ARGV do redis.call('XADD', KEYS[1], '*', 'record', ARGV[i]) end
else
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""


def _client(url: str, timeout: float) -> aioredis.Redis:
    if aioredis is None:  # pragma: no cover
        raise SinkError("the Redis sink needs the redis package: pip install 'aioscout[redis]'")
    try:
        return aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # Retries belong to the sink's own policy (deadline, backoff).
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        raise ValueError(f"invalid Redis URL {redact_url(url)}: {exc}") from exc


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, redis_errors.AuthenticationError | redis_errors.AuthorizationError):
        return False
    return isinstance(
        exc,
        redis_errors.ConnectionError
        | redis_errors.TimeoutError
        | redis_errors.BusyLoadingError
        | redis_errors.ReadOnlyError
        | redis_errors.TryAgainError
        | OSError
        | TimeoutError,
    )


class _RedisBase:
    def __init__(self, url: str, key: str, retry: RetryPolicy | None, timeout: float) -> None:
        if not key:
            raise ValueError("a Redis key must not be empty")
        if timeout <= 0:
            raise ValueError("the Redis timeout must be > 0")
        self._url = url
        self._key = key
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._redis = _client(url, timeout)
        self._closed = False

    @property
    def name(self) -> str:
        """The redacted URL and the key, for messages."""
        return f"{redact_url(self._url)} key {self._key}"

    async def _call(self, func: Callable[[], Awaitable[T]], verb: str) -> T:
        async def attempt() -> T:
            async with asyncio.timeout(self._timeout):
                return await func()

        def describe(exc: Exception) -> str:
            detail = str(exc) or type(exc).__name__
            return f"cannot {verb} Redis {self.name}: {detail}"

        return await retry_call(
            attempt, policy=self._retry, retryable=_retryable, describe=describe
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

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._closed:
            return
        self._closed = True
        await self._redis.aclose()


class RedisSink(_RedisBase):
    """Append records as JSON to a Redis list (RPUSH) or stream (XADD, field ``record``).

    Args:
        url: ``redis://[user:password@]host:port/db`` (``rediss://``, ``unix://`` too).
        key: the list or stream to append to.
        mode: ``"list"`` or ``"stream"``.
        retry: how long to retry while the server is away (default 30 s).
        timeout: seconds allowed for one round trip (connect, send, reply).

    Example::

        async with RedisSink("redis://127.0.0.1:6379/0", key="scan:1") as sink:
            await sink.write(records)
    """

    def __init__(
        self,
        url: str,
        key: str = "aioscout:results",
        *,
        mode: Literal["list", "stream"] = "list",
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> None:
        if mode not in ("list", "stream"):
            raise ValueError(f"Redis sink mode must be 'list' or 'stream', not {mode!r}")
        super().__init__(url, key, retry, timeout)
        self._mode = mode
        self._id = uuid.uuid4().hex
        self._seq = 0
        self._seq_key = f"{key}:aioscout:batches"
        self._script = self._redis.register_script(_APPEND)
        self._lock = asyncio.Lock()

    async def write(self, records: Sequence[Record]) -> None:
        """Append a batch; returns only once the server stored all of it, else SinkError."""
        if not records:
            return
        async with self._lock:
            if self._closed:
                raise SinkError(f"cannot write results to Redis {self.name}: the sink is closed")
            chunks: list[tuple[int, list[bytes]]] = []
            for start in range(0, len(records), CHUNK):
                self._seq += 1
                encoded = [encode_record(r) for r in records[start : start + CHUNK]]
                chunks.append((self._seq, encoded))
            await self._call(lambda: self._send(chunks), "write results to")

    async def _send(self, chunks: list[tuple[int, list[bytes]]]) -> None:
        keys = [self._key, self._seq_key]
        async with self._redis.pipeline(transaction=False) as pipe:
            for seq, values in chunks:
                await self._script(
                    keys=keys, args=[self._id, seq, self._mode, *values], client=pipe
                )
            await pipe.execute()

    async def flush(self) -> None:
        """Nothing to do: a batch is stored on the server when :meth:`write` returns."""

    async def aclose(self) -> None:
        """Forget this sink's sequence field on the server (best effort) and disconnect."""
        if self._closed:
            return
        if self._seq:
            with contextlib.suppress(redis_errors.RedisError, OSError, TimeoutError):
                async with asyncio.timeout(self._timeout):
                    await self._redis.hdel(self._seq_key, self._id)
        await super().aclose()


class RedisSource(_RedisBase):
    """Targets popped from a Redis list, as an async iterator of lines.

    Items are taken from the head (LPOP, many at a time; BLPOP when the list
    is empty). Iteration ends once the list has stayed empty for
    ``idle_timeout`` seconds. Bytes that are not UTF-8 become U+FFFD.
    Popped items are removed: a run that dies loses the ones it had not
    finished, unless its checkpoint covers them.

    Args:
        url: ``redis://[user:password@]host:port/db``.
        key: the list to read.
        idle_timeout: seconds of empty list after which iteration stops.
        batch: items taken per LPOP.
        retry: how long to retry while the server is away.
        timeout: seconds allowed for one round trip.

    Example::

        async with RedisSource("redis://127.0.0.1:6379/0", "targets") as source:
            async for line in source:
                ...
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        idle_timeout: float = 5.0,
        batch: int = 500,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> None:
        if idle_timeout < 0 or batch < 1:
            raise ValueError("idle_timeout must be >= 0 and batch >= 1")
        super().__init__(url, key, retry, timeout)
        self._idle = idle_timeout
        self._batch = batch

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        idle_since = loop.time()
        while not self._closed:
            items = await self._call(self._pop_many, "read targets from")
            if items:
                for item in items:
                    yield item.decode("utf-8", "replace").rstrip("\r\n")
                idle_since = loop.time()
                continue
            remaining = self._idle - (loop.time() - idle_since)
            if remaining <= 0:
                return
            wait = min(remaining, 1.0, max(self._timeout - 1.0, 0.01))
            popped = await self._call(
                functools.partial(self._pop_blocking, wait), "read targets from"
            )
            if popped is not None:
                yield popped.decode("utf-8", "replace").rstrip("\r\n")
                idle_since = loop.time()

    async def _pop_many(self) -> list[bytes]:
        result = await cast(
            "Awaitable[list[bytes] | None]", self._redis.lpop(self._key, self._batch)
        )
        return result or []

    async def _pop_blocking(self, wait: float) -> bytes | None:
        result = await cast(
            "Awaitable[tuple[bytes, bytes] | list[bytes] | None]",
            self._redis.blpop([self._key], timeout=wait),
        )
        return None if result is None else result[1]

"""Line sources: files, stdin and iterables as async streams of ``str``, read lazily.

Why a reader thread: reading a file or a pipe blocks, so chunks of at most
64 KiB are read in a thread and handed to the loop. The thread is a daemon of
its own rather than the default executor's: a read from a pipe whose writer
is idle can block for ever, and asyncio's shutdown waits for the executor's
threads, so Ctrl-C would hang. A daemon thread left blocked costs nothing at
exit.

A regular file is the exception: a local file read does not wait for
anybody, so it is read in the loop's thread in large chunks (no thread to
compete with the loop for the interpreter, no hand-over per chunk).

Each physical line becomes exactly one ``str`` (empty lines too), except the
empty remainder after a final newline. :func:`open_source`, what the commands
read, then skips blank lines and ``#`` comments of files and stdin (they are
not targets, so they are not items: they get no record and no item number)
and takes the target out of a JSON record line (see :func:`record_target`). Bytes are
decoded as UTF-8 with ``errors="replace"``: invalid input becomes U+FFFD and
the parser rejects the line. A line longer than ``max_line`` characters is cut
to ``max_line + 1`` (so the parser rejects it) and the rest of it is skipped
without being buffered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import queue
import re
import stat
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import aclosing
from typing import BinaryIO, Literal

import orjson

from aioscout._exceptions import ConfigError

__all__ = [
    "CHUNK_SIZE",
    "LineStream",
    "file_lines",
    "iter_lines",
    "open_source",
    "record_target",
    "stdin_lines",
    "stream_lines",
    "target_lines",
]

CHUNK_SIZE = 64 * 1024
"""Bytes asked for per read."""

FILE_CHUNK_SIZE = 256 * 1024
"""Bytes asked for per read of a regular file (read in the loop's thread)."""

_BOM = b"\xef\xbb\xbf"

_Request = tuple[asyncio.AbstractEventLoop, "asyncio.Future[bytes]"]


def _deliver(fut: asyncio.Future[bytes], data: bytes, exc: BaseException | None) -> None:
    if fut.done():  # the reader was cancelled while the thread was reading
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(data)


class _ThreadReader:
    """Reads chunks of a binary stream in a daemon thread, one chunk per request."""

    def __init__(self, stream: BinaryIO, *, chunk_size: int, close_stream: bool) -> None:
        self._stream = stream
        self._chunk_size = chunk_size
        self._close_stream = close_stream
        self._requests: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        read1 = getattr(stream, "read1", None)
        self._read: Callable[[int], bytes] = read1 if callable(read1) else stream.read

    async def read(self) -> bytes:
        """The next chunk; ``b""`` at end of stream."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="aioscout-input", daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()
        self._requests.put((loop, fut))
        return await fut

    def close(self) -> None:
        """Stop the thread after any read in progress; close the stream if owned."""
        if self._thread is None:
            if self._close_stream:
                self._stream.close()
            return
        self._requests.put(None)

    def _run(self) -> None:
        try:
            while (request := self._requests.get()) is not None:
                loop, fut = request
                data, error = b"", None
                try:
                    data = self._read(self._chunk_size)
                except Exception as exc:  # handed to the awaiting coroutine
                    error = exc
                try:
                    loop.call_soon_threadsafe(_deliver, fut, data, error)
                except RuntimeError:  # the loop is closed: nobody is waiting
                    return
        finally:
            if self._close_stream:
                self._stream.close()


class _FileReader:
    """Reads chunks of a regular file in the loop's thread (a local read never waits)."""

    def __init__(self, stream: BinaryIO, *, chunk_size: int, close_stream: bool) -> None:
        self._stream = stream
        self._chunk_size = chunk_size
        self._close_stream = close_stream

    async def read(self) -> bytes:
        """The next chunk; ``b""`` at end of file."""
        return self._stream.read(self._chunk_size)

    def close(self) -> None:
        """Close the stream if owned."""
        if self._close_stream:
            self._stream.close()


def _is_regular(stream: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # no descriptor (BytesIO, ...)
        return False


def _reader(
    stream: BinaryIO, *, chunk_size: int, close_stream: bool
) -> _ThreadReader | _FileReader:
    if _is_regular(stream):
        return _FileReader(
            stream,
            chunk_size=chunk_size,
            close_stream=close_stream,
        )
    return _ThreadReader(stream, chunk_size=chunk_size, close_stream=close_stream)


def _decode(raw: bytes, max_line: int, byte_cap: int) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if len(raw) > byte_cap:
        raw = raw[:byte_cap]
    text = raw.decode("utf-8", "replace")
    if len(text) > max_line:
        text = text[: max_line + 1]
    return text


def _decode_lines(raw: bytes, max_line: int, byte_cap: int) -> list[str]:
    """The lines of ``raw`` (complete lines without the last newline), each as _decode does it.

    One decode and one split for the whole chunk: "\\n" never occurs inside a UTF-8
    sequence, so this is the same as decoding line by line whenever no line
    needs cutting (checked, else line by line) and none ends in "\\r".
    """
    lines = raw.decode("utf-8", "replace").split("\n")
    if max(map(len, lines)) > max_line:
        return [_decode(part, max_line, byte_cap) for part in raw.split(b"\n")]
    if b"\r" in raw:
        return [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


async def _split_lines(
    reader: _ThreadReader | _FileReader, name: str, max_line: int
) -> AsyncGenerator[list[str], None]:
    """The lines of what ``reader`` reads, a list per chunk read."""
    # A UTF-8 character is 1 to 4 bytes (an invalid byte decodes to one U+FFFD),
    # so a line of more than 4 * (max_line + 1) bytes surely has too many
    # characters: keep that much of it and skip the rest.
    byte_cap = 4 * (max_line + 1)
    pending = b""
    skipping = False
    head: bytes | None = b""  # the first bytes, until a BOM can be told apart (then None)
    try:
        while True:
            try:
                chunk = await reader.read()
            except OSError as exc:
                raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from exc
            if not chunk:
                if head:  # the input is shorter than a BOM: it is data
                    pending = head
                break
            if head is not None:
                chunk = head + chunk
                if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                    head = chunk  # a BOM may be split over reads (a pipe, a small chunk)
                    continue
                head = None
                if chunk.startswith(_BOM):
                    chunk = chunk[len(_BOM) :]
            if skipping:
                newline = chunk.find(b"\n")
                if newline < 0:
                    continue
                yield [_decode(pending, max_line, byte_cap)]
                pending, skipping = b"", False
                chunk = chunk[newline + 1 :]
            data = pending + chunk if pending else chunk
            cut = data.rfind(b"\n")
            pending = data[cut + 1 :]
            if cut >= 0:
                yield _decode_lines(data[:cut], max_line, byte_cap)
            if len(pending) > byte_cap:
                pending, skipping = pending[:byte_cap], True
        if pending or skipping:
            yield [_decode(pending, max_line, byte_cap)]
    finally:
        reader.close()


class LineStream:
    """An async stream of lines that can also be read a list at a time.

    ``async for line in stream`` gives one line per step; ``batches()`` gives
    the lines of each chunk read as one list, which is what the engine reads
    (a step per chunk, not per line, on a ten-million-line input). Read it one
    way only, once.
    """

    __slots__ = ("_batches", "_lines")

    def __init__(self, batches: AsyncGenerator[list[str], None]) -> None:
        self._batches = batches
        self._lines: AsyncGenerator[str, None] | None = None

    def batches(self) -> AsyncGenerator[list[str], None]:
        """The lines, a list per chunk read."""
        return self._batches

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        if self._lines is None:
            self._lines = self._one_by_one()
        return await anext(self._lines)

    async def _one_by_one(self) -> AsyncGenerator[str, None]:
        async with aclosing(self._batches) as batches:
            async for batch in batches:
                for line in batch:
                    yield line

    async def aclose(self) -> None:
        """Stop reading and release the file or the reader thread."""
        if self._lines is not None:
            await self._lines.aclose()
        await self._batches.aclose()


def stream_lines(
    stream: BinaryIO, *, max_line: int = 8192, chunk_size: int = CHUNK_SIZE, name: str = "input"
) -> LineStream:
    """The lines of an open binary stream, read lazily; the caller keeps and closes it.

    Example::

        with open("targets.txt", "rb") as fh:
            async for line in stream_lines(fh):
                ...
    """
    reader = _reader(stream, chunk_size=chunk_size, close_stream=False)
    return LineStream(_split_lines(reader, name, max_line))


def file_lines(path: str, *, max_line: int = 8192) -> LineStream:
    """The lines of a file, read lazily (a regular file in 256 KiB chunks in the loop's
    thread, anything else, such as a FIFO, in a reader thread).

    Raises:
        ConfigError: the file cannot be opened or read (on first iteration).

    Example::

        async for line in file_lines("targets.txt"):
            print(line)
    """
    return LineStream(_file_batches(path, max_line))


async def _file_batches(path: str, max_line: int) -> AsyncGenerator[list[str], None]:
    try:
        stream = await asyncio.to_thread(open, path, "rb")
    except OSError as exc:
        raise ConfigError(f"cannot read input file {path!r}: {exc.strerror or exc}") from exc
    reader = _reader(stream, chunk_size=FILE_CHUNK_SIZE, close_stream=True)
    async with aclosing(_split_lines(reader, repr(path), max_line)) as batches:
        async for batch in batches:
            yield batch


def stdin_lines(*, max_line: int = 8192, stream: BinaryIO | None = None) -> LineStream:
    """The lines of standard input (a pipe, a file or a terminal), read lazily.

    A pipe's lines arrive as soon as they are written, not per 64 KiB.
    ``stream`` replaces ``sys.stdin.buffer`` (tests, embedding); it is not closed.
    """
    source = stream if stream is not None else _stdin_buffer()
    reader = _reader(source, chunk_size=CHUNK_SIZE, close_stream=False)
    return LineStream(_split_lines(reader, "standard input", max_line))


def iter_lines(items: Iterable[str]) -> LineStream:
    """The items of an iterable (command-line arguments, a list) as an async stream."""
    return LineStream(_iter_batches(items))


async def _iter_batches(items: Iterable[str]) -> AsyncGenerator[list[str], None]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= 4096:
            yield batch
            batch = []
    if batch:
        yield batch


def _stdin_buffer() -> BinaryIO:
    stdin = sys.stdin
    if stdin is None:
        raise ConfigError("no standard input to read targets from")
    return stdin.buffer


def _check_readable(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read input file {path!r}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(mode):
        raise ConfigError(f"input file {path!r} is a directory")


async def _chain(*sources: LineStream) -> AsyncGenerator[list[str], None]:
    for source in sources:
        async with aclosing(source.batches()) as batches:
            async for batch in batches:
                yield batch


Want = Literal["url", "name"]
"""What a command takes from a JSON record: a URL (or host and port), or a DNS name."""

# A line that is blank, a comment or a JSON object, anywhere in a joined batch.
_SPECIAL_LINE = re.compile(r"^[ \t\r\f\v]*(?:$|[#{])", re.MULTILINE)


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _url_host(url: str | None) -> str | None:
    if url is None:
        return None
    rest = url.partition("://")[2] or url
    authority = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    if authority.startswith("["):
        return authority[1:].partition("]")[0] or None
    return authority.partition(":")[0] or None


def _with_port(host: str, port: object) -> str:
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool):
        return host
    try:
        bracket = ipaddress.ip_address(host).version == 6
    except ValueError:
        bracket = False
    return f"[{host}]:{port}" if bracket else f"{host}:{port}"


def record_target(record: dict[str, object], want: Want = "url") -> str | None:
    """The target a JSON record names, or ``None`` if it names none.

    ``want="url"`` (``http``, ``fetch``): ``url``, else ``name`` or ``host``
    with ``port`` (``host:port``), else ``input``. ``want="name"`` (``dns``):
    ``name``, else the host of ``url``, else ``host``, else ``input``. This
    reads aioscout's own records (``dns``: ``name``; ``http``: ``url``, or
    ``host``/``port`` when it failed), dnsx's (``host``) and httpx's (``url``).

    >>> record_target({"name": "www.example.com", "answers": []})
    'www.example.com'
    >>> record_target({"host": "::1", "port": "8443"})
    '[::1]:8443'
    >>> record_target({"url": "https://a.example:8443/x"}, "name")
    'a.example'
    """
    url = _text(record.get("url"))
    name = _text(record.get("name"))
    host = _text(record.get("host"))
    if want == "name":
        return name or _url_host(url) or host or _text(record.get("input"))
    if url is not None:
        return url
    if name or host:
        return _with_port(name or host or "", record.get("port"))
    return _text(record.get("input"))


def _target_of(line: str, want: Want | None) -> str | None:
    """``line`` as a target line: None to skip it (blank, comment), a JSON record's target."""
    text = line.strip()
    if not text or text[0] == "#":
        return None
    if text[0] != "{" or want is None:
        return line
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        return line  # not JSON after all: the parser says what is wrong with it
    if not isinstance(record, dict):
        return line
    return record_target(record, want) or line


async def _target_batches(source: LineStream, want: Want | None) -> AsyncGenerator[list[str], None]:
    async with aclosing(source.batches()) as batches:
        async for batch in batches:
            if _SPECIAL_LINE.search("\n".join(batch)) is None:
                yield batch  # the common case: plain target lines, passed on as they are
                continue
            kept = [t for t in (_target_of(line, want) for line in batch) if t is not None]
            if kept:
                yield kept


def target_lines(source: LineStream, want: Want | None = "url") -> LineStream:
    """The target lines of a file or stdin: blank lines and ``#`` comments skipped,
    JSON records replaced by the target they name (``want``, see :func:`record_target`;
    ``None`` keeps them as they are). A record naming no target is kept whole, so
    the parser rejects it as ``invalid_input``.
    """
    return LineStream(_target_batches(source, want))


def open_source(
    args: Sequence[str],
    list_file: str | None,
    *,
    max_line: int = 8192,
    stdin: BinaryIO | None = None,
    want: Want | None = "url",
) -> LineStream:
    """Where the targets come from: arguments, ``-l FILE`` (``-`` is stdin), or stdin.

    Arguments come first, then the list file, when both are given. With
    neither, standard input is read unless it is a terminal. ``stdin``
    replaces ``sys.stdin.buffer`` for tests and embedding. Lines of the file
    and stdin go through :func:`target_lines` with ``want``; arguments are
    taken as they are (an empty argument is an explicit, invalid target).

    Raises:
        ConfigError: no targets anywhere, or the list file does not exist or
            is a directory (checked now, before anything starts).
    """
    sources: list[LineStream] = []
    if args:
        sources.append(iter_lines(args))
    if list_file == "-":
        sources.append(target_lines(stdin_lines(max_line=max_line, stream=stdin), want))
    elif list_file is not None:
        _check_readable(list_file)
        sources.append(target_lines(file_lines(list_file, max_line=max_line), want))
    if not sources:
        stream = stdin if stdin is not None else _stdin_buffer()
        if stream.isatty():
            raise ConfigError("no targets: give them as arguments, with -l FILE, or on stdin")
        sources.append(target_lines(stdin_lines(max_line=max_line, stream=stream), want))
    return sources[0] if len(sources) == 1 else LineStream(_chain(*sources))

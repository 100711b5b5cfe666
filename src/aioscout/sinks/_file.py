"""An output file that takes whole batches of lines or none of them.

Why: a crash, a full disk or a closed pipe must never leave half a line in a
results file. Each batch arrives as one bytes buffer and is written with one
``os.write`` loop. If a write fails part-way, the file is truncated back to
where the batch began before the write is retried, so the file only ever
grows by whole batches; :meth:`OutputFile.position` is the offset just after
the last whole batch, which a checkpoint records and a resumed run truncates
back to. A crash in the middle of a write (kill -9) can still leave a partial
last line: :func:`truncate_torn_tail` cuts it off before appending again.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from .._exceptions import SinkError
from ._retry import RetryPolicy, in_thread, retry_call

__all__ = ["OutputClosed", "OutputFile", "truncate_torn_tail"]

# Batches up to this size go to a regular file inline: a page-cache copy is
# cheaper than a thread hop. Larger ones, and every write to a pipe or a
# terminal (which may block on a slow reader), run in a thread.
INLINE_LIMIT = 256 * 1024

_FATAL_ERRNOS = frozenset({errno.EPIPE, errno.EBADF, errno.EINVAL, errno.EISDIR})


class OutputClosed(SinkError):
    """The reader of a pipe closed it (``| head -1``): how a reader says "enough".

    A command line ends quietly with status 0 on it; nothing else is lost, since
    nobody reads what would have followed.
    """


def truncate_torn_tail(path: str | os.PathLike[str]) -> int:
    """Cut a trailing partial line (one with no final ``\\n``) from ``path``.

    Returns the new size of the file (0 if it does not exist).
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        end = size
        chunk = 64 * 1024
        while end > 0:
            start = max(0, end - chunk)
            data = os.pread(fd, end - start, start)
            newline = data.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end != size:
            os.ftruncate(fd, end)
            os.fsync(fd)
        return end
    finally:
        os.close(fd)


class OutputFile:
    """A file or stdout that grows by whole batches (see the module docstring).

    Args:
        path: a file path, or ``None`` / ``"-"`` for standard output.
        append: keep existing content (cutting a torn last line first);
            otherwise the file is truncated.
        truncate_at: with ``append``, cut the file to this many bytes first
            (the position a checkpoint recorded).
        retry: how long to keep retrying a failed write.
    """

    def __init__(
        self,
        path: str | None,
        *,
        append: bool = False,
        truncate_at: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._retry = retry or RetryPolicy()
        self._stdout = path is None or path == "-"
        self.name = "standard output" if self._stdout else str(path)
        self._closed = False
        self._sent = 0  # bytes of the current batch already written (pipes only)
        if self._stdout:
            try:
                sys.stdout.flush()
                self._fd = sys.stdout.fileno()
            except (AttributeError, OSError, ValueError):  # replaced or detached sys.stdout
                self._fd = 1
        else:
            assert path is not None
            if append and truncate_at is None:
                truncate_torn_tail(path)
            flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            if not append:
                flags |= os.O_TRUNC
            try:
                self._fd = os.open(path, flags, 0o644)
            except OSError as exc:
                raise SinkError(f"cannot open {self.name} for results: {exc.strerror}") from exc
            if append and truncate_at is not None:
                if truncate_at > os.fstat(self._fd).st_size:
                    os.close(self._fd)
                    raise SinkError(
                        f"cannot resume {self.name}: it is shorter than the checkpoint says"
                    )
                os.ftruncate(self._fd, truncate_at)
        mode = os.fstat(self._fd).st_mode
        self._regular = stat.S_ISREG(mode)
        if self._regular:
            self._pos = os.lseek(self._fd, 0, os.SEEK_END)
        else:
            self._pos = 0

    @property
    def is_regular(self) -> bool:
        """True for a regular file (seekable, truncatable, fsync-able)."""
        return self._regular

    def position(self) -> int:
        """Bytes in the output after the last whole batch written.

        For a file this is an offset in the file (existing content included
        in append mode); after :meth:`flush` returns it is durable.
        """
        return self._pos

    async def write(self, data: bytes) -> None:
        """Write one batch completely, retrying transient errors, or raise SinkError."""
        if self._closed:
            raise SinkError(f"cannot write results to {self.name}: the sink is closed")
        if not data:
            return
        self._sent = 0
        if self._regular and len(data) <= INLINE_LIMIT:

            async def attempt() -> None:
                self._write_sync(data)

        else:

            async def attempt() -> None:
                await in_thread(lambda: self._write_sync(data))

        try:
            await retry_call(
                attempt, policy=self._retry, retryable=_retryable, describe=self._describe
            )
        except SinkError as exc:
            if isinstance(exc.__cause__, BrokenPipeError) and not self._regular:
                raise OutputClosed(str(exc)) from exc.__cause__
            raise

    def _write_sync(self, data: bytes) -> None:
        start = self._pos
        view = memoryview(data)[self._sent :]
        try:
            while view:
                n = os.write(self._fd, view)
                self._sent += n
                view = view[n:]
        except OSError:
            if self._regular and self._sent:
                try:
                    os.ftruncate(self._fd, start)
                    os.lseek(self._fd, start, os.SEEK_SET)
                except OSError:
                    pass  # keep self._sent: the retry resumes from where it stopped
                else:
                    self._sent = 0
            raise
        self._sent = 0
        self._pos = start + len(data)

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, BrokenPipeError) and self._stdout:
            return "cannot write results: output closed"
        if isinstance(exc, OSError) and exc.strerror:
            return f"cannot write results to {self.name}: {exc.strerror}"
        return f"cannot write results to {self.name}: {exc!r}"

    async def flush(self) -> None:
        """Make the batches written so far durable (fsync; nothing for a pipe)."""
        if self._closed or not self._regular:
            return
        fd = self._fd

        async def attempt() -> None:
            await in_thread(lambda: os.fsync(fd))

        await retry_call(attempt, policy=self._retry, retryable=_retryable, describe=self._describe)

    async def aclose(self) -> None:
        """Flush and close the file (standard output is flushed, never closed)."""
        if self._closed:
            return
        try:
            await self.flush()
        finally:
            self._closed = True
            if not self._stdout:
                os.close(self._fd)


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, OSError) and exc.errno not in _FATAL_ERRNOS

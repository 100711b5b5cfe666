"""``--store-responses DIR``: each response saved to a file, with an index.

Layout::

    DIR/index.txt                       one line per saved response: path<TAB>url<TAB>status
    DIR/<safe-host>/<sha1-of-url>.txt   the URL, the status line, the headers,
                                        a blank line, then the body bytes read

Why the paths are built the way they are: the host and the URL come from the
input and from the network (redirects), so they are hostile. The file name is
a SHA-1 of the URL (40 hex digits, nothing else), and the host directory is
reduced to ``[a-z0-9._-]``: no separator, NUL or ``..`` survives, a name
made only of dots becomes ``_``, Windows device names (``con``, ``nul``,
``com1`` …) get a ``_`` prefix, and a name longer than 100 characters is cut
and suffixed with a hash of the original so different long hosts stay apart.
Then, belt and braces, every directory and file is opened relative to the
directory above it with ``O_NOFOLLOW`` (a symlinked host directory or file is
refused with :class:`OSError`, not followed) and the final path is checked to
resolve (``os.path.realpath``) inside ``DIR``.

Each file is written to a temporary name and renamed into place, so a reader
never sees half a response. Writes run in threads (:func:`asyncio.to_thread`),
at most ``max_writers`` at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import stat
import threading
from collections.abc import Sequence

__all__ = ["MAX_HOST_CHARS", "ResponseStore", "safe_name"]

MAX_HOST_CHARS = 100
"""Longest host directory name kept before it is cut and given a hash suffix."""

_UNSAFE = re.compile(r"[^a-z0-9._-]")
_DEVICE = re.compile(r"(?:con|prn|aux|nul|com[0-9]|lpt[0-9]|conin\$|conout\$)", re.ASCII)
_FLAT = re.compile(r"[\t\r\n]")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_INDEX_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC


def safe_name(text: str, *, max_chars: int = MAX_HOST_CHARS) -> str:
    """A file-system-safe, non-empty name made of ``[a-z0-9._-]`` for any text.

    Example::

        >>> safe_name("../../etc/passwd")
        '_.._etc_passwd'
        >>> safe_name("CON")
        '_con'
    """
    name = _UNSAFE.sub("_", text.lower())
    # No leading dot (no "..", no hidden files) and no trailing dot (Windows drops it).
    name = name.lstrip(".").rstrip(".")
    if len(name) > max_chars:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        name = f"{name[:max_chars].rstrip('.')}-{digest}"
    if not name:
        name = "_"
    if _DEVICE.fullmatch(name.partition(".")[0]):
        name = "_" + name
    return name


def _encode(text: str) -> bytes:
    """Header text back to bytes: aiohttp decodes with surrogateescape."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def _one_line(text: str) -> str:
    """No CR, LF or TAB: the record and index formats are line- and tab-based."""
    return _FLAT.sub(lambda m: f"%{ord(m.group()):02X}", text)


def _status_of(status_line: str) -> str:
    parts = status_line.split(None, 2)
    if len(parts) >= 2 and parts[1].isdigit() and len(parts[1]) <= 3:
        return parts[1]
    return _one_line(status_line)[:64] or "-"


def _content(url: str, status_line: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    head = [_one_line(url), _one_line(status_line)]
    head.extend(f"{_one_line(k)}: {_one_line(v)}" for k, v in headers)
    return b"\n".join(_encode(line) for line in head) + b"\n\n" + body


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real.startswith(root + os.sep)


class ResponseStore:
    """Saves responses under one directory, never outside it.

    ``directory`` is created if needed (with its parents) on the first save;
    it may itself be a symlink (the user chose it); nothing below it may be.

    Example::

        store = ResponseStore("responses")
        rel = await store.save("http://127.0.0.1:8080/", "127.0.0.1",
                               "HTTP/1.1 200 OK", [("Server", "x")], b"<html>...")
        # rel == "127.0.0.1/<sha1 of the URL>.txt"
    """

    def __init__(self, directory: str | os.PathLike[str], *, max_writers: int = 8) -> None:
        if max_writers < 1:
            raise ValueError("max_writers must be at least 1")
        self._directory = os.fspath(directory)
        self._root: str | None = None
        self._writers = asyncio.Semaphore(max_writers)
        self._index_lock = threading.Lock()
        self._root_lock = threading.Lock()

    @property
    def directory(self) -> str:
        """The directory as given."""
        return self._directory

    async def save(
        self,
        url: str,
        host: str,
        status_line: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
    ) -> str:
        """Write one response and its index line; returns its path relative to the directory.

        Raises:
            OSError: the disk failed, or a symlink was found where a host
                directory or a response file should be (refused, not followed).
        """
        content = _content(url, status_line, headers, body)
        line = _one_line(url)
        status = _status_of(status_line)
        async with self._writers:
            return await asyncio.to_thread(self._write, host, url, line, status, content)

    def _root_path(self) -> str:
        with self._root_lock:
            if self._root is None:
                os.makedirs(self._directory, exist_ok=True)
                self._root = os.path.realpath(self._directory)
            return self._root

    def _write(self, host: str, url: str, line: str, status: str, content: bytes) -> str:
        root = self._root_path()
        sub = safe_name(host)
        name = hashlib.sha1(url.encode("utf-8", "surrogatepass")).hexdigest() + ".txt"
        rel = f"{sub}/{name}"
        if not _inside(root, os.path.join(root, sub, name)):
            raise OSError(f"refusing to store outside {root}: {rel}")
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sub_fd = self._open_subdir(root_fd, sub)
            try:
                self._write_file(sub_fd, name, content)
            finally:
                os.close(sub_fd)
            self._append_index(root_fd, f"{rel}\t{line}\t{status}\n")
        finally:
            os.close(root_fd)
        return rel

    @staticmethod
    def _open_subdir(root_fd: int, sub: str) -> int:
        with contextlib.suppress(FileExistsError):
            os.mkdir(sub, 0o755, dir_fd=root_fd)
        try:
            fd = os.open(sub, _DIR_FLAGS, dir_fd=root_fd)
        except OSError as exc:
            st = os.stat(sub, dir_fd=root_fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise OSError(exc.errno, f"refusing symlinked directory {sub!r}") from exc
            raise
        if not stat.S_ISDIR(os.fstat(fd).st_mode):  # pragma: no cover - O_DIRECTORY checks
            os.close(fd)
            raise OSError(f"not a directory: {sub!r}")
        return fd

    @staticmethod
    def _write_file(dir_fd: int, name: str, content: bytes) -> None:
        tmp = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, _FILE_FLAGS, 0o644, dir_fd=dir_fd)
        try:
            try:
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            st = _lstat(name, dir_fd)
            if st is not None and not stat.S_ISREG(st.st_mode):
                raise OSError(f"refusing to replace non-file {name!r}")
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise

    def _append_index(self, root_fd: int, entry: str) -> None:
        data = _encode(entry)
        with self._index_lock:
            fd = os.open("index.txt", _INDEX_FLAGS, 0o644, dir_fd=root_fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None

"""``aioscout fetch``: stream whole bodies of URLs to a directory, resuming partial files.

One input line is one http(s) URL; one record (:class:`~aioscout.FetchResult`)
per URL says where the body went, its size and sha256, or why it failed.

How a download goes
-------------------
* The file name is derived from the input URL alone, so a later run finds
  the same name: ``<last path segment>-<12 hex of sha1(url)><extension>``
  (for example ``disk-1a2b3c4d5e6f.iso``), or ``<host>-<hash>`` when the path
  has no last segment. Names keep letters and digits of any script, ``.``,
  ``-`` and ``_`` (anything else becomes ``_``); the stem is capped at 100
  bytes of UTF-8 before the hash, the extension kept; the hash keeps two URLs
  with the same last segment (or two hosts) from writing the same file. Files
  are opened with ``O_NOFOLLOW``: a symlink in the directory is refused, not
  followed, and so is a part file with other hard links.
* The body is written to ``NAME.part`` in 64 KiB reads, hashed as it is
  written (hashing and writing run in a worker thread, one buffer in flight),
  never held in memory; on completion the part is fsync'ed and renamed to
  ``NAME``.
* A ``NAME.part`` left by an interrupted run is resumed (unless
  ``FetchOptions.resume_partial`` is false): its bytes are hashed again
  (streaming, before the request is sent), and the request asks for
  ``Range: bytes=N-``. A ``206`` whose
  ``Content-Range`` starts at ``N`` is appended (``resumed_from = N``); a
  ``200`` means the server ignores ranges, so the part is truncated and the
  download starts over; a ``206`` for another offset or a ``416`` is dropped
  and the URL is requested again without a range.
* A final 4xx/5xx is reported with its ``status`` and the error kind
  ``http_status``, and no file is written; an existing ``.part`` is left
  alone for a later run. Another non-2xx final status writes no file either.
* ``FetchOptions.max_size`` (``--max-size``, 1 GiB by default: large enough
  for the usual artefacts, small enough that a few hundred endless bodies
  cannot fill a disk) caps the bytes one download writes: a body announced or
  found larger stops with ``too_large`` and its part file is removed. Every
  write also leaves ``FetchOptions.min_free`` (256 MiB) free on the disk, or
  stops with ``io`` ("disk full"), part kept.

Time budgets
------------
Downloads can legitimately take hours, so ``Timeouts.total`` is **not** used:
``Timeouts.connect`` bounds the TCP and TLS setup, ``connect + read`` the
wait for the response head, and ``Timeouts.read`` every gap between body
reads. The engine bounds each probe by ``Timeouts.total`` too, so the fetch
command gives the engine a total large enough for the biggest download.

Redirects are followed by hand, up to ``Limits.max_redirects``, with loop
detection; a ``Location`` with a scheme other than http(s) ends with
``blocked_scheme`` and nothing is fetched from it.

Error kinds: the network ones of the HTTP prober (``timeout``, ``refused``,
``reset``, ``tls``, ``protocol``, ``dns``, ``proxy`` …); a connection cut
in the middle of the body is ``reset`` (the ``.part`` stays for a resume);
``io`` for a local disk failure (disk full, permission, a symlink refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import random
import re
import stat
import time
import unicodedata
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from .._config import FetchOptions, HttpOptions, Limits, Timeouts
from .._exceptions import ConfigError, InvalidTarget
from .._models import ErrorInfo, ErrorKind, FetchResult
from ..targets._types import HttpTarget
from ..targets.parse import parse_http_target
from ._errors import ProbeError, classify, map_exceptions
from ._http_core import RedirectChain, cross_origin_names
from ._http_secrets import Redactor, user_secrets
from ._http_session import (
    make_connector,
    make_session,
    make_ssl_context,
    pick_user_agent,
    plan_proxy,
)

__all__ = ["CHUNK", "FetchProbe", "download_name"]

CHUNK = 64 * 1024
"""Bytes asked for per body read."""

_FLUSH = 256 * 1024  # bytes gathered before a write is handed to the worker thread
_REHASH = 1024 * 1024  # bytes per read when hashing an existing part
_MAX_NAME = 100  # bytes (UTF-8) kept of a name's stem
_UNSAFE = re.compile(r"[^\w.-]")  # \w: letters and digits of any script, and "_"
_EXTENSION = re.compile(r"\w{1,10}")
_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", re.IGNORECASE)
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", unicodedata.normalize("NFC", text)).strip(".")


def _cut(text: str) -> str:
    """``text`` cut to ``_MAX_NAME`` bytes of UTF-8 (never inside a character)."""
    data = text.encode("utf-8")
    if len(data) <= _MAX_NAME:
        return text
    return data[:_MAX_NAME].decode("utf-8", "ignore").rstrip(".")


def download_name(url: str) -> str:
    """The file name a URL is saved under (deterministic, so resumes find it).

    Example::

        >>> download_name("http://127.0.0.1:8080/files/disk.iso")
        'disk-abde0956abab.iso'
    """
    digest = hashlib.sha1(url.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    parsed = URL(url)
    segment = _safe(unquote(parsed.raw_path.rsplit("/", 1)[-1]))
    if segment:
        stem, dot, ext = segment.rpartition(".")
        if dot and stem and _EXTENSION.fullmatch(ext):
            return f"{_cut(stem)}-{digest}.{ext}"
        return f"{_cut(segment)}-{digest}"
    host = _cut(_safe((parsed.host or "").lower())) or "download"
    return f"{host}-{digest}"


def _too_large(cap: int, promised: int | None = None) -> ProbeError:
    said = f" (the server announced {promised})" if promised is not None else ""
    return ProbeError(ErrorKind.TOO_LARGE, f"body larger than --max-size {cap} bytes{said}")


def _disk_error(exc: OSError, what: str) -> ProbeError:
    if exc.errno == errno.ENOSPC:
        why = "disk full"
    elif exc.errno == errno.ELOOP:
        why = "refusing to follow a symlink"
    elif exc.errno == errno.EMLINK:
        why = "refusing a part file with other hard links"
    else:
        why = exc.strerror or type(exc).__name__
    return ProbeError(ErrorKind.IO, f"{what}: {why}")


class _PartFile:
    """``NAME.part`` being written: hashing and writing happen in a worker thread.

    At most one buffer is in flight; :meth:`close` never waits for it, so it
    is safe in a ``finally`` of a cancelled task: the descriptor is closed by
    the thread's completion callback.
    """

    def __init__(self, fd: int, hasher: hashlib._Hash, size: int, min_free: int = 0) -> None:
        self.fd = fd
        self.min_free = min_free  # bytes of the disk a write must leave free
        self.hasher = hasher
        self.size = size  # bytes handed over so far
        self._buffer = bytearray()
        self._pending: asyncio.Future[None] | None = None
        self._closed = False

    def _write_sync(self, data: bytearray) -> None:
        vfs = os.fstatvfs(self.fd)
        if vfs.f_bavail * vfs.f_frsize - len(data) < self.min_free:
            raise OSError(errno.ENOSPC, "the disk would be nearly full")
        self.hasher.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    async def _settle(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                await asyncio.shield(pending)
            except OSError as exc:
                raise _disk_error(exc, "write failed") from exc

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        self.size += len(chunk)
        if len(self._buffer) >= _FLUSH:
            await self._hand_over()

    async def _hand_over(self) -> None:
        await self._settle()
        data, self._buffer = self._buffer, bytearray()
        loop = asyncio.get_running_loop()
        self._pending = loop.run_in_executor(None, self._write_sync, data)

    async def finish(self) -> str:
        """Write what is left, fsync; returns the sha256 hex digest."""
        if self._buffer:
            await self._hand_over()
        await self._settle()
        try:
            await asyncio.to_thread(os.fsync, self.fd)
        except OSError as exc:
            raise _disk_error(exc, "fsync failed") from exc
        return self.hasher.hexdigest()

    async def flush(self) -> None:
        """Write the buffer (after an interrupted body) so the part can be resumed."""
        if self._buffer:
            await self._hand_over()
        await self._settle()

    def _close_after(self, pending: asyncio.Future[None]) -> None:
        if not pending.cancelled():
            pending.exception()  # consumed: the download already ended
        os.close(self.fd)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        pending = self._pending
        if pending is not None and not pending.done():
            pending.add_done_callback(self._close_after)
            return
        if pending is not None and not pending.cancelled():
            pending.exception()  # consumed: the error was reported or is moot
        os.close(self.fd)


def _hash_file(fd: int, size: int) -> hashlib._Hash:
    hasher = hashlib.sha256()
    done = 0
    while done < size:
        block = os.pread(fd, min(_REHASH, size - done), done)
        if not block:
            raise OSError(errno.EIO, "part file shrank while hashing")
        hasher.update(block)
        done += len(block)
    return hasher


def _check_part(st: os.stat_result) -> None:
    """Refuse a part that is not a plain file of its own (a planted hard link or device)."""
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "part file is not a regular file")
    if st.st_nlink > 1:
        raise OSError(errno.EMLINK, "part file has other hard links")


def _hash_part(path: str) -> tuple[int, hashlib._Hash]:
    """Size and sha256 of an existing part file ((0, empty hash) when there is none).

    Runs before the request, so a long rehash never eats into the read timeout
    of a response already under way. A symlink or a non-file is refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0, hashlib.sha256()
    try:
        st = os.fstat(fd)
        _check_part(st)
        return st.st_size, _hash_file(fd, st.st_size)
    finally:
        os.close(fd)


def _open_part(path: str, keep: int) -> int:
    """Open (create) the part without following symlinks, keeping its first ``keep`` bytes.

    Returns the descriptor, positioned at ``keep``.
    """
    fd = os.open(path, _OPEN_FLAGS, 0o644)
    try:
        st = os.fstat(fd)
        _check_part(st)
        if st.st_size < keep:
            raise OSError(errno.EIO, "part file shrank")
        os.ftruncate(fd, keep)
        os.lseek(fd, keep, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    if value is None:
        return None
    m = _CONTENT_RANGE.fullmatch(value)
    if m is None:
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


def _range_ok(resp: aiohttp.ClientResponse, offset: int) -> bool:
    parsed = _parse_content_range(resp.headers.get("Content-Range"))
    return parsed is not None and parsed[0] == offset and parsed[1] >= offset


def _expected_size(resp: aiohttp.ClientResponse, kept: int) -> int | None:
    """The full size the response promises, when it says."""
    if resp.status == 206:
        parsed = _parse_content_range(resp.headers.get("Content-Range"))
        if parsed is not None and parsed[2] is not None:
            return parsed[2]
        return None
    declared = resp.headers.get("Content-Length", "").strip()
    if declared.isdigit() and "Transfer-Encoding" not in resp.headers:
        return kept + int(declared)
    return None


def _payload_error(exc: aiohttp.ClientPayloadError, received: int) -> ProbeError:
    """A connection lost mid-body is ``reset``; a malformed body is ``protocol``."""
    text = str(exc)
    if "not enough data" in text.lower() or "not completed" in text.lower():
        return ProbeError(ErrorKind.RESET, f"connection lost after {received} bytes")
    return ProbeError(ErrorKind.PROTOCOL, f"bad body after {received} bytes: {text[:200]}")


def _done_with(resp: aiohttp.ClientResponse) -> None:
    """Back to the pool when fully read, else drop the connection."""
    if resp.content.is_eof():
        resp.release()
    else:
        resp.close()


@dataclass(slots=True)
class _Outcome:
    url: str
    status: int | None = None
    resumed_from: int | None = None
    size: int | None = None
    sha256: str | None = None
    path: str | None = None


class FetchProbe:
    """The download probe plug-in for the engine (see the module docstring).

    Example::

        probe = FetchProbe(FetchOptions(directory="out"), HttpOptions(), Timeouts(),
                           Limits(), concurrency=8, per_host=2)
        await probe.start()
        try:
            line = "http://127.0.0.1:8080/big.bin"
            for target in probe.expand(line):
                record = await probe.probe(line, target)   # record.sha256, record.path
        finally:
            await probe.aclose()
    """

    def __init__(
        self,
        options: FetchOptions,
        http: HttpOptions,
        timeouts: Timeouts,
        limits: Limits,
        *,
        concurrency: int,
        per_host: int,
    ) -> None:
        if concurrency < 1 or per_host < 1:
            raise ConfigError("concurrency and per_host must be at least 1")
        self._options = options
        self._http = http
        self._timeouts = timeouts
        self._limits = limits
        self._concurrency = concurrency
        self._per_host = per_host
        self._proxy = plan_proxy(http)
        self._redactor = Redactor(user_secrets(http, self._proxy.secrets))
        self._session: aiohttp.ClientSession | None = None
        self._busy: dict[str, tuple[asyncio.Lock, int]] = {}
        self._rng = random.Random()

    # -- the engine's side -------------------------------------------------

    def expand(self, line: str) -> Iterator[HttpTarget]:
        """The one target of a line; raises InvalidTarget unless it is an http(s) URL."""
        targets = list(parse_http_target(line, max_cidr_hosts=1, max_line=self._limits.max_line))
        if len(targets) != 1 or targets[0].scheme is None:
            raise InvalidTarget("fetch needs an http:// or https:// URL")
        return iter(targets)

    def host_of(self, target: HttpTarget) -> str:
        """The per-host cap key: the host name or IP."""
        return target.host

    def identity(self, target: HttpTarget) -> str:
        """The normalised URL."""
        return target.url()

    def failed(self, line: str, target: HttpTarget | None, error: ErrorInfo) -> FetchResult:
        """The record for a target given up on (invalid input, engine timeout, ...)."""
        error = ErrorInfo(error.kind, self._redactor.redact(error.detail))
        return FetchResult(
            input=line, url=target.url() if target is not None else None, error=error
        )

    async def start(self) -> None:
        """Create the download directory and the HTTP session."""
        if self._session is not None:
            return
        try:
            await asyncio.to_thread(os.makedirs, self._options.directory, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create download directory {self._options.directory!r}: {exc}"
            ) from exc
        connector = make_connector(
            self._http,
            self._proxy,
            make_ssl_context(self._http),
            self._timeouts,
            concurrency=self._concurrency,
            per_host=self._per_host,
        )
        self._session = make_session(connector, self._timeouts, self._limits, total=None)

    async def aclose(self) -> None:
        """Close the session and every pooled connection."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> FetchProbe:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- one download ------------------------------------------------------

    async def probe(self, line: str, target: HttpTarget) -> FetchResult:
        """Download one URL; never raises for network or disk trouble."""
        if self._session is None:
            raise RuntimeError("FetchProbe.start() must be awaited before probe()")
        started = time.perf_counter()
        url = target.url()
        name = download_name(url)
        out = _Outcome(url)
        error: ErrorInfo | None = None
        async with self._claim(name):
            try:
                await self._download(url, name, out)
            except ProbeError as exc:
                error = self._redactor.info(exc)
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                error = self._redactor.info(classify(exc))
            except Exception as exc:  # a bug: still one record
                bug = ProbeError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {str(exc)[:200]}")
                error = self._redactor.info(bug)
        return FetchResult(
            input=line,
            url=self._redactor.redact(out.url),
            status=out.status,
            path=out.path,
            size=out.size,
            sha256=out.sha256,
            resumed_from=out.resumed_from,
            time_ms=round((time.perf_counter() - started) * 1000, 1),
            error=error,
        )

    @contextlib.asynccontextmanager
    async def _claim(self, name: str) -> AsyncIterator[None]:
        """One download per file name at a time (the same URL twice without dedup)."""
        lock, users = self._busy.get(name, (asyncio.Lock(), 0))
        self._busy[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._busy[name]
            if users <= 1:
                del self._busy[name]
            else:
                self._busy[name] = (lock, users - 1)

    async def _download(self, url: str, name: str, out: _Outcome) -> None:
        final = os.path.join(self._options.directory, name)
        part_path = final + ".part"
        offset, hasher = 0, hashlib.sha256()
        if self._options.resume_partial:
            try:
                offset, hasher = await asyncio.to_thread(_hash_part, part_path)
            except OSError as exc:
                raise _disk_error(exc, "cannot use part file") from exc
        resp = await self._request(url, offset, out)
        try:
            if offset and (
                resp.status == 416 or (resp.status == 206 and not _range_ok(resp, offset))
            ):
                _done_with(resp)
                offset = 0
                resp = await self._request(url, 0, out)
            if resp.status >= 400:
                raise ProbeError(ErrorKind.HTTP_STATUS, f"server answered {resp.status}")
            if not 200 <= resp.status < 300:
                return
            keep = offset if resp.status == 206 and offset and _range_ok(resp, offset) else 0
            cap = self._options.max_size
            promised = _expected_size(resp, keep)
            if cap and promised is not None and promised > cap:
                await self._drop_part(part_path)
                raise _too_large(cap, promised)
            try:
                fd = await asyncio.to_thread(_open_part, part_path, keep)
            except OSError as exc:
                raise _disk_error(exc, "cannot open part file") from exc
            part = _PartFile(fd, hasher if keep else hashlib.sha256(), keep, self._options.min_free)
            try:
                out.resumed_from = keep or None
                await self._stream(resp, part, out)
                out.sha256 = await part.finish()
            except ProbeError as exc:
                if exc.kind is ErrorKind.TOO_LARGE:
                    part.close()
                    await self._drop_part(part_path)
                    out.size = None
                raise
            finally:
                part.close()
        finally:
            _done_with(resp)
        out.size = part.size
        expected = _expected_size(resp, keep)
        if expected is not None and expected != part.size:
            out.sha256 = None
            raise ProbeError(ErrorKind.RESET, f"body cut: {part.size} of {expected} bytes received")
        try:
            await asyncio.to_thread(os.replace, part_path, final)
        except OSError as exc:
            raise _disk_error(exc, "cannot rename part file") from exc
        out.path = final

    async def _stream(self, resp: aiohttp.ClientResponse, part: _PartFile, out: _Outcome) -> None:
        read_timeout = self._timeouts.read
        try:
            while True:
                try:
                    async with asyncio.timeout(read_timeout):
                        chunk = await resp.content.read(CHUNK)
                except TimeoutError as exc:
                    raise ProbeError(ErrorKind.TIMEOUT, "read timed out") from exc
                except aiohttp.ClientPayloadError as exc:
                    raise _payload_error(exc, part.size) from exc
                except (aiohttp.ClientError, OSError) as exc:
                    raise classify(exc) from exc
                if not chunk:
                    return
                if self._options.max_size and part.size + len(chunk) > self._options.max_size:
                    raise _too_large(self._options.max_size)
                await part.write(chunk)
        except ProbeError as exc:
            if exc.kind not in (ErrorKind.IO, ErrorKind.TOO_LARGE):
                await part.flush()  # keep every byte received for a resume
            out.size = part.size
            raise

    async def _drop_part(self, part_path: str) -> None:
        """Remove a part file that must not stay (a download past ``max_size``)."""
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(os.unlink, part_path)

    def _headers(self, offset: int) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in self._http.headers:
            headers.add(name.strip(), value.strip())
        if "User-Agent" not in headers:
            headers["User-Agent"] = pick_user_agent(self._http, self._rng)
        headers.setdefault("Accept", "*/*")
        # The bytes on disk are the bytes sent: no content coding to undo.
        headers["Accept-Encoding"] = "identity"
        if self._http.cookies and "Cookie" not in headers:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self._http.cookies)
        if offset > 0:
            headers["Range"] = f"bytes={offset}-"
        return headers

    async def _request(self, url: str, offset: int, out: _Outcome) -> aiohttp.ClientResponse:
        """GET with redirects followed by hand; returns the final, unread response."""
        assert self._session is not None
        headers = self._headers(offset)
        current = URL(url)
        chain = RedirectChain(
            self._limits.max_redirects,
            headers,
            strip=cross_origin_names(
                self._http.headers, keep_user_headers=self._http.keep_headers_cross_origin
            ),
            restore=(
                ("User-Agent", pick_user_agent(self._http, self._rng)),
                ("Accept", "*/*"),
            ),
        )
        while True:
            chain.enter(str(current))
            out.url = str(current)
            sent = CIMultiDict(headers)
            proxy_headers = None
            if self._proxy.auth is not None:
                proxy_headers = {"Proxy-Authorization": self._proxy.auth}
                if current.scheme == "http":
                    sent["Proxy-Authorization"] = self._proxy.auth
            with map_exceptions():
                async with asyncio.timeout(self._timeouts.connect + self._timeouts.read):
                    resp = await self._session.get(
                        current,
                        headers=sent,
                        allow_redirects=False,
                        proxy=self._proxy.url,
                        proxy_headers=proxy_headers,
                        server_hostname=self._http.sni,
                    )
            out.status = resp.status
            try:
                nxt = chain.next(
                    str(current), current, resp.status, resp.headers.get("Location"), follow=True
                )
            except BaseException:
                resp.close()
                raise
            if nxt is None:
                return resp
            resp.close()
            current = nxt

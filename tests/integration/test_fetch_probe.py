"""FetchProbe against real aiohttp servers on 127.0.0.1: bodies, resume, redirects, errors."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from aioscout._config import FetchOptions, HttpOptions, Limits, Timeouts
from aioscout._exceptions import InvalidTarget
from aioscout._models import ErrorKind, FetchResult
from aioscout.engine.protocols import Probe
from aioscout.probes.fetch import FetchProbe, download_name
from aioscout.targets import HttpTarget

SIZE = 6 * 1024 * 1024 + 12345  # several MiB and not a multiple of the chunk
CUT_AT = 2 * 1024 * 1024 + 777


@dataclass
class Server:
    base: str
    data: bytes
    sha: str
    ranges: list[str | None] = field(default_factory=list)
    hang: asyncio.Event = field(default_factory=asyncio.Event)
    sent: asyncio.Event = field(default_factory=asyncio.Event)


def _blob() -> bytes:
    seed = hashlib.sha256(b"aioscout fetch").digest()
    return (seed * (SIZE // len(seed) + 1))[:SIZE]


@pytest.fixture(scope="module")
def blob_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = _blob()
    path = tmp_path_factory.mktemp("srv") / "blob.bin"
    path.write_bytes(data)
    return path, data


@pytest.fixture
async def server(blob_file: tuple[Path, bytes]) -> AsyncIterator[Server]:
    path, data = blob_file
    srv = Server("", data, hashlib.sha256(data).hexdigest())

    async def file_(request: web.Request) -> web.StreamResponse:
        srv.ranges.append(request.headers.get("Range"))
        return web.FileResponse(path)

    async def cut(request: web.Request) -> web.StreamResponse:
        srv.ranges.append(request.headers.get("Range"))
        if "Range" in request.headers:
            return web.FileResponse(path)
        resp = web.StreamResponse()
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data[:CUT_AT])
        assert request.transport is not None
        request.transport.close()
        return resp

    async def norange(request: web.Request) -> web.StreamResponse:
        srv.ranges.append(request.headers.get("Range"))
        return web.Response(body=data, content_type="application/octet-stream")

    async def badrange(request: web.Request) -> web.StreamResponse:
        srv.ranges.append(request.headers.get("Range"))
        if "Range" in request.headers:
            return web.Response(
                status=206, body=data[5:10], headers={"Content-Range": f"bytes 5-9/{len(data)}"}
            )
        return web.Response(body=data)

    async def stall(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data[: int(request.query.get("n", "1000"))])
        srv.sent.set()
        await srv.hang.wait()
        return resp

    async def to_file(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("file:///etc/passwd")

    async def to_gopher(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("gopher://127.0.0.1/x")

    async def hop(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/dir/blob.bin")

    async def loop(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/loop")

    app = web.Application()
    app.router.add_get("/dir/blob.bin", file_)
    app.router.add_get("/cut.bin", cut)
    app.router.add_get("/norange.bin", norange)
    app.router.add_get("/badrange.bin", badrange)
    app.router.add_get("/stall.bin", stall)
    app.router.add_get("/to-file", to_file)
    app.router.add_get("/to-gopher", to_gopher)
    app.router.add_get("/hop", hop)
    app.router.add_get("/loop", loop)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    srv.base = f"http://127.0.0.1:{port}"
    try:
        yield srv
    finally:
        srv.hang.set()
        await runner.cleanup()


def make_probe(directory: Path, **timeouts: float) -> FetchProbe:
    return FetchProbe(
        FetchOptions(directory=str(directory)),
        HttpOptions(),
        Timeouts(**timeouts),
        Limits(),
        concurrency=8,
        per_host=4,
    )


async def fetch(directory: Path, url: str, **timeouts: float) -> FetchResult:
    async with make_probe(directory, **timeouts) as probe:
        (target,) = probe.expand(url)
        return await probe.probe(url, target)


def only_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_multi_mb_body_streamed_with_sha256(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/dir/blob.bin"
    rec = await fetch(tmp_path, url)
    assert rec.error is None
    assert rec.status == 200
    assert rec.size == SIZE
    assert rec.sha256 == server.sha
    assert rec.resumed_from is None
    assert rec.path == str(tmp_path / download_name(url))
    assert Path(rec.path).read_bytes() == server.data  # noqa: ASYNC240
    assert only_files(tmp_path) == [download_name(url)]
    assert server.ranges == [None]


async def test_interrupted_download_resumes_with_range(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/cut.bin"
    first = await fetch(tmp_path, url)
    assert first.error is not None and first.error.kind == ErrorKind.RESET
    assert first.path is None and first.sha256 is None
    part = tmp_path / (download_name(url) + ".part")
    # Every byte handed over by the client library is on disk (it may keep
    # back the tail it had buffered when the connection dropped).
    kept = part.stat().st_size
    assert first.size == kept
    assert 0 < kept <= CUT_AT
    assert part.read_bytes() == server.data[:kept]

    second = await fetch(tmp_path, url)
    assert second.error is None
    assert server.ranges == [None, f"bytes={kept}-"]
    assert second.status == 206
    assert second.resumed_from == kept
    assert second.size == SIZE
    assert second.sha256 == server.sha
    assert not part.exists()
    got = Path(str(second.path)).read_bytes()  # noqa: ASYNC240
    assert hashlib.sha256(got).hexdigest() == server.sha


async def test_server_without_range_restarts(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/norange.bin"
    part = tmp_path / (download_name(url) + ".part")
    part.write_bytes(b"stale bytes that must not survive")
    rec = await fetch(tmp_path, url)
    assert server.ranges == ["bytes=33-"]
    assert rec.error is None
    assert rec.status == 200
    assert rec.resumed_from is None
    assert rec.sha256 == server.sha and rec.size == SIZE
    assert not part.exists()


async def test_complete_part_gets_416_and_is_fetched_again(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/dir/blob.bin"
    (tmp_path / (download_name(url) + ".part")).write_bytes(server.data)
    rec = await fetch(tmp_path, url)
    assert server.ranges == [f"bytes={SIZE}-", None]
    assert rec.error is None and rec.status == 200 and rec.resumed_from is None
    assert rec.sha256 == server.sha


async def test_mismatched_content_range_refetches_whole(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/badrange.bin"
    (tmp_path / (download_name(url) + ".part")).write_bytes(b"x" * 100)
    rec = await fetch(tmp_path, url)
    assert server.ranges == ["bytes=100-", None]
    assert rec.error is None and rec.resumed_from is None
    assert rec.sha256 == server.sha


async def test_resume_disabled_starts_over(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/dir/blob.bin"
    (tmp_path / (download_name(url) + ".part")).write_bytes(server.data[:10])
    probe = FetchProbe(
        FetchOptions(directory=str(tmp_path), resume_partial=False),
        HttpOptions(),
        Timeouts(),
        Limits(),
        concurrency=2,
        per_host=2,
    )
    async with probe:
        rec = await probe.probe(url, next(iter(probe.expand(url))))
    assert server.ranges == [None]
    assert rec.sha256 == server.sha and rec.resumed_from is None


async def test_redirect_followed(server: Server, tmp_path: Path) -> None:
    rec = await fetch(tmp_path, f"{server.base}/hop")
    assert rec.error is None
    assert rec.url == f"{server.base}/dir/blob.bin"
    assert rec.sha256 == server.sha
    assert rec.path == str(tmp_path / download_name(f"{server.base}/hop"))


@pytest.mark.parametrize(("path", "scheme"), [("/to-file", "file"), ("/to-gopher", "gopher")])
async def test_redirect_to_other_scheme_blocked(
    server: Server, tmp_path: Path, path: str, scheme: str
) -> None:
    rec = await fetch(tmp_path, server.base + path)
    assert rec.error is not None
    assert rec.error.kind == ErrorKind.BLOCKED_SCHEME
    assert scheme in rec.error.detail
    assert rec.path is None and rec.sha256 is None
    assert only_files(tmp_path) == []


async def test_redirect_loop(server: Server, tmp_path: Path) -> None:
    rec = await fetch(tmp_path, f"{server.base}/loop")
    assert rec.error is not None and rec.error.kind == ErrorKind.REDIRECT_LOOP


async def test_not_found_is_an_http_status_error_not_a_file(server: Server, tmp_path: Path) -> None:
    rec = await fetch(tmp_path, f"{server.base}/missing.bin")
    assert rec.status == 404
    assert rec.error is not None and rec.error.kind is ErrorKind.HTTP_STATUS
    assert rec.path is None and rec.sha256 is None
    assert only_files(tmp_path) == []


async def test_stalled_body_times_out_and_keeps_part(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/stall.bin"
    rec = await fetch(tmp_path, url, read=0.1)
    assert rec.error is not None and rec.error.kind == ErrorKind.TIMEOUT
    assert rec.size == 1000
    assert (tmp_path / (download_name(url) + ".part")).stat().st_size == 1000


async def test_refused(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = await fetch(tmp_path, f"http://127.0.0.1:{port}/x.bin")
    assert rec.error is not None and rec.error.kind == ErrorKind.REFUSED
    assert only_files(tmp_path) == []


async def test_symlinked_part_refused_as_io(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/dir/blob.bin"
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / (download_name(url) + ".part")).symlink_to(victim)
    rec = await fetch(out, url)
    assert rec.error is not None and rec.error.kind == ErrorKind.IO
    assert victim.read_bytes() == b"keep"


async def test_same_url_twice_at_once(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/dir/blob.bin"
    async with make_probe(tmp_path) as probe:
        (target,) = probe.expand(url)
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(probe.probe(url, target)) for _ in range(2)]
    for task in tasks:
        assert task.result().sha256 == server.sha
    assert only_files(tmp_path) == [download_name(url)]


@pytest.mark.parametrize("line", ["ftp://127.0.0.1/x", "127.0.0.1/x.bin", "127.0.0.0/30", ""])
def test_expand_rejects_non_urls(tmp_path: Path, line: str) -> None:
    with pytest.raises(InvalidTarget):
        list(make_probe(tmp_path).expand(line))


def test_download_names() -> None:
    a = download_name("http://127.0.0.1/a/disk.iso")
    b = download_name("http://127.0.0.2/b/disk.iso")
    assert a != b and a.startswith("disk-") and a.endswith(".iso")
    assert download_name("http://127.0.0.1/").startswith("127.0.0.1-")
    evil = download_name("http://h/%2e%2e%2f%2e%2e%2fetc%2fpasswd")
    assert "/" not in evil and not evil.startswith(".")
    assert len(download_name("http://h/" + "x" * 5000)) <= 100 + 13
    assert download_name("http://h/..").startswith("h-")


def test_failed_record() -> None:
    from aioscout._models import ErrorInfo

    probe = make_probe(Path("."))
    (target,) = probe.expand("http://127.0.0.1/a.bin")
    rec = probe.failed("line", target, ErrorInfo(ErrorKind.TIMEOUT, "slow"))
    assert rec.url == "http://127.0.0.1/a.bin" and rec.error == ErrorInfo(ErrorKind.TIMEOUT, "slow")
    assert probe.failed("bad", None, ErrorInfo(ErrorKind.INVALID_INPUT, "x")).url is None


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: writes past it fail with ENOSPC, for real."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except FileNotFoundError:
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10, check=False)


async def test_disk_full_is_io(server: Server, tiny_fs: Path) -> None:
    rec = await fetch(tiny_fs, f"{server.base}/dir/blob.bin")
    assert rec.error is not None and rec.error.kind == ErrorKind.IO
    assert "disk full" in rec.error.detail
    assert rec.path is None
    os.sync()


async def test_cancelled_download_propagates_and_keeps_a_prefix(
    server: Server, tmp_path: Path
) -> None:
    url = f"{server.base}/stall.bin?n=700000"
    async with make_probe(tmp_path) as probe:
        (target,) = probe.expand(url)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(probe.probe(url, target))
            await server.sent.wait()
            task.cancel()
        assert task.cancelled()
        # The probe is still usable after a cancelled download.
        ok = f"{server.base}/dir/blob.bin"
        rec = await probe.probe(ok, next(iter(probe.expand(ok))))
        assert rec.sha256 == server.sha
    part = tmp_path / (download_name(url) + ".part")
    if part.exists():
        kept = part.read_bytes()
        assert kept == server.data[: len(kept)]


def test_fetch_probe_is_a_probe(tmp_path: Path) -> None:
    probe: Probe[HttpTarget] = make_probe(tmp_path)
    assert probe.identity(next(iter(probe.expand("HTTP://127.0.0.1:80/a")))) == "http://127.0.0.1/a"
    assert probe.host_of(next(iter(probe.expand("http://[::1]:8080/")))) == "::1"

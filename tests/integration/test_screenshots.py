"""Screenshots of lab pages in headless Chromium, and the schemes and cookies it must refuse."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from aioscout.browser.shots import ScreenshotOptions, Screenshotter
from aioscout.lab import Lab
from tests._support.chromium import require_chromium

pytestmark = pytest.mark.slow


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the inflated scanlines (filter bytes included) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], zlib.decompress(idat)


def is_blank(data: bytes) -> bool:
    """True when a PNG is (nearly) one colour: almost no distinct byte values."""
    return len(set(png_pixels(data)[2])) < 8


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


class _Server:
    """A loopback HTTP server of the test's own: a redirect to file:, cookies, a page."""

    def __init__(self) -> None:
        self.cookies: list[str] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        path = head.split(" ", 2)[1]
        for line in head.split("\r\n"):
            if line.lower().startswith("cookie:") and not path.startswith("/favicon"):
                self.cookies.append(line.split(":", 1)[1].strip())
        extra, body, status = "", b"<title>ok</title><h1>Hello from the test server</h1>", "200 OK"
        if path == "/to-file":
            status, extra, body = "302 Found", "Location: file:///etc/passwd\r\n", b""
        elif path == "/js-to-file":
            body = b"<title>js</title><script>location.href='file:///etc/passwd'</script>x"
        elif path == "/set":
            extra = "Set-Cookie: session=secret; Path=/\r\n"
        writer.write(
            f"HTTP/1.1 {status}\r\n{extra}Content-Type: text/html\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[_Server]:
    state = _Server()
    srv = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield state


async def test_lab_pages_are_captured_as_non_blank_pngs(tmp_path: Path) -> None:
    exe = require_chromium()
    options = ScreenshotOptions(directory=str(tmp_path / "shots"), tabs=3, executable=exe)
    async with Lab(sites=6, hostile=False, dns_port=None) as lab, Screenshotter(options) as shooter:
        names = [f"site-{i:05d}.{lab.origin}" for i in range(1, 7)]
        shots = await asyncio.gather(
            *(shooter.shoot(lab.url(name), ip=lab.address_of(name)) for name in names)
        )
    paths = {shot.path for shot in shots}
    assert None not in paths and len(paths) == 6
    for shot in shots:
        assert shot.path is not None and shot.error is None
        width, height, _ = png_pixels(_read(shot.path))
        assert (width, height) == (1280, 800)
        assert not is_blank(_read(shot.path))


async def test_non_web_schemes_are_never_opened(tmp_path: Path, server: _Server) -> None:
    exe = require_chromium()
    options = ScreenshotOptions(directory=str(tmp_path), tabs=2, timeout=10, executable=exe)
    base = f"http://127.0.0.1:{server.port}"
    async with Screenshotter(options) as shooter:
        for url in ("file:///etc/passwd", "javascript:alert(1)", "data:text/html,hi", "ftp://x/"):
            shot = await shooter.shoot(url)
            assert (shot.path, shot.error) == (None, "blocked_scheme"), url
        redirected = await shooter.shoot(f"{base}/to-file")
        assert redirected.path is None and redirected.error is not None
        scripted = await shooter.shoot(f"{base}/js-to-file")
    # the page that tried to go to file: is captured as the http page it is
    assert scripted.error is None and scripted.path is not None
    assert not is_blank(_read(scripted.path))


async def test_no_cookie_is_kept_between_pages(tmp_path: Path, server: _Server) -> None:
    exe = require_chromium()
    options = ScreenshotOptions(directory=str(tmp_path), tabs=1, timeout=10, executable=exe)
    base = f"http://127.0.0.1:{server.port}"
    async with Screenshotter(options) as shooter:
        assert (await shooter.shoot(f"{base}/set")).path is not None
        assert (await shooter.shoot(f"{base}/show")).path is not None
    assert server.cookies == []


def test_screenshot_command_adds_paths_to_each_record(tmp_path: Path) -> None:
    require_chromium()

    async def serve_and_run() -> list[dict[str, object]]:
        async with Lab(sites=3, hostile=False, dns_port=None) as lab:
            name = f"site-00002.{lab.origin}"
            records = [
                {"input": name, "url": lab.url(name), "status": 200, "ip": lab.address_of(name)},
                {"input": "down.test", "url": None, "error": {"kind": "timeout", "detail": ""}},
            ]
            src = tmp_path / "in.jsonl"
            src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + b"junk\n")
            out = tmp_path / "out.jsonl"
            cmd = [sys.executable, "-m", "aioscout", "screenshot", str(src), "-d",
                   str(tmp_path / "png"), "-o", str(out)]  # fmt: skip
            proc = await asyncio.create_subprocess_exec(*cmd, stderr=subprocess.PIPE)
            _, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()
            return [orjson.loads(line) for line in out.read_bytes().splitlines()[:2]]

    first, second = asyncio.run(serve_and_run())
    assert isinstance(first["screenshot"], str) and Path(first["screenshot"]).is_file()
    assert first["screenshot_error"] is None
    assert "screenshot" not in second

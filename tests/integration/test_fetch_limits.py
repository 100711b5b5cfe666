"""``fetch`` cannot fill a disk or be led astray: size cap, 4xx/5xx, file names, hard links."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aioscout._config import FetchOptions, HttpOptions, Limits, Timeouts
from aioscout._models import ErrorKind, FetchResult
from aioscout.probes.fetch import FetchProbe, download_name
from tests._support.http_servers import HOST, raw_server, read_request_head

CAP = 256 * 1024
BLOCK = b"x" * 65536


async def _endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (await read_request_head(reader)).decode("latin-1")
    path = head.split(" ", 2)[1]
    if path.startswith("/status/"):
        code = int(path.rsplit("/", 1)[1])
        writer.write(b"HTTP/1.1 %d Nope\r\nContent-Length: 5\r\n\r\nerror" % code)
    elif path == "/announced":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (CAP * 10))
        writer.write(BLOCK)
    elif path == "/small":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmall")
    else:  # an endless body with no length
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        while True:
            writer.write(BLOCK)
            await writer.drain()
    await writer.drain()


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with raw_server(_endless) as bound:
        yield bound


async def _fetch(directory: Path, url: str, max_size: int = CAP) -> FetchResult:
    probe = FetchProbe(
        FetchOptions(directory=str(directory), max_size=max_size),
        HttpOptions(),
        Timeouts(connect=1.0, read=2.0, total=10.0),
        Limits(),
        concurrency=2,
        per_host=2,
    )
    async with probe:
        (target,) = probe.expand(url)
        return await probe.probe(url, target)


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_an_endless_body_stops_at_max_size_and_leaves_no_file(
    port: int, tmp_path: Path
) -> None:
    rec = await _fetch(tmp_path, f"http://{HOST}:{port}/endless.bin")
    assert rec.error is not None and rec.error.kind is ErrorKind.TOO_LARGE, rec.error
    assert rec.path is None and rec.sha256 is None
    assert _files(tmp_path) == []


async def test_a_body_announced_past_max_size_is_refused_before_writing(
    port: int, tmp_path: Path
) -> None:
    rec = await _fetch(tmp_path, f"http://{HOST}:{port}/announced")
    assert rec.error is not None and rec.error.kind is ErrorKind.TOO_LARGE
    assert "announced" in rec.error.detail
    assert _files(tmp_path) == []


async def test_max_size_zero_means_no_cap(port: int, tmp_path: Path) -> None:
    rec = await _fetch(tmp_path, f"http://{HOST}:{port}/small", max_size=0)
    assert rec.error is None and rec.size == 5


@pytest.mark.parametrize("code", [403, 404, 500, 503])
async def test_a_4xx_or_5xx_writes_no_file_and_is_http_status(
    port: int, tmp_path: Path, code: int
) -> None:
    rec = await _fetch(tmp_path, f"http://{HOST}:{port}/status/{code}")
    assert rec.status == code
    assert rec.error is not None and rec.error.kind is ErrorKind.HTTP_STATUS
    assert rec.path is None and _files(tmp_path) == []


async def test_a_hard_link_to_the_part_file_is_refused(port: int, tmp_path: Path) -> None:
    url = f"http://{HOST}:{port}/small"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    part = tmp_path / (download_name(url) + ".part")
    os.link(victim, part)
    rec = await _fetch(tmp_path, url)
    assert rec.error is not None and rec.error.kind is ErrorKind.IO
    assert "hard link" in rec.error.detail
    assert victim.read_text() == "keep me"


def test_shortened_names_keep_their_extension() -> None:
    name = download_name("http://h/" + "a" * 300 + ".iso")
    assert name.endswith(".iso") and len(name.encode()) < 255


def test_non_ascii_names_stay_readable() -> None:
    assert download_name("http://h/%E6%96%87%E6%A1%A3.pdf").startswith("文档-")
    assert download_name("http://h/Caf%C3%A9%20menu.html").startswith("Café_menu-")
    long = download_name("http://h/" + "%E6%96%87" * 200 + ".pdf")
    assert long.endswith(".pdf") and len(long.encode()) < 255
    assert "\x00" not in download_name("http://h/a%00b%1b.txt")

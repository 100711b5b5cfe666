"""ResponseStore: file layout, index, and paths that never leave the directory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aioscout.store import MAX_HOST_CHARS, ResponseStore, safe_name

HEADERS = [("Server", "lab"), ("Content-Type", "text/html")]


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file()}


async def test_save_layout_content_and_index(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "out")
    url = "http://127.0.0.1:8080/a?b=1"
    rel = await store.save(url, "127.0.0.1:8080", "HTTP/1.1 200 OK", HEADERS, b"<b>\x00\xff</b>")
    sha = hashlib.sha1(url.encode()).hexdigest()
    assert rel == f"127.0.0.1_8080/{sha}.txt"
    data = (tmp_path / "out" / rel).read_bytes()
    assert data == (
        b"http://127.0.0.1:8080/a?b=1\nHTTP/1.1 200 OK\nServer: lab\n"
        b"Content-Type: text/html\n\n<b>\x00\xff</b>"
    )
    index = (tmp_path / "out" / "index.txt").read_text()
    assert index == f"{rel}\t{url}\t200\n"


async def test_index_appends_and_same_url_overwrites(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path)
    a = await store.save("http://h/", "h", "HTTP/1.1 200 OK", [], b"one")
    b = await store.save("http://h/", "h", "HTTP/1.1 404 Not Found", [], b"two")
    c = await store.save("http://h/x", "h", "garbage", [], b"")
    assert a == b != c
    assert (tmp_path / a).read_bytes().endswith(b"\n\ntwo")
    lines = (tmp_path / "index.txt").read_text().splitlines()
    assert [ln.split("\t")[2] for ln in lines] == ["200", "404", "garbage"]
    assert not [p for p in files_under(tmp_path) if p.name.endswith(".tmp")]


async def test_newlines_and_tabs_cannot_forge_lines(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path)
    url = "http://h/\tfake\nother/../../x\r"
    rel = await store.save(url, "h", "HTTP/1.1 200 OK\r\nX: y", [("A\n", "b\r\nC: d")], b"")
    lines = (tmp_path / "index.txt").read_text().split("\n")
    assert lines[1] == ""
    assert lines[0].count("\t") == 2
    head = (tmp_path / rel).read_bytes().split(b"\n\n")[0].split(b"\n")
    assert head == [
        b"http://h/%09fake%0Aother/../../x%0D",
        b"HTTP/1.1 200 OK%0D%0AX: y",
        b"A%0A: b%0D%0AC: d",
    ]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("Example.COM", "example.com"),
        ("..", "_"),
        (".", "_"),
        ("", "_"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("/etc", "_etc"),
        ("a\\b", "a_b"),
        ("a\x00b", "a_b"),
        ("exämple.com", "ex_mple.com"),
        ("[::1]:8443", "___1__8443"),
        ("CON", "_con"),
        ("nul.txt", "_nul.txt"),
        ("com1", "_com1"),
        ("console", "console"),
        ("host.", "host"),
    ],
)
def test_safe_name(host: str, expected: str) -> None:
    assert safe_name(host) == expected


def test_safe_name_long_is_cut_with_hash() -> None:
    a, b = safe_name("a" * 500), safe_name("a" * 501)
    assert a != b
    assert len(a) <= MAX_HOST_CHARS + 13
    assert a.startswith("a" * MAX_HOST_CHARS + "-")


async def test_symlinked_host_directory_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "store"
    root.mkdir()
    (root / "evil").symlink_to(outside, target_is_directory=True)
    store = ResponseStore(root)
    with pytest.raises(OSError):
        await store.save("http://evil/", "evil", "HTTP/1.1 200 OK", [], b"x")
    assert not list(outside.iterdir())


async def test_symlinked_response_file_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_bytes(b"keep")
    store = ResponseStore(tmp_path / "store")
    rel = await store.save("http://h/", "h", "HTTP/1.1 200 OK", [], b"first")
    (tmp_path / "store" / rel).unlink()
    (tmp_path / "store" / rel).symlink_to(outside)
    with pytest.raises(OSError):
        await store.save("http://h/", "h", "HTTP/1.1 200 OK", [], b"second")
    assert outside.read_bytes() == b"keep"


async def test_symlinked_index_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("")
    root = tmp_path / "store"
    root.mkdir()
    (root / "index.txt").symlink_to(outside)
    with pytest.raises(OSError):
        await ResponseStore(root).save("http://h/", "h", "HTTP/1.1 200 OK", [], b"x")
    assert outside.read_text() == ""


async def test_directory_given_as_symlink_is_used(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    rel = await ResponseStore(tmp_path / "link").save("http://h/", "h", "HTTP/1.1 200", [], b"")
    assert (real / rel).is_file()


async def test_concurrent_saves_all_indexed(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path, max_writers=4)
    async with asyncio.TaskGroup() as tg:
        for i in range(50):
            tg.create_task(
                store.save(f"http://h{i % 5}/{i}", f"h{i % 5}", "HTTP/1.1 200", [], b"z")
            )
    lines = (tmp_path / "index.txt").read_text().splitlines()
    assert len(lines) == 50
    assert len(files_under(tmp_path)) == 51


def test_max_writers_validated() -> None:
    with pytest.raises(ValueError):
        ResponseStore("x", max_writers=0)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(host=st.text(max_size=300), url=st.text(max_size=300))
def test_stored_file_always_inside_directory(host: str, url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "d"
        rel = asyncio.run(ResponseStore(root).save(url, host, "HTTP/1.1 200 OK", [], b"b"))
        real_root = os.path.realpath(root)
        target = os.path.realpath(root / rel)
        assert target.startswith(real_root + os.sep)
        assert Path(target).parent.parent == Path(real_root)
        assert files_under(Path(tmp)) == {Path(target), root / "index.txt"}
        assert len(Path(target).parent.name) <= MAX_HOST_CHARS + 14
        assert (root / "index.txt").read_text(errors="replace").count("\n") == 1

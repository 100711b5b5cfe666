"""What a person at a terminal sees: human lines, colour, the pinned progress line.

The command runs on a pseudo-terminal (python's ``pty``), so it sees what it
would see in a terminal window; what it writes there is read back as bytes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aioscout.lab import Lab

from ._cli import aioscout

pytestmark = pytest.mark.slow  # every test starts the command line

_ESC = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(sites=0, hostile=False, dns_names=10) as running:
        yield running


async def _on_tty(
    cwd: Path,
    *args: str,
    stderr_tty: bool = True,
    env: dict[str, str] | None = None,
) -> tuple[int, bytes, bytes]:
    """Run ``aioscout ARGS`` with stdout (and stderr) on a pseudo-terminal.

    Returns the status, what reached the terminal, and stderr when it is a pipe.
    """
    master, slave = os.openpty()
    proc = await asyncio.create_subprocess_exec(
        *aioscout(*args),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=slave,
        stderr=slave if stderr_tty else asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    try:
        async with asyncio.timeout(50):
            reader = asyncio.create_task(asyncio.to_thread(drain))
            err = b""
            if proc.stderr is not None:
                err = await proc.stderr.read()
            code = await proc.wait()
            await reader
    finally:
        os.close(master)
    return code, b"".join(chunks), err


def _lines(screen: bytes) -> list[str]:
    """What remains on the screen: status-line redraws and colours removed."""
    out = []
    for raw in screen.replace(b"\r\n", b"\n").split(b"\n"):
        shown = raw.split(b"\r\x1b[2K")[-1]  # a cleared line shows only what follows
        text = _ESC.sub(b"", shown).decode("utf-8", "replace").strip()
        if text:
            out.append(text)
    return out


async def test_http_prints_one_coloured_line_per_target(lab: Lab, tmp_path: Path) -> None:
    assert lab.dns_address is not None
    port = lab.http_port
    targets = [f"utf8.{lab.origin}:{port}", f"redirect-301.{lab.origin}:{port}", "127.0.0.1:1"]
    code, screen, _ = await _on_tty(tmp_path, "http", "-r", lab.dns_address, "-td", *targets)
    assert code == 0, screen
    assert b"\x1b[32m200\x1b[0m" in screen  # a green status
    lines = _lines(screen)
    ok = next(x for x in lines if x.startswith(f"http://utf8.{lab.origin}:{port}/ [200] ["))
    assert "[aioscout-lab]" in ok
    moved = next(x for x in lines if x.startswith(f"http://redirect-301.{lab.origin}"))
    assert "[301,200]" in moved and "/landing]" in moved  # first and final status
    assert any(x.startswith("http://127.0.0.1:1/ [refused]") for x in lines)
    summary = lines[-1]
    assert summary.startswith("3 done; 2 ok; 1 errors (refused 1)"), lines
    assert b"{" not in screen  # no JSON on a terminal


async def test_columns_json_and_no_color(lab: Lab, tmp_path: Path) -> None:
    target = f"127.0.0.1:{lab.http_port}"
    code, screen, _ = await _on_tty(tmp_path, "http", "-s", "-sc", "-cl", "-nc", target)
    assert code == 0
    assert b"\x1b[3" not in screen  # -nc: no colour
    (line,) = _lines(screen)
    assert re.fullmatch(rf"http://{target}/ \[\d+\] \[[\d,]+\]", line), line
    code, screen, _ = await _on_tty(tmp_path, "http", "-s", target, env={"NO_COLOR": "1"})
    assert b"\x1b[3" not in screen
    code, screen, _ = await _on_tty(tmp_path, "http", "-s", "-j", target)
    assert json.loads(_lines(screen)[0])["input"] == target


async def test_output_file_and_the_terminal_both_get_records(lab: Lab, tmp_path: Path) -> None:
    target = f"127.0.0.1:{lab.http_port}"
    code, screen, _ = await _on_tty(tmp_path, "http", "-o", "out.jsonl", target)
    assert code == 0
    assert any(x.startswith(f"http://{target}/ [") for x in _lines(screen))
    assert json.loads((tmp_path / "out.jsonl").read_text())["input"] == target
    code, screen, _ = await _on_tty(tmp_path, "http", "-o", "out.jsonl", "--silent", target)
    assert code == 0 and _lines(screen) == []


async def test_dns_and_fetch_lines(lab: Lab, tmp_path: Path) -> None:
    assert lab.dns_address is not None
    words = tmp_path / "words.txt"
    words.write_text("utf8\nnothing-here\n")
    code, screen, _ = await _on_tty(
        tmp_path, "dns", lab.origin, "-w", str(words), "-r", lab.dns_address
    )
    assert code == 0
    lines = _lines(screen)
    assert f"utf8.{lab.origin} → A 127.0.0.1" in lines
    assert lines[-1].startswith("2 done; 1 found; 1 not found; 0 errors"), lines
    url = lab.url(f"utf8.{lab.origin}")
    code, screen, _ = await _on_tty(
        tmp_path, "fetch", "-s", "-d", "pages", "-r", lab.dns_address, url
    )
    assert code == 0
    (line,) = _lines(screen)
    assert re.fullmatch(rf"{re.escape(url)} → pages/\S+ [\d,]+ B [0-9a-f]{{16}}…", line), line


async def test_progress_line_with_a_known_total(tmp_path: Path) -> None:
    listed = tmp_path / "list.txt"
    async with Lab(sites=0, hostile=False, dns_names=10, latency=1.0) as slow:
        listed.write_text(f"127.0.0.1:{slow.http_port}\n\n# comment\n127.0.0.1:1\n")
        code, screen, _ = await _on_tty(tmp_path, "http", "-l", str(listed))
    assert code == 0
    drawn = [_ESC.sub(b"", part) for part in screen.split(b"\r\x1b[2K")]
    assert any(re.match(rb"\d+/2 \d+% \xc2\xb7 [\d,]+/s \xc2\xb7 ETA", d) for d in drawn), screen


async def test_stats_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    async with Lab(sites=0, hostile=False, dns_names=10, latency=1.0) as slow:
        target = f"127.0.0.1:{slow.http_port}"
        code, _, err = await _on_tty(tmp_path, "http", "--stats", "0.2", target, stderr_tty=False)
    assert code == 0
    lines = err.decode().splitlines()
    assert any(re.match(r"\d+/1 \d+% · ", x) for x in lines[:-1]), lines
    assert lines[-1].startswith("1 done; 1 ok")
    assert b"\x1b" not in err

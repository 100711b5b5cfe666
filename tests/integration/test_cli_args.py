"""Unusable arguments: one line on stderr, status 2, nothing created, nothing sent.

Also what the checks leave alone: checkpoints only beside regular files and
removed once a run completes, ``--path FILE`` with an absolute path, and a
body without ``-X`` sent as POST.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aioscout.lab import Lab, decode_echo

from ._cli import aioscout

pytestmark = pytest.mark.slow  # every test starts the command line


async def _run(cwd: Path, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *aioscout(*args),
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(50):
        out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# 127.0.0.1:1 is never contacted: every one of these is refused before the run.
_T = "127.0.0.1:1"
_BAD: list[tuple[str, ...]] = [
    ("http", "-p", "0", _T),
    ("http", "-p", "foo", _T),
    ("http", "-p", "70000", _T),
    ("http", "--proxy", "gopher://x", _T),
    ("http", "--proxy", "http://", _T),
    ("http", "--ca-file", "missing.pem", _T),
    ("http", "-l", "."),
    ("http", "-l", "missing.txt"),
    ("http", "--resolver", "nope", _T),
    ("http", "--resolver", "127.0.0.1:99999", _T),
    ("http", "--json-body", "{", _T),
    ("http", "--json-body", "{}", "--form", "a=b", _T),
    ("http", "--data", "x", "--json-body", "{}", _T),
    ("http", "--data", "x", "--data-file", "body.txt", _T),
    ("http", "--timeout", "soon", _T),
    ("http", "-c", "0", _T),
    ("http", "--path", "", _T),
    ("http", "-H", "no-colon", _T),
    ("http", "-mc", "abc", _T),
    ("http", "--no-such-flag", _T),
    ("http", "--store-responses", "afile", _T),
    ("http", "-o", "sqlite:///x.db", "--csv", _T),
    ("http", "-o", "nodir/out.jsonl", _T),
    ("http", "-o", "unknown://x", _T),
    ("http", "--resume", _T),
    ("http", "-o", "/dev/null", "--resume", _T),
    ("fetch", "-d", "afile", "http://127.0.0.1:1/"),
    ("fetch", "--proxy", "ftp://x", "http://127.0.0.1:1/"),
    ("dns", "-r", "nope", "a.example"),
    ("dns", "-w", "missing.txt", "a.example", "-r", "127.0.0.1:1"),
    ("dns", "-w", "afile", "-r", "127.0.0.1:1"),
    ("dns", "--type", "BOGUS", "a.example", "-r", "127.0.0.1:1"),
    ("dns", "-l", ".", "-r", "127.0.0.1:1"),
    ("http", "-p", "", _T),
    ("http", "-mc", "99999", _T),
    ("http", "-o", "", _T),
    ("http", "--user-agent", "x", "--random-agent", _T),
    ("http", "-o", "sqlite:///nodir/x.db", _T),
    ("http", "--sni", "a b", _T),
    ("dns", "--type", "", "a.example", "-r", "127.0.0.1:1"),
    ("dns", "-r", "", "a.example"),
    ("no-such-command",),
]


@pytest.mark.parametrize("args", _BAD, ids=lambda a: " ".join(a))
async def test_an_unusable_argument_is_one_line_and_status_2(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "afile").write_text("x\n")
    before = sorted(os.listdir(tmp_path))
    code, out, err = await _run(tmp_path, *args)
    assert code == 2, (code, err)
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("aioscout"), err
    assert "Traceback" not in err and out == ""
    assert sorted(os.listdir(tmp_path)) == before  # no output, checkpoint or directory


async def test_no_targets_on_a_terminal_is_one_line_and_status_2(tmp_path: Path) -> None:
    # stdin is a terminal: nothing to read, so the command refuses at once.
    master, slave = os.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            *aioscout("http", "-o", "out.jsonl"),
            cwd=tmp_path,
            stdin=slave,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(50):
            _, err = await proc.communicate()
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 2
    assert err.decode().strip() == (
        "aioscout http: no targets: give them as arguments, with -l FILE, or on stdin"
    )
    assert os.listdir(tmp_path) == []


async def test_a_resume_of_another_run_is_refused_before_anything_changes(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    ckpt = tmp_path / "out.jsonl.ckpt"
    out.write_text('{"input": "kept"}\n')
    ckpt.write_text("aioscout-checkpoint 1 0123456789abcdef\n17 0\n")
    code, _, err = await _run(tmp_path, "http", "-o", "out.jsonl", "--resume", "127.0.0.1:1")
    assert code == 2 and "other targets or options" in err and len(err.splitlines()) == 1
    assert out.read_text() == '{"input": "kept"}\n'
    assert ckpt.read_text().endswith("17 0\n")


async def test_checkpoints_only_beside_regular_files_and_gone_after_a_complete_run(
    tmp_path: Path,
) -> None:
    code, _, err = await _run(tmp_path, "http", "-s", "-o", "/dev/null", "127.0.0.1:1")
    assert code == 0, err
    assert "null.ckpt" not in os.listdir("/dev")
    code, out, err = await _run(tmp_path, "http", "-s", "-o", "/dev/stdout", "127.0.0.1:1")
    assert code == 0, err
    assert json.loads(out)["error"]["kind"] == "refused"
    code, _, err = await _run(tmp_path, "http", "-s", "-o", "out.jsonl", "127.0.0.1:1")
    assert code == 0, err
    assert os.listdir(tmp_path) == ["out.jsonl"]  # the run completed: no checkpoint left
    code, _, err = await _run(tmp_path, "http", "-o", "out.jsonl", "--resume", "127.0.0.1:1")
    assert code == 0 and "nothing to resume" in err  # complete already: nothing to do
    assert os.listdir(tmp_path) == ["out.jsonl"]


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(sites=0, hostile=False, dns_names=10) as running:
        yield running


async def test_path_file_given_by_absolute_path_is_read(lab: Lab, tmp_path: Path) -> None:
    paths = tmp_path / "paths.txt"
    paths.write_text("/one\n# skipped\n\n/two\n")
    target = f"127.0.0.1:{lab.http_port}"
    code, out, err = await _run(tmp_path, "http", "-s", "--path", str(paths), target)
    assert code == 0, err
    urls = sorted(json.loads(line)["url"] for line in out.splitlines())
    assert urls == [f"http://{target}/one", f"http://{target}/two"]
    code, out, err = await _run(tmp_path, "http", "-s", "--path", "/no/such/file", target)
    assert code == 0, err
    assert json.loads(out)["url"] == f"http://{target}/no/such/file"


async def test_a_body_without_a_method_is_posted(lab: Lab, tmp_path: Path) -> None:
    url = lab.url("echo.lab.test", path="/p")
    assert lab.dns_address is not None
    common = ("http", "-s", "--resolver", lab.dns_address, "--body-preview", "100000", url)
    for flags, method, body in [
        (("--data", "a=1"), "POST", "a=1"),
        (("--json-body", '{"k": 2}'), "POST", '{"k": 2}'),
        (("-X", "PUT", "--data", "b"), "PUT", "b"),
        ((), "GET", ""),
    ]:
        code, out, err = await _run(tmp_path, *common, *flags)
        assert code == 0, err
        echo = decode_echo(json.loads(out)["body_preview"].encode())
        assert (echo["method"], echo["body"]) == (method, body), flags


async def test_httpx_and_dnsx_style_flags(lab: Lab, tmp_path: Path) -> None:
    assert lab.dns_address is not None
    http = (
        "http", "-u", f"status-404.{lab.origin}:{lab.http_port}",
        "-u", f"utf8.{lab.origin}:{lab.http_port}", "-r", lab.dns_address,
        "-mc", "404", "-json", "-silent", "-rl", "100", "-t", "5", "-nc", "-nfr",
        "-timeout", "5", "-retries", "0", "-stats", "-td", "-favicon", "-maxr", "3",
    )  # fmt: skip
    code, out, err = await _run(tmp_path, *http)
    assert code == 0, err
    (rec,) = [json.loads(line) for line in out.splitlines()]
    assert rec["status"] == 404 and rec["tech"] is not None
    words = tmp_path / "words.txt"
    words.write_text("utf8\nnothing-here\n")
    dns = ("dns", "-d", lab.origin, "-w", str(words), "-r", lab.dns_address, "-t", "10", "-a")
    code, out, err = await _run(tmp_path, *dns, "-aaaa", "-cname", "-silent", "-j")
    assert code == 0, err
    (rec,) = [json.loads(line) for line in out.splitlines()]
    assert rec["name"] == f"utf8.{lab.origin}" and rec["error"] is None
    assert {a["type"] for a in rec["answers"]} == {"A"}  # the lab's name has an A record only

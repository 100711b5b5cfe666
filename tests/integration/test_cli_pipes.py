"""Commands that compose: JSON records as input, ``| head -1``, skipped blank lines.

Every command reads what any aioscout command writes (and dnsx's and httpx's
JSON), so ``aioscout dns ... | aioscout http`` probes the names DNS found. A
reader that closes the pipe early ends the run quietly with status 0.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aioscout.lab import Lab

from ._cli import aioscout, records, refused_targets

pytestmark = pytest.mark.slow  # every test starts the command line

_FOUND = ("utf8", "big5", "status-404")


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(sites=0, hostile=False, dns_names=10) as running:
        yield running


def _cmd(*args: str) -> str:
    return shlex.join(aioscout(*args))


async def _shell(script: str, timeout: float = 60.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-o",
        "pipefail",
        "-c",
        script,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(timeout):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_dns_output_piped_into_http_probes_the_names_found(lab: Lab, tmp_path: Path) -> None:
    assert lab.dns_address is not None
    words = tmp_path / "words.txt"
    words.write_text("\n".join([*_FOUND, "nothing-here", "", "# a comment"]) + "\n")
    dns = _cmd("dns", lab.origin, "-w", str(words), "-r", lab.dns_address, "-s")
    http = _cmd("http", "--resolver", lab.dns_address, "-p", f"http:{lab.http_port}", "-s")
    code, out, err = await _shell(f"{dns} | {http}")
    assert code == 0, err
    recs = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["input"] for r in recs) == sorted(f"{w}.{lab.origin}" for w in _FOUND)
    by_host = {r["host"]: r for r in recs}
    assert by_host[f"status-404.{lab.origin}"]["status"] == 404
    assert all(r["error"] is None for r in recs), recs


async def test_dns_probe_http_probes_the_names_found_in_one_process(
    lab: Lab, tmp_path: Path
) -> None:
    assert lab.dns_address is not None
    words = tmp_path / "words.txt"
    words.write_text("\n".join([*_FOUND, "nothing-here"]) + "\n")
    names = tmp_path / "names.jsonl"
    dns = _cmd(
        "dns", lab.origin, "-w", str(words), "-r", lab.dns_address, "-s", "--probe-http",
        "--http-ports", f"http:{lab.http_port}", "--dns-output", str(names),
    )  # fmt: skip
    code, out, err = await _shell(dns)
    assert code == 0, err
    recs = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["input"] for r in recs) == sorted(f"{w}.{lab.origin}" for w in _FOUND)
    assert {r["host"]: r["status"] for r in recs}[f"status-404.{lab.origin}"] == 404
    assert sorted(r["name"] for r in records(names)) == sorted(f"{w}.{lab.origin}" for w in _FOUND)


async def test_http_reads_httpx_dnsx_and_its_own_records(lab: Lab, tmp_path: Path) -> None:
    port = lab.http_port
    lines = [
        json.dumps({"url": f"http://127.0.0.1:{port}/httpx", "input": "x", "host": "127.9.9.9"}),
        json.dumps({"host": "127.0.0.1", "a": ["127.0.0.1"], "status_code": "NOERROR"}),
        json.dumps({"input": "127.0.0.1", "url": None, "host": "127.0.0.1", "port": port}),
        json.dumps({"name": "127.0.0.1", "port": str(port)}),
        json.dumps({"nothing": "useful"}),
        "   ",
        "# comment",
        "{not json",
    ]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    proc = await asyncio.create_subprocess_exec(
        *aioscout("http", "-l", str(inp), "-o", str(out), "-s", "-p", f"http:{port}"),
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err
    recs = records(out)
    assert sorted(r["input"] for r in recs) == sorted(
        [
            f"http://127.0.0.1:{port}/httpx",
            "127.0.0.1",
            f"127.0.0.1:{port}",
            f"127.0.0.1:{port}",
            '{"nothing": "useful"}',
            "{not json",
        ]
    )
    got = {r["input"]: r for r in recs}
    assert got[f"http://127.0.0.1:{port}/httpx"]["status"] is not None
    kinds = sorted(
        str(r["error"] and r["error"]["kind"]) for r in recs if r["input"] == f"127.0.0.1:{port}"
    )
    assert kinds == ["None", "duplicate"]
    assert got["127.0.0.1"]["url"] == f"http://127.0.0.1:{port}/"
    assert got['{"nothing": "useful"}']["error"]["kind"] == "invalid_input"
    assert "JSON record" in got['{"nothing": "useful"}']["error"]["detail"]


async def test_dns_takes_names_from_httpx_records(lab: Lab, tmp_path: Path) -> None:
    assert lab.dns_address is not None
    inp = tmp_path / "httpx.jsonl"
    inp.write_text(
        json.dumps({"url": f"https://utf8.{lab.origin}:443", "host": "127.0.0.1"}) + "\n"
    )
    proc = await asyncio.create_subprocess_exec(
        *aioscout("dns", "-l", str(inp), "-r", lab.dns_address, "-s"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    (rec,) = [json.loads(line) for line in out.splitlines()]
    assert rec["name"] == f"utf8.{lab.origin}" and rec["error"] is None


async def test_a_closed_pipe_ends_quietly_with_status_0(tmp_path: Path) -> None:
    inp = tmp_path / "refused.txt"
    inp.write_text("\n".join(refused_targets(3000)) + "\n")
    proc = await asyncio.create_subprocess_exec(
        *aioscout("http", "-l", str(inp), "--timeout", "3", "--workers", "1"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = await proc.stdout.readline()
    assert json.loads(first)["error"]["kind"] == "refused"
    # What `head -1` does: read one line, then close the pipe.
    transport = proc._transport  # type: ignore[attr-defined]
    transport.get_pipe_transport(1).close()
    async with asyncio.timeout(50):
        err = await proc.stderr.read()
        code = await proc.wait()
    assert code == 0, err
    assert b"output closed" not in err and b"Traceback" not in err, err


async def test_head_in_a_shell_pipeline_exits_0(tmp_path: Path) -> None:
    inp = tmp_path / "refused.txt"
    inp.write_text("\n".join(refused_targets(2000)) + "\n")
    code, out, err = await _shell(f"{_cmd('http', '-l', str(inp), '--timeout', '3')} | head -1")
    assert code == 0, err
    assert len(out.splitlines()) == 1
    assert "output closed" not in err


async def test_lab_up_prints_commands_that_work(tmp_path: Path) -> None:
    state = tmp_path / "lab.json"
    lab_args = ("--state-file", str(state))
    up = ("lab", "up", *lab_args, "--sites", "3", "--dns-names", "10", "--no-hostile")
    code, out, err = await _shell(_cmd(*up))
    assert code == 0, err
    try:
        assert "Try:" in out and "{" not in out.split("Try:")[0]
        commands = [line.strip() for line in out.split("Try:")[1].splitlines() if line.strip()]
        words = next(c for c in commands if c.startswith("printf"))
        pipe = next(c for c in commands if "| aioscout http" in c and "-o" not in c)
        bin_dir = Path(sys.executable).parent
        code, found, err = await _shell(
            f"cd {shlex.quote(str(tmp_path))} && export PATH={shlex.quote(str(bin_dir))}:$PATH"
            f" && {words} && {pipe} -s"
        )
        assert code == 0, err
        recs = [json.loads(line) for line in found.splitlines()]
        hosts = {r["host"] for r in recs if r["status"] is not None}
        assert {"utf8.lab.test", "big5.lab.test", "status-404.lab.test"} <= hosts, recs
        code, dumped, _ = await _shell(_cmd("lab", "status", *lab_args, "--json"))
        assert code == 0 and json.loads(dumped)["dns_address"] in pipe
    finally:
        await _shell(_cmd("lab", "down", *lab_args))

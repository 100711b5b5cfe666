"""Defaults from a config file and ``AIOSCOUT_*``: flag > env > file > built-in."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aioscout.lab import Lab

from ._cli import aioscout

pytestmark = pytest.mark.slow  # every test starts the command line


async def _run(cwd: Path, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIOSCOUT_")}
    proc = await asyncio.create_subprocess_exec(
        *aioscout(*args),
        cwd=cwd,
        env={**clean, "XDG_CONFIG_HOME": str(cwd / "xdg"), **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(50):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(sites=0, hostile=False, dns_names=10) as running:
        yield running


async def test_the_default_file_sets_flags_and_env_and_flags_win(lab: Lab, tmp_path: Path) -> None:
    assert lab.dns_address is not None
    conf = tmp_path / "xdg" / "aioscout" / "config.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text(
        f'resolver = ["{lab.dns_address}"]\n'
        "concurrency = 7\n"
        "[http]\n"
        f'ports = "http:{lab.http_port}"\n'
        'header = ["Authorization: Bearer s3cr3t-token"]\n'
        'proxy = "http://user:hunter2@127.0.0.1:1"\n'
    )
    code, out, err = await _run(tmp_path, "config", "show", "http", env={"AIOSCOUT_RATE": "9"})
    assert code == 0, err
    assert f"config file: {conf}" in out
    assert "--concurrency          = 7" in out and f"(file {conf})" in out
    assert "--rate" in out and "(env AIOSCOUT_RATE)" in out
    assert "s3cr3t" not in out and "hunter2" not in out  # secrets masked
    # The file's resolver and ports reach a real run (the proxy is overridden by env).
    env = {"AIOSCOUT_PROXY": ""}
    code, out, err = await _run(tmp_path, "http", "-s", f"utf8.{lab.origin}", env=env)
    assert code == 0, err
    (rec,) = [json.loads(line) for line in out.splitlines()]
    assert rec["url"] == f"http://utf8.{lab.origin}:{lab.http_port}/" and rec["status"] == 200
    # A flag beats both.
    args = ("http", "-s", "-p", "1", f"utf8.{lab.origin}")
    code, out, err = await _run(tmp_path, *args, env={**env, "AIOSCOUT_PORTS": "2"})
    assert json.loads(out)["port"] == 1
    code, out, err = await _run(tmp_path, *args[:2], *args[4:], env={**env, "AIOSCOUT_PORTS": "2"})
    assert json.loads(out)["port"] == 2


async def test_a_bad_config_is_one_line_and_status_2(tmp_path: Path) -> None:
    (tmp_path / "xdg").mkdir()
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\nno-such-flag = 1\n")
    typo = tmp_path / "typo.toml"
    typo.write_text("concurrenc = 5\n")
    for args, env in [
        (("http", "--config", str(bad), "127.0.0.1:1"), {}),
        (("http", "--config", str(typo), "127.0.0.1:1"), {}),
        (("http", "--config", "missing.toml", "127.0.0.1:1"), {}),
        (("http", "127.0.0.1:1"), {"AIOSCOUT_CONCURRENCY": "lots"}),
        (("dns", "-l", "-"), {"AIOSCOUT_CONFIG": str(bad), "AIOSCOUT_NO_DEDUP": "maybe"}),
    ]:
        code, _, err = await _run(tmp_path, *args, env=env)
        assert code == 2, (args, err)
        assert len(err.strip().splitlines()) == 1, err


def test_version_everywhere() -> None:
    import subprocess

    import aioscout

    for args in (["-V"], ["http", "-V"], ["dns", "--version"], ["lab", "up", "-V"]):
        done = subprocess.run(
            [sys.executable, "-m", "aioscout", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0
        assert done.stdout.strip().endswith(aioscout.__version__), (args, done.stdout)

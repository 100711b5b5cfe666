"""``aioscout ssh``'s flags, run in this process (click's runner) against the real servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from aioscout.cli.ssh_cmd import ssh

from .conftest import SshFarm

pytestmark = pytest.mark.slow


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(ssh, list(args), env=env, catch_exceptions=False)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["127.0.0.1"], "nothing to run"),
        (["127.0.0.1", "-c", "a", "-c", "b"], "one command"),
        (["127.0.0.1", "-c", "true", "--accept-new", "--insecure-no-host-check"], "exclude"),
        (["127.0.0.1", "-c", "true", "--password-env", "AIOSCOUT_NO_SUCH_VAR"], "not set"),
        (["127.0.0.1", "--script", "/nonexistent/script.sh"], "--script"),
        (["127.0.0.1", "-c", "true", "-i", "/nonexistent/key"], "cannot read the key"),
        (["127.0.0.1", "-c", "true", "-l", "/nonexistent/list"], "-l /nonexistent/list"),
    ],
)
def test_unusable_arguments_exit_2(args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_script_too_large_exits_2(tmp_path: Path) -> None:
    script = tmp_path / "big.sh"
    script.write_bytes(b"#" * (1024 * 1024 + 1))
    result = invoke("127.0.0.1", "--script", str(script))
    assert result.exit_code == 2 and "over" in result.output


def test_a_run_in_process(ssh_farm: SshFarm, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    script = tmp_path / "s.sh"
    script.write_text("echo from-script\n")
    result = invoke(
        ssh_farm.keys.address, ssh_farm.password.address,
        "-u", ssh_farm.user, "-i", str(ssh_farm.client_key), "--no-agent",
        "--known-hosts", str(ssh_farm.known_hosts),
        "--script", str(script), "-c", "4", "--timeout", "connect=2,total=20",
        "--max-output", "5", "-o", str(out), "-s",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    recs = records(out)
    assert [r["stdout"] for r in recs] == ["from-"] * 2
    assert all(r["stdout_truncated"] for r in recs)


def test_accept_new_then_known(ssh_farm: SshFarm, tmp_path: Path) -> None:
    known = tmp_path / "kh"
    out = tmp_path / "out.jsonl"
    base = (
        ssh_farm.keys.address, "-u", ssh_farm.user, "-i", str(ssh_farm.client_key),
        "--no-agent", "--known-hosts", str(known), "-c", "true", "-s",
    )  # fmt: skip
    assert invoke(*base, "--accept-new", "-o", str(out)).exit_code == 0
    assert records(out)[0]["error"] is None
    assert known.read_text() == ssh_farm.keys.known_hosts_line()
    out.unlink()
    assert invoke(*base, "-o", str(out)).exit_code == 0
    assert records(out)[0]["error"] is None


def test_scan_in_process(ssh_farm: SshFarm, tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    result = invoke("--scan", ssh_farm.password.address, "-c", "2", "-o", str(out), "-s")
    assert result.exit_code == 0, result.output
    assert records(out)[0]["auth_methods"] == ["publickey", "password"]

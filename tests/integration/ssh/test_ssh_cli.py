"""``aioscout ssh`` end to end, in a subprocess, against the real sshd servers of conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import SshFarm

pytestmark = pytest.mark.slow


def run(
    farm: SshFarm, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], subprocess.CompletedProcess[str]]:
    """``aioscout ssh ARGS`` logging in as the test user with the client key."""
    argv = [sys.executable, "-m", "aioscout", "ssh", "-u", farm.user, "--no-agent", *args]
    done = subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line], done


def by_port(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["port"]: r for r in records}


def test_five_servers_each_get_the_right_record(ssh_farm: SshFarm, refused_port: int) -> None:
    farm = ssh_farm
    servers = [farm.keys, farm.password, farm.changed, farm.slow]
    targets = [s.address for s in servers] + [f"127.0.0.1:{refused_port}"]
    recs, done = run(
        farm,
        *targets,
        "-i", str(farm.client_key),
        "--password-env", "SSH_TEST_SECRET",
        "--known-hosts", str(farm.known_hosts),
        "-c", "echo hello from $(id -un)",
        "--command-timeout", "1",
        env={"SSH_TEST_SECRET": farm.secret},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = by_port(recs)
    assert len(recs) == 5 and len(got) == 5
    for server in (farm.keys, farm.password):
        rec = got[server.port]
        assert rec["error"] is None and rec["exit_status"] == 0
        assert rec["stdout"] == f"hello from {farm.user}\n"
        assert rec["host_key_fingerprint"] == server.fingerprint
    assert got[farm.changed.port]["error"]["kind"] == "host_key_mismatch"
    slow = got[farm.slow.port]
    assert slow["error"]["kind"] == "timeout" and slow["stdout"] == "slow\n"
    assert got[refused_port]["error"]["kind"] == "refused"
    assert farm.secret not in done.stdout + done.stderr


def test_password_only_and_no_secret_anywhere(ssh_farm: SshFarm) -> None:
    recs, done = run(
        ssh_farm,
        ssh_farm.password.address,
        "--password-env", "SSH_TEST_SECRET",
        "--known-hosts", str(ssh_farm.known_hosts),
        "-i", str(ssh_farm.client_key),
        "-c", "echo \"$SSH_ORIGINAL_COMMAND\"; printf '%s' " + ssh_farm.secret,
        env={"SSH_TEST_SECRET": ssh_farm.secret},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert recs[0]["error"] is None
    assert ssh_farm.secret not in done.stdout + done.stderr


def test_dash_c_number_is_the_concurrency_beside_a_command(ssh_farm: SshFarm) -> None:
    lines = f"127.0.0.1:{ssh_farm.keys.port}\n" * 6
    recs, done = run(
        ssh_farm,
        "-l", "-", "--no-dedup",
        "-i", str(ssh_farm.client_key),
        "--known-hosts", str(ssh_farm.known_hosts),
        "-c", "echo ok", "-c", "3",
        stdin=lines,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [r["stdout"] for r in recs] == ["ok\n"] * 6


def test_json_records_from_ports_are_targets(ssh_farm: SshFarm) -> None:
    lines = [
        {"host": "127.0.0.1", "ip": "127.0.0.1", "port": ssh_farm.keys.port, "service": "ssh"},
        {"host": "127.0.0.1", "port": 80, "state": "open", "service": "http"},
        {"host": "127.0.0.1", "port": 81, "state": "closed"},
    ]
    recs, done = run(
        ssh_farm,
        "-i", str(ssh_farm.client_key),
        "--known-hosts", str(ssh_farm.known_hosts),
        "-c", "true",
        stdin="".join(json.dumps(x) + "\n" for x in lines),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kinds = sorted((r["error"] or {}).get("kind", "ok") for r in recs)
    assert kinds == ["invalid_input", "invalid_input", "ok"]


def test_scan_without_login(ssh_farm: SshFarm) -> None:
    recs, done = run(ssh_farm, "--scan", ssh_farm.password.address, ssh_farm.keys.address)
    assert done.returncode == 0, done.stderr
    got = by_port(recs)
    assert got[ssh_farm.password.port]["auth_methods"] == ["publickey", "password"]
    assert got[ssh_farm.keys.port]["auth_methods"] == ["publickey"]
    assert got[ssh_farm.keys.port]["host_key_fingerprint"] == ssh_farm.keys.fingerprint


def test_resume_and_workers(ssh_farm: SshFarm, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    targets = tmp_path / "targets.txt"
    port = ssh_farm.keys.port
    targets.write_text("".join(f"{ssh_farm.user}@127.0.0.1:{port}\n" for _ in range(5)))
    common = (
        "-l", str(targets), "--no-dedup", "-o", str(out), "--workers", "2",
        "-i", str(ssh_farm.client_key),
        "--known-hosts", str(ssh_farm.known_hosts),
        "-c", "echo ok",
    )  # fmt: skip
    _, done = run(ssh_farm, *common)
    assert done.returncode == 0, done.stderr
    first = out.read_text().splitlines()
    assert len(first) == 5
    _, again = run(ssh_farm, *common, "--resume")
    assert again.returncode == 0, again.stderr
    assert out.read_text().splitlines() == first  # nothing done twice


def test_missing_asyncssh_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "asyncssh"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('not installed')\n")
    done = subprocess.run(
        [sys.executable, "-m", "aioscout", "ssh", "127.0.0.1", "-c", "true"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "aioscout[ssh]" in done.stderr


def test_no_password_on_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aioscout", "ssh", "--password", "x", "127.0.0.1", "-c", "true"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "No such option" in done.stderr


def test_ports_pipe_into_ssh(ssh_farm: SshFarm, refused_port: int) -> None:
    """``aioscout ports … | aioscout ssh``: open SSH ports become logins, nothing else does."""
    ports = subprocess.run(
        [sys.executable, "-m", "aioscout", "ports", "127.0.0.1", "--all",
         "-p", f"{ssh_farm.keys.port},{refused_port}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ports.returncode == 0, ports.stderr
    recs, done = run(
        ssh_farm,
        "-i", str(ssh_farm.client_key),
        "--known-hosts", str(ssh_farm.known_hosts),
        "-c", "echo via-ports",
        stdin=ports.stdout,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ok = [r for r in recs if r["error"] is None]
    assert [(r["port"], r["stdout"]) for r in ok] == [(ssh_farm.keys.port, "via-ports\n")]
    assert all(r["error"]["kind"] == "invalid_input" for r in recs if r["error"])

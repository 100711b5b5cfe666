"""The SSH probe against real OpenSSH servers on loopback (see conftest.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from aioscout._config import MAX_SCRIPT, SshOptions
from aioscout._exceptions import ConfigError
from aioscout._models import ErrorInfo, ErrorKind, SshResult
from aioscout.lab.sshd import keygen
from aioscout.probes.ssh import SshProbe, key_needs_passphrase

from .conftest import SshFarm

pytestmark = pytest.mark.slow


def options(farm: SshFarm, **changes: object) -> SshOptions:
    base = SshOptions(
        command="id -un",
        username=farm.user,
        keys=(str(farm.client_key),),
        known_hosts=str(farm.known_hosts),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def probe_one(opts: SshOptions, line: str, *, total: float = 30.0) -> SshResult:
    probe = SshProbe(opts, total=total)
    await probe.start()
    try:
        (target,) = probe.expand(line)
        return await probe.probe(line, target)
    finally:
        await probe.aclose()


async def test_key_login_runs_the_command(ssh_farm: SshFarm) -> None:
    opts = options(ssh_farm, command="id -un; echo oops >&2; exit 3")
    rec = await probe_one(opts, ssh_farm.keys.address)
    assert rec.error is None
    assert (rec.exit_status, rec.stdout, rec.stderr) == (3, f"{ssh_farm.user}\n", "oops\n")
    assert rec.user == ssh_farm.user and rec.port == ssh_farm.keys.port
    assert rec.server_version is not None and rec.server_version.startswith("SSH-2.0-OpenSSH")
    assert rec.host_key_fingerprint == ssh_farm.keys.fingerprint  # as ssh-keygen -l prints it
    assert rec.host_key_type == "ssh-ed25519"


async def test_password_login_and_the_password_never_shows(ssh_farm: SshFarm) -> None:
    secret = ssh_farm.secret
    opts = options(ssh_farm, keys=(), password=secret, command=f"echo {secret}")
    rec = await probe_one(opts, ssh_farm.password.address)
    assert rec.error is None and rec.exit_status == 0
    assert rec.stdout == "***\n"
    assert secret not in repr(rec)
    assert secret not in repr(dataclasses.replace(opts, command="true"))


async def test_wrong_password_is_auth(ssh_farm: SshFarm) -> None:
    wrong = "not-" + ssh_farm.secret
    rec = await probe_one(options(ssh_farm, keys=(), password=wrong), ssh_farm.password.address)
    assert rec.error is not None and rec.error.kind == ErrorKind.AUTH
    assert wrong not in repr(rec)
    assert rec.host_key_fingerprint == ssh_farm.password.fingerprint


async def test_key_not_authorized_is_auth(ssh_farm: SshFarm, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    keygen(stranger)
    rec = await probe_one(options(ssh_farm, keys=(str(stranger),)), ssh_farm.keys.address)
    assert rec.error is not None and rec.error.kind == ErrorKind.AUTH


async def test_changed_host_key_is_refused_before_login(ssh_farm: SshFarm) -> None:
    for policy in ("strict", "accept-new"):
        opts = options(ssh_farm, host_keys=policy, password=ssh_farm.secret)
        rec = await probe_one(opts, ssh_farm.changed.address)
        assert rec.error is not None and rec.error.kind == ErrorKind.HOST_KEY_MISMATCH, policy
        assert rec.exit_status is None and rec.stdout is None
        assert rec.host_key_fingerprint == ssh_farm.changed.fingerprint
    assert f"Accepted publickey for {ssh_farm.user}" not in ssh_farm.changed.log()
    assert "Failed password" not in ssh_farm.changed.log()


async def test_insecure_mode_logs_in_anyway(ssh_farm: SshFarm) -> None:
    rec = await probe_one(options(ssh_farm, host_keys="insecure"), ssh_farm.changed.address)
    assert rec.error is None and rec.stdout == f"{ssh_farm.user}\n"
    assert rec.host_key_fingerprint == ssh_farm.changed.fingerprint


async def test_unknown_host_strict_then_accept_new(ssh_farm: SshFarm, tmp_path: Path) -> None:
    known = tmp_path / "sub" / "known_hosts"
    strict = options(ssh_farm, known_hosts=str(known))
    rec = await probe_one(strict, ssh_farm.keys.address)
    assert rec.error is not None and rec.error.kind == ErrorKind.HOST_KEY_UNKNOWN
    assert not known.exists()
    rec = await probe_one(
        dataclasses.replace(strict, host_keys="accept-new"), ssh_farm.keys.address
    )
    assert rec.error is None
    assert known.read_text() == ssh_farm.keys.known_hosts_line().replace("\n", "") + "\n"
    rec = await probe_one(strict, ssh_farm.keys.address)  # now known
    assert rec.error is None


async def test_accept_new_under_concurrency_writes_one_line(
    ssh_farm: SshFarm, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    opts = options(ssh_farm, known_hosts=str(known), host_keys="accept-new", command="true")
    probe = SshProbe(opts, total=30)
    await probe.start()
    try:
        servers = (ssh_farm.keys, ssh_farm.password)
        lines = [s.address for s in servers for _ in range(8)]
        recs = await asyncio.gather(*(probe.probe(x, probe.expand(x)[0]) for x in lines))
    finally:
        await probe.aclose()
    assert [r.error for r in recs] == [None] * len(lines)
    assert sorted(known.read_text().splitlines(keepends=True)) == sorted(
        s.known_hosts_line() for s in servers
    )


async def test_slow_command_is_killed_on_the_server(ssh_farm: SshFarm) -> None:
    marker = "31.4159"  # a sleep no other test runs, to find it among the processes
    opts = options(ssh_farm, command=f"echo started; sleep {marker}", command_timeout=0.5)
    rec = await probe_one(opts, ssh_farm.keys.address)
    assert rec.error is not None and rec.error.kind == ErrorKind.TIMEOUT
    assert rec.stdout == "started\n"  # what it printed before is kept
    assert rec.exit_signal in ("TERM", "KILL")
    assert await gone(f"sleep {marker}"), "the remote command is still running"


async def test_total_time_out_bounds_a_slow_command(ssh_farm: SshFarm) -> None:
    opts = options(ssh_farm, command="sleep 27.18", command_timeout=60)
    rec = await probe_one(opts, ssh_farm.keys.address, total=1.5)
    assert rec.error is not None and rec.error.kind == ErrorKind.TIMEOUT
    assert "sent TERM" in rec.error.detail


async def test_refused_and_silent_ports(
    ssh_farm: SshFarm, refused_port: int, silent_port: int
) -> None:
    rec = await probe_one(options(ssh_farm), f"127.0.0.1:{refused_port}")
    assert rec.error is not None and rec.error.kind == ErrorKind.REFUSED
    rec = await probe_one(options(ssh_farm, auth_timeout=0.3), f"127.0.0.1:{silent_port}")
    assert rec.error is not None and rec.error.kind == ErrorKind.TIMEOUT
    assert rec.server_version is None


async def test_output_is_capped_and_cleaned(ssh_farm: SshFarm) -> None:
    command = "head -c 100000 /dev/zero | tr '\\0' x; printf '\\033[31m\\r' >&2"
    rec = await probe_one(
        options(ssh_farm, command=command, max_output=1000), ssh_farm.keys.address
    )
    assert rec.error is None and rec.exit_status == 0
    assert rec.stdout == "x" * 1000 and rec.stdout_truncated
    assert rec.stderr == "[31m" and not rec.stderr_truncated


async def test_raw_output_keeps_bytes_exactly(ssh_farm: SshFarm) -> None:
    opts = options(ssh_farm, command="printf '\\033[1mé\\n'; printf '\\377' >&2", raw_output=True)
    rec = await probe_one(opts, ssh_farm.keys.address)
    assert rec.stdout == "\x1b[1mé\n" and not rec.stdout_base64
    assert rec.stderr == "/w==" and rec.stderr_base64


async def test_script_goes_to_a_shell_on_stdin(ssh_farm: SshFarm) -> None:
    script = b"a=41\necho $((a + 1))\nexit 7\n"
    rec = await probe_one(options(ssh_farm, command=None, script=script), ssh_farm.keys.address)
    assert rec.error is None
    assert (rec.exit_status, rec.stdout) == (7, "42\n")
    rec = await probe_one(options(ssh_farm, command="wc -c", script=script), ssh_farm.keys.address)
    assert rec.stdout is not None and rec.stdout.strip() == str(len(script))


async def test_scan_reports_banner_key_and_methods_without_login(ssh_farm: SshFarm) -> None:
    opts = SshOptions(scan=True, username=ssh_farm.user)
    rec = await probe_one(opts, ssh_farm.password.address)
    assert rec.error is None and rec.exit_status is None
    assert rec.auth_methods == ["publickey", "password"]
    assert rec.host_key_fingerprint == ssh_farm.password.fingerprint
    assert rec.server_version is not None and "OpenSSH" in rec.server_version
    rec = await probe_one(opts, ssh_farm.keys.address)
    assert rec.auth_methods == ["publickey"]


async def test_encrypted_key_needs_its_passphrase(ssh_farm: SshFarm, tmp_path: Path) -> None:
    locked = keygen(tmp_path / "locked", passphrase="open sesame")
    assert key_needs_passphrase(str(locked)) is True
    assert key_needs_passphrase(str(ssh_farm.client_key)) is False
    assert key_needs_passphrase(str(tmp_path / "none")) is None
    for passphrase, error in ((None, "encrypted"), ("wrong", "wrong passphrase")):
        probe = SshProbe(options(ssh_farm, keys=(str(locked),), passphrase=passphrase), total=9)
        with pytest.raises(ConfigError, match=error):
            await probe.start()
    server = ssh_farm.lab.start(
        "locked", authorized=[Path(f"{locked}.pub"), ssh_farm.lab.client_key_pub]
    )
    try:
        opts = options(ssh_farm, keys=(str(locked),), passphrase="open sesame")
        rec = await probe_one(dataclasses.replace(opts, host_keys="insecure"), server.address)
        assert rec.error is None and rec.stdout == f"{ssh_farm.user}\n"
        assert "open sesame" not in repr(opts)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("changes", "total", "message"),
    [
        ({"command": None}, 5.0, "nothing to run"),
        ({"auth_timeout": 0}, 5.0, "auth_timeout"),
        ({}, 0.0, "total"),
        ({"max_output": -1}, 5.0, "max_output"),
        ({"script": b"x" * (MAX_SCRIPT + 1)}, 5.0, "script"),
        ({"port": 0}, 5.0, "port"),
        ({"max_startups": 0}, 5.0, "max_startups"),
        ({"host_keys": "trusting"}, 5.0, "host_keys"),
    ],
)
def test_unusable_options(changes: dict[str, object], total: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SshProbe(dataclasses.replace(SshOptions(command="true"), **changes), total=total)  # type: ignore[arg-type]


async def test_engine_side_records(tmp_path: Path) -> None:
    probe = SshProbe(SshOptions(command="true", username="u", password="s3cr3t-pw"), total=5)
    target = probe.expand("127.0.0.1:2200")[0]
    assert (probe.host_of(target), probe.identity(target)) == ("127.0.0.1", "u@127.0.0.1:2200")
    rec = probe.failed("u:s3cr3t-pw@x", None, ErrorInfo(ErrorKind.TIMEOUT, "s3cr3t-pw late"))
    assert "s3cr3t-pw" not in repr(rec)
    rec = probe.failed("u:other-pw@x", None, ErrorInfo(ErrorKind.INVALID_INPUT, "credentials"))
    assert rec.input == "***@x"
    rec = probe.failed("127.0.0.1:2200", target, ErrorInfo(ErrorKind.DUPLICATE, "seen"))
    assert (rec.host, rec.port, rec.user) == ("127.0.0.1", 2200, "u")
    with pytest.raises(RuntimeError, match="start"):
        await probe.probe("127.0.0.1:2200", target)


async def test_known_hosts_that_cannot_be_written(ssh_farm: SshFarm, tmp_path: Path) -> None:
    known = tmp_path / "dir" / "known_hosts"
    opts = options(ssh_farm, known_hosts=str(known), host_keys="accept-new")
    probe = SshProbe(opts, total=9)
    await probe.start()  # nothing there yet: no host is known
    (tmp_path / "dir").write_text("now a file, so known_hosts cannot be created")
    try:
        rec = await probe.probe(ssh_farm.keys.address, probe.expand(ssh_farm.keys.address)[0])
    finally:
        await probe.aclose()
    assert rec.error is not None and rec.error.kind == ErrorKind.HOST_KEY_UNKNOWN
    assert "cannot add it" in rec.error.detail


async def test_a_record_with_name_and_ip_connects_to_the_ip(
    ssh_farm: SshFarm, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    opts = options(ssh_farm, known_hosts=str(known), host_keys="accept-new")
    line = json.dumps({"host": "box.lab.test", "ip": "127.0.0.1", "port": ssh_farm.keys.port})
    rec = await probe_one(opts, line)  # the name resolves nowhere: only the ip is used
    assert rec.error is None and rec.host == "box.lab.test"
    assert known.read_text().startswith(f"[box.lab.test]:{ssh_farm.keys.port} ssh-ed25519 ")


async def gone(pattern: str) -> bool:
    """Whether no process matches ``pattern`` within about five seconds."""
    for _ in range(100):
        left = await asyncio.create_subprocess_exec("pgrep", "-f", pattern)
        if await left.wait() == 1:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_an_aborted_run_kills_the_command(ssh_farm: SshFarm) -> None:
    marker = "26.535"
    probe = SshProbe(options(ssh_farm, command=f"echo up; sleep {marker}"), total=30)
    await probe.start()
    try:
        line = ssh_farm.keys.address
        task = asyncio.ensure_future(probe.probe(line, probe.expand(line)[0]))
        for _ in range(200):  # until the command runs on the server
            found = await asyncio.create_subprocess_exec("pgrep", "-f", f"sleep {marker}")
            if await found.wait() == 0:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await probe.aclose()
    assert await gone(f"sleep {marker}"), "the remote command outlived the aborted run"

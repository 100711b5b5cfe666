"""SSH pieces that need no server: targets, output rendering, host key decisions."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aioscout._exceptions import ConfigError, InvalidTarget
from aioscout.probes._ssh_hostkeys import HostKeys, Verdict, known_hosts_name
from aioscout.probes._ssh_output import Capture, render, sanitize
from aioscout.probes.ssh import SshProbe
from aioscout.targets.ssh import SshTarget, parse_ssh_target

if TYPE_CHECKING:
    import asyncssh


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("10.0.0.1", SshTarget("10.0.0.1", 22, "me")),
        ("10.0.0.1:2222", SshTarget("10.0.0.1", 2222, "me")),
        ("root@Host.Example:2200", SshTarget("host.example", 2200, "root")),
        ("a@b@10.0.0.1", SshTarget("10.0.0.1", 22, "a@b")),
        ("admin@[::1]:2222", SshTarget("::1", 2222, "admin")),
        ("::1", SshTarget("::1", 22, "me")),
        ("ssh://ops@10.0.0.2:2022/", SshTarget("10.0.0.2", 2022, "ops")),
        ('{"host": "10.0.0.3", "port": 2022, "service": "ssh"}', SshTarget("10.0.0.3", 2022, "me")),
        ('{"ip": "10.0.0.4", "port": 22, "state": "open"}', SshTarget("10.0.0.4", 22, "me")),
        ('{"host": "gw.example", "ip": "10.0.0.6"}', SshTarget("gw.example", 22, "me", "10.0.0.6")),
        ('{"host": "::1", "ip": "[::1]"}', SshTarget("::1", 22, "me")),
        ('{"name": "db.example", "user": "pg"}', SshTarget("db.example", 22, "pg")),
        ('{"url": "ssh://x@10.0.0.5:23"}', SshTarget("10.0.0.5", 23, "x")),
    ],
)
def test_targets(line: str, expected: SshTarget) -> None:
    assert parse_ssh_target(line, user="me") == expected


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("user:hunter2@10.0.0.1", "credentials"),
        ("http://10.0.0.1", "ssh://"),
        ("10.0.0.1:99999", "outside"),
        ("10.0.0.1/path", "host:port"),
        ("@10.0.0.1", "empty user"),
        ('{"host": "10.0.0.1", "service": "http"}', "not an SSH service"),
        ('{"host": "10.0.0.1", "state": "closed"}', "not open"),
        ('{"host": "10.0.0.1", "error": {"kind": "refused"}}', "error"),
        ('{"host": "10.0.0.1", "port": "22"}', "invalid port"),
        ('{"port": 22}', "no host"),
        ('{"host": "gw.example", "ip": "gw"}', "invalid ip"),
        ("[1,2]", "brackets"),
        ("{not json", "JSON"),
        ("", "empty"),
    ],
)
def test_bad_targets(line: str, why: str) -> None:
    with pytest.raises(InvalidTarget, match=why) as info:
        parse_ssh_target(line, user="me")
    assert "hunter2" not in str(info.value)


def test_no_user_anywhere_is_invalid() -> None:
    with pytest.raises(InvalidTarget, match="no user"):
        parse_ssh_target("10.0.0.1")
    assert str(parse_ssh_target("u@10.0.0.1")) == "u@10.0.0.1:22"
    assert parse_ssh_target("u@::1").netloc() == "[::1]:22"


def test_sanitize_and_render() -> None:
    assert sanitize("a\x1b[2J\tb\r\n\x9b\x7fc") == "a[2J\tb\nc"
    assert render(b"ok\x1b\xff", raw=False) == ("ok\ufffd", False)
    assert render(b"ok\x1b", raw=True) == ("ok\x1b", False)
    assert render(b"\xff", raw=True) == ("/w==", True)
    assert render("é".encode()[:1], raw=True, cut=True) == ("", False)
    assert render("é".encode()[:1], raw=True) == ("ww==", True)


def test_capture_keeps_the_cap_and_counts_the_rest() -> None:
    cap = Capture(5)
    for chunk in (b"abc", b"def", b"ghi"):
        cap.feed(chunk)
    assert (cap.value(), cap.truncated, cap.kept) == (b"abcde", True, 5)
    empty = Capture(0)
    empty.feed(b"x")
    assert (empty.value(), empty.truncated) == (b"", True)


def key() -> asyncssh.SSHKey:
    assert SshProbe.keeps_deadline  # the probe's module loads AsyncSSH without its warnings
    import asyncssh

    return asyncssh.generate_private_key("ssh-ed25519").convert_to_public()


def test_known_hosts_names() -> None:
    assert known_hosts_name("10.0.0.1", 22) == "10.0.0.1"
    assert known_hosts_name("::1", 2222) == "[::1]:2222"


def test_strict_policy_judges_unknown_and_mismatch(tmp_path: Path) -> None:
    known, stranger = key(), key()
    path = tmp_path / "known_hosts"
    blob = known.export_public_key("openssh").decode().split()[:2]
    path.write_text(f"[10.0.0.1]:2222 {blob[0]} {blob[1]}\n10.0.0.1 {blob[0]} {blob[1]}\n")
    keys = HostKeys(str(path), "strict")
    keys.load()
    assert keys.trusted("10.0.0.1", 2222)[0] == [known]
    assert keys.trusted("10.0.0.1", 2223)[0] == []  # never the entry of another port
    assert keys.judge("10.0.0.1", 2222, stranger) is Verdict.MISMATCH
    assert keys.judge("10.0.0.9", 22, stranger) is Verdict.UNKNOWN
    assert path.read_text().count("\n") == 2


def test_accept_new_writes_the_first_key_once_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "known_hosts"
    first, second = HostKeys(str(path), "accept-new"), HostKeys(str(path), "accept-new")
    first.load()
    second.load()  # both read an empty file, as two worker processes would
    a, b = key(), key()
    assert first.judge("10.0.0.1", 22, a) is Verdict.ACCEPTED
    assert second.judge("10.0.0.1", 22, b) is Verdict.MISMATCH  # the file now says otherwise
    assert second.judge("10.0.0.1", 22, a) is Verdict.ACCEPTED
    assert first.judge("10.0.0.1", 22, b) is Verdict.MISMATCH
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("10.0.0.1 ssh-ed25519 ")


def test_accept_new_from_threads_adds_one_line_per_host(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("# no trailing newline")
    one = key()

    def meet(port: int) -> None:
        keys = HostKeys(str(path), "accept-new")
        keys.load()
        keys.judge("127.0.0.1", port, one)

    threads = [threading.Thread(target=meet, args=(2200 + i % 4,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert lines[0] == "# no trailing newline"
    assert sorted(line.split()[0] for line in lines[1:]) == [
        f"[127.0.0.1]:{p}" for p in range(2200, 2204)
    ]


def test_bad_policy_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="policy"):
        HostKeys(str(tmp_path / "x"), "yes")
    (tmp_path / "dir").mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        HostKeys(str(tmp_path / "dir"), "strict").load()
    HostKeys(str(tmp_path / "dir"), "insecure").load()  # never read


def test_terminal_lines() -> None:
    from aioscout.cli._human import View, render_ssh

    plain = View(color=False)
    base = {"input": "x", "host": "10.0.0.5", "port": 22, "user": "admin", "error": None}
    ran = {**base, "exit_status": 0, "stdout": "6.1\x1b[2J\nsecond\nthird\n"}
    assert render_ssh(ran, plain) == "admin@10.0.0.5:22 [exit 0] 6.1 [2J (+2 lines)"
    killed = {**base, "host": "::1", "exit_status": None, "exit_signal": "TERM", "stdout": ""}
    assert render_ssh(killed, plain) == "admin@[::1]:22 [signal TERM]"
    binary = {**base, "exit_status": 3, "stdout": "/w==", "stdout_base64": True}
    assert render_ssh(binary, plain) == "admin@10.0.0.5:22 [exit 3] [binary output]"
    scan = {
        **base,
        "server_version": "SSH-2.0-OpenSSH_9.2",
        "host_key_type": "ssh-ed25519",
        "host_key_fingerprint": "SHA256:abc",
        "auth_methods": ["publickey", "password"],
    }
    assert render_ssh(scan, plain) == (
        "admin@10.0.0.5:22 SSH-2.0-OpenSSH_9.2 ssh-ed25519 SHA256:abc [publickey,password]"
    )
    failed = {"input": "bad line", "error": {"kind": "invalid_input", "detail": "why"}}
    assert render_ssh(failed, plain) == "bad line [invalid_input] why"

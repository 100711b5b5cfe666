"""Real OpenSSH servers for the SSH tests, started once per session on loopback.

The servers (see :mod:`aioscout.lab.sshd`): ``keys`` (key login only),
``password`` (password login too), ``changed`` (its key in ``known_hosts``
is another one), ``slow`` (whatever is asked, it runs a forced command that
sleeps for half a minute; sshd refuses to signal a forced command).
``refused_port`` is a port this session bound and closed; ``silent_port``
accepts connections and never says a word. Where sshd
cannot run, the tests skip with the reason, and fail when ``CI=true``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aioscout.lab.sshd import (
    TEST_USER,
    SshdLab,
    SshdServer,
    SshdUnavailable,
    free_port,
    keygen,
    sshd_missing,
    user_password,
)


@dataclass(frozen=True)
class SshFarm:
    """The session's servers and the files a client needs for them."""

    lab: SshdLab
    keys: SshdServer
    password: SshdServer
    changed: SshdServer
    slow: SshdServer
    known_hosts: Path
    client_key: Path
    user: str
    secret: str

    def ssh_line(self, server: SshdServer) -> str:
        """``user@127.0.0.1:PORT`` for ``server``."""
        return f"{self.user}@{server.address}"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"sshd is needed in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ssh_farm() -> Iterator[SshFarm]:
    """Three running sshd servers and a known_hosts file vouching for two of them."""
    reason = sshd_missing()
    if reason is not None:
        _unavailable(reason)
    try:
        lab = SshdLab()
    except (SshdUnavailable, OSError) as exc:
        _unavailable(str(exc))
        raise
    try:
        keys = lab.start("keys", authorized=[lab.client_key_pub])
        password = lab.start("password", authorized=[lab.client_key_pub], password=True)
        changed = lab.start("changed", authorized=[lab.client_key_pub])
        slow = lab.start(
            "slow", authorized=[lab.client_key_pub], extra=["ForceCommand echo slow; sleep 29.5"]
        )
        old = keygen(lab.root / "changed_old_key")
        kind, blob = Path(f"{old}.pub").read_text().split()[:2]
        known = lab.root / "known_hosts"
        known.write_text(
            keys.known_hosts_line()
            + password.known_hosts_line()
            + slow.known_hosts_line()
            + f"[127.0.0.1]:{changed.port} {kind} {blob}\n"
        )
        yield SshFarm(
            lab, keys, password, changed, slow, known, lab.client_key, TEST_USER, user_password()
        )
    except SshdUnavailable as exc:
        _unavailable(str(exc))
    finally:
        lab.close()


@pytest.fixture
def refused_port() -> int:
    """A loopback port that was free a moment ago (so a connection is refused)."""
    return free_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never sends a byte (no SSH banner)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])

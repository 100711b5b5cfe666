"""Throwaway OpenSSH servers on loopback, for the SSH tests and benchmarks.

Each :class:`SshdServer` is a real ``sshd`` process (``/usr/sbin/sshd -D``)
listening on ``127.0.0.1`` at a free port, with its own host key, its own
``authorized_keys`` and its own configuration, all in a directory of its own
under a temporary directory. They need root (sshd switches to the logged-in
user) and a local account to log in as: :data:`TEST_USER`, which
``scripts/services.sh`` creates with a random password kept in
:data:`PASSWORD_FILE` (readable by root only). Nothing here is a fake: what
the tests see is what any OpenSSH server says.

Example::

    with SshdLab() as lab:
        server = lab.start("keys", authorized=[lab.client_key_pub])
        print(server.port, server.fingerprint)
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = [
    "PASSWORD_FILE",
    "SSHD",
    "TEST_USER",
    "SshdLab",
    "SshdServer",
    "SshdUnavailable",
    "fingerprint_of",
    "free_port",
    "keygen",
    "sshd_missing",
    "user_password",
]

SSHD = "/usr/sbin/sshd"
TEST_USER = "aioscout-test"
PASSWORD_FILE = "/var/lib/aioscout-test/password"
_PRIVSEP_DIR = "/run/sshd"


class SshdUnavailable(RuntimeError):
    """sshd cannot be started here; the message says what is missing."""


def sshd_missing() -> str | None:
    """Why no test sshd can run here (``None`` when everything it needs is present)."""
    if not os.path.exists(SSHD):
        return f"{SSHD} is not installed (run scripts/services.sh)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is not installed (run scripts/services.sh)"
    if os.geteuid() != 0:
        return "sshd must run as root to log users in"
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        return f"no local user {TEST_USER!r} (run scripts/services.sh)"
    if not os.path.exists(PASSWORD_FILE):
        return f"{PASSWORD_FILE} is missing (run scripts/services.sh)"
    return None


def user_password() -> str:
    """The password of :data:`TEST_USER` (set by scripts/services.sh)."""
    return Path(PASSWORD_FILE).read_text().strip()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519", *, passphrase: str = "") -> Path:
    """Make a key pair with ssh-keygen at ``path`` (and ``path.pub``); returns ``path``."""
    args = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "aioscout-lab", "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "2048"]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return path


def fingerprint_of(pub: Path) -> str:
    """``SHA256:...`` of a public key file, as ``ssh-keygen -l`` prints it."""
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return out.split()[1]


@dataclass
class SshdServer:
    """One running sshd: its port, directory, host key and fingerprint."""

    name: str
    port: int
    directory: Path
    host_key: Path
    fingerprint: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def known_hosts_line(self) -> str:
        """This server's entry for a known_hosts file (``[127.0.0.1]:PORT TYPE KEY``)."""
        kind, blob = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"

    def log(self) -> str:
        """What sshd wrote to its log so far."""
        path = self.directory / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the listener (sessions it forked end with their connections)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class SshdLab:
    """A temporary directory of sshd servers and the client key that logs in to them.

    ``with SshdLab() as lab:`` makes the directory (world-readable, because
    sshd reads ``authorized_keys`` as the user logging in) and a client key
    pair ``lab.client_key``; every server started is stopped on exit, and the
    directory removed.
    """

    def __init__(self) -> None:
        reason = sshd_missing()
        if reason is not None:
            raise SshdUnavailable(reason)
        self.root = Path(tempfile.mkdtemp(prefix="aioscout-sshd-"))
        self.root.chmod(0o755)
        self.servers: list[SshdServer] = []
        self.client_key = keygen(self.root / "client_ed25519")
        self.client_key_pub = Path(f"{self.client_key}.pub")
        self._penalties: bool | None = None
        os.makedirs(_PRIVSEP_DIR, mode=0o755, exist_ok=True)

    def __enter__(self) -> SshdLab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every server and remove the directory."""
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(
        self,
        name: str,
        *,
        authorized: Sequence[Path] = (),
        password: bool = False,
        key_kind: str = "ed25519",
        port: int | None = None,
        host_key: Path | None = None,
        extra: Sequence[str] = (),
    ) -> SshdServer:
        """Start an sshd called ``name`` (its directory's name).

        Args:
            authorized: public key files allowed to log in as :data:`TEST_USER`.
            password: also accept :data:`TEST_USER`'s password.
            key_kind: the type of host key made for it.
            port: listen on this port (default: a free one).
            host_key: use this private host key instead of making one.
            extra: more sshd_config lines.
        """
        directory = self.root / name
        directory.mkdir(mode=0o755)
        if host_key is None:
            host_key = keygen(directory / f"host_{key_kind}", key_kind)
        keys = directory / "authorized_keys"
        keys.write_text("".join(Path(p).read_text() for p in authorized))
        keys.chmod(0o644)
        server = SshdServer(
            name=name,
            port=port or free_port(),
            directory=directory,
            host_key=host_key,
            fingerprint=fingerprint_of(Path(f"{host_key}.pub")),
        )
        config = directory / "sshd_config"
        config.write_text(self._config(server, keys, password=password, extra=extra))
        self._launch(server, config)
        self.servers.append(server)
        return server

    def restart(self, server: SshdServer) -> None:
        """Start a stopped server again on its port with its configuration."""
        self._launch(server, server.directory / "sshd_config")

    def _config(
        self, server: SshdServer, keys: Path, *, password: bool, extra: Sequence[str]
    ) -> str:
        lines = [
            f"ListenAddress 127.0.0.1:{server.port}",
            f"HostKey {server.host_key}",
            f"PidFile {server.directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {keys}",
            f"AllowUsers {TEST_USER}",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin no",
            "PubkeyAuthentication yes",
            f"PasswordAuthentication {'yes' if password else 'no'}",
            "KbdInteractiveAuthentication no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "MaxStartups 200:30:400",
            "MaxSessions 10",
            "LoginGraceTime 30",
            "LogLevel VERBOSE",
            *extra,
        ]
        if self._accepts_penalties(server):
            # OpenSSH 9.8 and later refuse a source after failed logins: the tests fail
            # logins on purpose, all from 127.0.0.1.
            lines.append("PerSourcePenalties no")
        return "\n".join(lines) + "\n"

    def _accepts_penalties(self, server: SshdServer) -> bool:
        if self._penalties is None:
            probe = server.directory / "penalties_check"
            probe.write_text(f"HostKey {server.host_key}\nPerSourcePenalties no\n")
            check = subprocess.run(
                [SSHD, "-t", "-f", str(probe)], capture_output=True, timeout=30, check=False
            )
            probe.unlink()
            self._penalties = check.returncode == 0
        return self._penalties

    def _launch(self, server: SshdServer, config: Path) -> None:
        log = server.directory / "sshd.log"
        with open(server.directory / "sshd.stderr", "ab") as stderr:
            server.proc = subprocess.Popen(
                [SSHD, "-D", "-f", str(config), "-E", str(log)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                err = (server.directory / "sshd.stderr").read_text(errors="replace").strip()
                raise SshdUnavailable(f"sshd {server.name} exited: {err} {server.log()}")
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=1) as conn:
                    conn.settimeout(5)
                    if conn.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        server.stop()
        raise SshdUnavailable(f"sshd {server.name} did not listen on {server.port} within 10 s")

"""Host keys: which key each host may present, and trust on first use written safely.

The known_hosts file is read once when the probe starts. A host's entries
are looked up the way OpenSSH does: ``host`` for port 22, ``[host]:port`` for
any other port (never the port-22 entry for another port). A connection is
given the keys found for its host as its only trusted keys, so the server is
asked for a key of a known type and an unknown one comes to :meth:`HostKeys.judge`:

* a host with known keys that presents another key is a **mismatch**, refused
  under every policy (the handshake ends before any credential is sent);
* a host with no known key is **unknown**: refused under ``strict``, trusted
  and appended to the file under ``accept-new``.

Under ``accept-new`` many connections (and worker processes) may meet the
same new host at once. The file is locked (``flock``) and read again before a
key is added, so the first key wins, is written once, and every other
connection to that host is judged against it.
"""

from __future__ import annotations

import base64
import enum
import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .._exceptions import ConfigError

if TYPE_CHECKING:
    import asyncssh

__all__ = ["POLICIES", "HostKeys", "Verdict", "known_hosts_name"]

POLICIES = ("strict", "accept-new", "insecure")


class Verdict(enum.Enum):
    """What :meth:`HostKeys.judge` decided about a key that was not already trusted."""

    ACCEPTED = "accepted"  # new host, key added to the file
    MISMATCH = "mismatch"  # the host is known with other keys
    UNKNOWN = "unknown"  # the host is not known and the policy is strict


def known_hosts_name(host: str, port: int) -> str:
    """The name a host has in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def _openssh_line(name: str, key: asyncssh.SSHKey) -> str:
    blob = base64.b64encode(key.public_data).decode("ascii")
    return f"{name} {key.get_algorithm()} {blob}\n"


class HostKeys:
    """The known hosts of one run, under one policy (see the module docstring)."""

    def __init__(self, path: str, policy: str) -> None:
        if policy not in POLICIES:
            raise ConfigError(f"host key policy must be one of {', '.join(POLICIES)}")
        self.path = path
        self.policy = policy
        self._known: asyncssh.SSHKnownHosts | None = None
        self._accepted: dict[str, list[asyncssh.SSHKey]] = {}

    def load(self) -> None:
        """Read the file (a missing file knows no host).

        Raises:
            ConfigError: the file exists but cannot be read or parsed.
        """
        import asyncssh

        if self.policy == "insecure":
            return
        try:
            text = Path(self.path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise ConfigError(f"cannot read known hosts {self.path}: {exc.strerror}") from exc
        try:
            self._known = asyncssh.import_known_hosts(text)
        except (ValueError, asyncssh.KeyImportError) as exc:
            raise ConfigError(f"cannot parse known hosts {self.path}: {exc}") from exc

    def trusted(
        self, host: str, port: int
    ) -> tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey]]:
        """Host keys, CA keys and revoked keys for ``host:port`` (asyncssh's known_hosts lists)."""
        name = known_hosts_name(host, port)
        keys, cas, revoked = self._match(self._known, name)
        return [*keys, *self._accepted.get(name, ())], cas, revoked

    @staticmethod
    def _match(
        known: asyncssh.SSHKnownHosts | None, name: str
    ) -> tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey]]:
        if known is None:
            return [], [], []
        found = known.match(name, "", None)
        return list(found[0]), list(found[1]), list(found[2])

    def judge(self, host: str, port: int, key: asyncssh.SSHKey) -> Verdict:
        """The verdict on ``key``, which ``host:port`` presented and no trusted key matched."""
        name = known_hosts_name(host, port)
        keys, cas, _ = self.trusted(host, port)
        if keys or cas:  # known, perhaps accepted since this connection began
            return Verdict.ACCEPTED if key in keys else Verdict.MISMATCH
        if self.policy != "accept-new":
            return Verdict.UNKNOWN
        return self._accept(name, key)

    def _accept(self, name: str, key: asyncssh.SSHKey) -> Verdict:
        """Add ``name``'s first key to the file under a lock, unless another process did."""
        import asyncssh

        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "r+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed
            fh.seek(0)
            current = fh.read()
            now = asyncssh.import_known_hosts(current.decode("utf-8", "replace"))
            keys, cas, _ = self._match(now, name)
            if keys or cas:
                self._accepted[name] = keys
                return Verdict.ACCEPTED if key in keys else Verdict.MISMATCH
            lead = b"\n" if current and not current.endswith(b"\n") else b""
            fh.write(lead + _openssh_line(name, key).encode("ascii"))
            fh.flush()
            os.fsync(fh.fileno())
        self._accepted[name] = [key]
        return Verdict.ACCEPTED

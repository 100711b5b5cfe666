"""Throwaway MariaDB and PostgreSQL servers on loopback, for the SQL sink tests and benchmarks.

Each server gets a fresh data directory under a temporary directory, a free
127.0.0.1 port and a unix socket beside its data, a database ``scan`` and a
user ``aioscout`` with a password. Nothing is installed or enabled system-wide
(``scripts/services.sh`` installs the binaries). PostgreSQL refuses to run as
root, so as root it runs as the ``postgres`` user the package creates (or
``aioscout-pg``, which services.sh creates when there is none).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = [
    "DbServer",
    "MariaServer",
    "PostgresServer",
    "free_port",
    "mariadb_missing",
    "pg_missing",
]

PASSWORD = "s3cret-Pw!"
USER = "aioscout"
DATABASE = "scan"


def free_port() -> int:
    """A port nothing listens on right now on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _mariadbd() -> str | None:
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name) or (
            f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
        )
        if found:
            return found
    return None


def _pg_user() -> str | None:
    """The user postgres runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "aioscout-pg"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return "nobody"


def mariadb_missing() -> str | None:
    """Why no MariaDB server can be started here (None when one can)."""
    if _mariadbd() is None or not (
        shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    ):
        return "mariadbd / mariadb-install-db not installed (run scripts/services.sh)"
    return None


def pg_missing() -> str | None:
    """Why no PostgreSQL server can be started here (None when one can)."""
    if _pg_bin() is None:
        return "PostgreSQL server binaries not installed (run scripts/services.sh)"
    return None


def _let_others_through(path: Path) -> None:
    """Add o+x to the temporary directories above ``path`` (the server's user must reach it)."""
    tmp = Path(tempfile.gettempdir()).resolve()
    for parent in path.resolve().parents:
        if parent == tmp or tmp not in parent.parents:
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _as_user(name: str | None) -> dict[str, Any]:
    """``subprocess`` arguments that run the child as user ``name`` (nothing for None)."""
    if name is None:
        return {}
    entry = pwd.getpwnam(name)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "cwd": "/"}


class DbServer:
    """A database server subprocess that can be killed and started again on the same port."""

    scheme = ""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "server.log"
        self._started = False

    def url(self, table: str | None = None, *, password: str = PASSWORD) -> str:
        """The sink URL for this server's database, with the user and password."""
        query = f"?table={table}" if table else ""
        return f"{self.scheme}://{USER}:{password}@127.0.0.1:{self.port}/{DATABASE}{query}"

    def _command(self) -> tuple[list[str], str | None]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections.

        The first start takes a port free at that moment, and another if the
        server lost the race for it; a restart keeps its port.
        """
        first = not self._started
        for attempt in range(3):
            if first:
                self.port = free_port()
            try:
                self._start_once(timeout)
            except RuntimeError:
                if not first or attempt == 2:
                    raise
                continue
            self._started = True
            return

    def _start_once(self, timeout: float) -> None:
        args, user = self._command()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **_as_user(user)
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.scheme} server exited: {self.log.read_text()[-2000:]}")
            if self._ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.scheme} server not ready in {timeout}s: {self.log.read_text()[-2000:]}"
        )

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the server (and its children) and wait for it."""
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)
        self._after_kill()

    def _after_kill(self) -> None:
        pass

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM), killing it if it lingers."""
        self._signal(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def _port_open(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


class MariaServer(DbServer):
    """``mariadbd`` with its own data directory, port and socket."""

    scheme = "mysql"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.data = root / "data"
        self.socket = root / "mysql.sock"
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        assert install is not None
        subprocess.run(
            [
                install, "--no-defaults", f"--datadir={self.data}", "--user=root",
                "--auth-root-authentication-method=socket", "--skip-test-db",
            ],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self._created = False

    def _command(self) -> tuple[list[str], str | None]:
        mariadbd = _mariadbd()
        assert mariadbd is not None
        user = ["--user=root"] if os.geteuid() == 0 else []
        return [
            mariadbd, "--no-defaults", f"--datadir={self.data}", f"--socket={self.socket}",
            f"--port={self.port}", "--bind-address=127.0.0.1", "--skip-log-bin",
            "--skip-name-resolve", f"--pid-file={self.root / 'mysqld.pid'}",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=64M", *user,
        ], None  # fmt: skip

    def sql(self, statement: str) -> str:
        """Run one statement as root over the socket; its tab-separated output."""
        client = shutil.which("mariadb") or shutil.which("mysql")
        assert client is not None
        out = subprocess.run(
            [
                client, "--no-defaults", "-S", str(self.socket), "-u", "root", "-N", "-B",
                "-e", statement,
            ],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return out.stdout.decode()

    def _ready(self) -> bool:
        if not self.socket.exists() or not self._port_open():
            return False
        try:
            self.sql("SELECT 1")
        except subprocess.CalledProcessError:
            return False
        return True

    def start(self, timeout: float = 30.0) -> None:
        """Start, and on the first start create the database and the user."""
        super().start(timeout)
        if not self._created:
            self.sql(
                f"CREATE DATABASE IF NOT EXISTS {DATABASE}; "
                f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; "
                f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'%';"
            )
            self._created = True

    def count(self, table: str, where: str = "") -> int:
        """Rows of ``scan.table``."""
        return int(self.sql(f"SELECT count(*) FROM {DATABASE}.`{table}` {where}").strip())


class PostgresServer(DbServer):
    """``postgres`` with its own data directory, port and socket directory."""

    scheme = "postgresql"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        bindir = _pg_bin()
        assert bindir is not None
        self.bindir = bindir
        self.data = root / "data"
        self.user = _pg_user()
        pwfile = root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            _let_others_through(root)
            os.chown(root, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        args = [
            str(bindir / "initdb"), "-D", str(self.data), "-A", "scram-sha-256",
            f"--username={USER}", f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync",
        ]  # fmt: skip
        subprocess.run(args, check=True, capture_output=True, timeout=120, **_as_user(self.user))
        self._created = False

    def _command(self) -> tuple[list[str], str | None]:
        return [
            str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
        ], self.user  # fmt: skip

    def psql(self, statement: str, database: str = DATABASE) -> str:
        """Run one statement as the ``aioscout`` superuser; its unaligned output."""
        out = subprocess.run(
            [
                str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
                "-d", database, "-At", "-F", "\t", "-c", statement,
            ],
            check=True, capture_output=True, timeout=60, env={**os.environ, "PGPASSWORD": PASSWORD},
        )  # fmt: skip
        return out.stdout.decode()

    def _ready(self) -> bool:
        if not self._port_open():
            return False
        try:
            self.psql("SELECT 1", "postgres")
        except subprocess.CalledProcessError:
            return False
        return True

    def start(self, timeout: float = 30.0) -> None:
        """Start, and on the first start create the database."""
        super().start(timeout)
        if not self._created:
            self.psql(f"CREATE DATABASE {DATABASE}", "postgres")
            self._created = True

    def _after_kill(self) -> None:
        # A killed postmaster leaves its pid file; the next start checks it is stale.
        pass

    def count(self, table: str, where: str = "") -> int:
        """Rows of ``table``."""
        return int(self.psql(f'SELECT count(*) FROM "{table}" {where}').strip())

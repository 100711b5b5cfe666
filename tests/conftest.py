"""Fixtures every test module may use (helpers they import live in tests/_support).

The database servers (MariaDB, PostgreSQL) are started once per session under a
temporary directory, on a free 127.0.0.1 port, with a database ``scan`` and a
user with a password, and stopped at the end. A test that needs one that
cannot be started fails in CI (``CI=true``) and is skipped elsewhere, with the
reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aioscout.lab import Lab
from tests._support.dbservers import (
    DbServer,
    MariaServer,
    PostgresServer,
    mariadb_missing,
    pg_missing,
)
from tests._support.http_servers import HOST
from tests._support.proxies import PASSWORD, USER, pproxy, stop_process


@pytest.fixture
async def lab(request: pytest.FixtureRequest) -> AsyncIterator[Lab]:
    """A lab farm on loopback for one test, stopped afterwards.

    Its arguments (see :class:`aioscout.lab.Lab`) come from the closest ``lab``
    mark: ``pytestmark = pytest.mark.lab(sites=0, hostile=False)`` in a module,
    or ``@pytest.mark.lab(...)`` on a test.
    """
    mark = request.node.get_closest_marker("lab")
    kwargs: dict[str, Any] = dict(mark.kwargs) if mark is not None else {}
    async with Lab(**kwargs) as running:
        yield running


@pytest.fixture(scope="module")
def socks_port() -> Iterator[int]:
    """pproxy as an open SOCKS5 proxy on 127.0.0.1."""
    yield from pproxy(auth=False)


@pytest.fixture(scope="module")
def socks_auth_port() -> Iterator[int]:
    """pproxy as a SOCKS5 proxy with user/password authentication."""
    yield from pproxy(auth=True)


@pytest.fixture(scope="module")
def http_proxy_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """proxy.py with basic auth on 127.0.0.1."""
    pytest.importorskip("proxy")
    port_file: Path = tmp_path_factory.mktemp("proxy") / "port"
    cmd = [
        sys.executable, "-m", "proxy", "--hostname", HOST, "--port", "0",
        "--port-file", str(port_file), "--basic-auth", f"{USER}:{PASSWORD}",
        "--num-acceptors", "1", "--num-workers", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("proxy.py did not start")
            time.sleep(0.05)
        yield int(port_file.read_text())
    finally:
        stop_process(proc)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs this database server and it cannot start: {reason}", pytrace=False)
    pytest.skip(reason)


def _server(
    factory: Callable[[Path], DbServer], missing: Callable[[], str | None], name: str
) -> Iterator[DbServer]:
    reason = missing()
    if reason is not None:
        _unavailable(reason)
    # Not under pytest's base temporary directory: pytest resets its mode to 0700 and
    # PostgreSQL runs as another user that must reach its data directory.
    workdir = Path(tempfile.mkdtemp(prefix=f"aioscout-{name}-"))
    try:
        server = factory(workdir)
        server.start()
    except Exception as exc:  # any failure to start is reported the same way
        _unavailable(f"cannot start {name}: {exc}")
        raise  # unreachable: _unavailable raises
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaServer]:
    """A MariaDB server for the session (``mariadb.url(table)`` is the sink URL)."""
    for server in _server(MariaServer, mariadb_missing, "mariadb"):
        assert isinstance(server, MariaServer)
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (``postgres.url(table)`` is the sink URL)."""
    for server in _server(PostgresServer, pg_missing, "postgres"):
        assert isinstance(server, PostgresServer)
        yield server

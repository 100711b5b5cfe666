"""Fixtures shared across the suite: throwaway MariaDB and PostgreSQL servers.

Each is started once per session under a temporary directory, on a free
127.0.0.1 port, with a database ``scan`` and a user with a password, and
stopped at the end. A test that needs one that cannot be started fails in CI
(``CI=true``: the servers are part of what CI must run) and is skipped
elsewhere, with the reason.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests._dbservers import DbServer, MariaServer, PostgresServer, mariadb_missing, pg_missing


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

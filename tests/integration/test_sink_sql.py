"""MariaDB and PostgreSQL outputs against real servers (started once per session, see conftest).

Every run goes through the command line, as a user runs it: refused-connection
targets (the cheapest probe, so many items in little time) into a fresh table,
then the rows are counted on the server. What is checked: one row per input
item after a clean run, after kill -9 of aioscout (three times, then
``--resume``), after the database server is killed and restarted mid-run, and
after a database away longer than ``--sink-timeout`` (status 1, a checkpoint
the database agrees with, then ``--resume``); and that the password never
appears in the output, the errors, the checkpoint or the ``run`` table.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._support.dbservers import PASSWORD, DbServer, MariaServer, PostgresServer
from tests.integration._cli import aioscout, kill_quietly, refused_targets

pytestmark = [pytest.mark.slow, pytest.mark.databases]

_tables = itertools.count()


@pytest.fixture(params=["mysql", "postgresql"])
def server(request: pytest.FixtureRequest) -> Iterator[DbServer]:
    """Each database server in turn (the session's); restarted if a test left it down."""
    found: DbServer = request.getfixturevalue("mariadb" if request.param == "mysql" else "postgres")
    yield found
    if found.proc is None or found.proc.poll() is not None:
        found.start()


def count(server: DbServer, table: str, where: str = "") -> int:
    assert isinstance(server, MariaServer | PostgresServer)
    return server.count(table, where)


def query(server: DbServer, sql: str) -> str:
    if isinstance(server, MariaServer):
        return server.sql(f"USE scan; {sql}")
    assert isinstance(server, PostgresServer)
    return server.psql(sql)


@dataclass
class Scan:
    """One command line, run (and resumed) in its own directory, its output kept in files."""

    workdir: Path
    url: str
    table: str
    lines: list[str]
    extra: tuple[str, ...] = ()
    runs: int = 0

    def args(self, resume: bool) -> list[str]:
        inp = self.workdir / "targets.txt"
        if not inp.exists():
            inp.write_text("".join(f"{line}\n" for line in self.lines))
        args = ["http", "-l", str(inp), "-o", self.url, "-c", "500", "--timeout", "5"]
        workers = () if "--workers" in self.extra else ("--workers", "1")
        return [*args, *workers, *self.extra, *(("--resume",) if resume else ())]

    async def spawn(self, *, resume: bool) -> asyncio.subprocess.Process:
        self.runs += 1
        out = open(self.workdir / f"stdout.{self.runs}", "wb")  # noqa: SIM115 - the child owns it
        err = open(self.workdir / f"stderr.{self.runs}", "wb")  # noqa: SIM115
        try:
            return await asyncio.create_subprocess_exec(
                *aioscout(*self.args(resume)),
                cwd=self.workdir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        finally:
            out.close()
            err.close()

    def stderr(self) -> str:
        return (self.workdir / f"stderr.{self.runs}").read_text("utf-8", "replace")

    def everything_written(self) -> str:
        """Every byte the runs printed and every file they left, as text."""
        return "\n".join(
            p.read_text("utf-8", "replace")
            for p in sorted(self.workdir.iterdir())
            if p.is_file() and p.name != "targets.txt"
        )

    def checkpoint_items(self) -> set[int]:
        (path,) = self.workdir.glob("aioscout-*.ckpt")
        items: set[int] = set()
        for line in path.read_text().splitlines()[1:]:
            for part in line.split()[1:]:
                lo, _, hi = part.partition("-")
                items.update(range(int(lo), int(hi or lo) + 1))
        return items


def new_scan(server: DbServer, tmp_path: Path, n: int, *extra: str) -> Scan:
    table = f"t{next(_tables)}_{server.scheme[:5]}"
    return Scan(tmp_path, server.url(table), table, refused_targets(n), extra)


async def wait(proc: asyncio.subprocess.Process, timeout: float = 60.0) -> int:
    try:
        async with asyncio.timeout(timeout):
            return await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"aioscout did not finish within {timeout}s") from None


async def rows_appear(
    server: DbServer, scan: Scan, proc: asyncio.subprocess.Process, more_than: int
) -> bool:
    """Poll until the table has more than ``more_than`` rows; False if the run ended first."""
    async with asyncio.timeout(60):
        while proc.returncode is None:
            try:
                if count(server, scan.table) > more_than:
                    return True
            except Exception:
                pass
            await asyncio.sleep(0.05)
    return False


def assert_exactly_once(server: DbServer, scan: Scan) -> None:
    n = len(scan.lines)
    assert count(server, scan.table) == n
    distinct = query(
        server, f"SELECT count(DISTINCT item), count(DISTINCT run_id) FROM {scan.table}"
    )
    assert distinct.split() == [str(n), "1"]
    inputs = query(server, f"SELECT count(DISTINCT input) FROM {scan.table}")
    assert inputs.strip() == str(n)


def assert_no_password(server: DbServer, scan: Scan) -> None:
    assert PASSWORD not in scan.everything_written()
    runs = query(server, "SELECT run_id, command FROM run")
    assert PASSWORD not in runs
    assert "s3cret" not in runs


async def test_one_row_per_input_and_no_password(server: DbServer, tmp_path: Path) -> None:
    scan = new_scan(server, tmp_path, 2000)
    assert await wait(await scan.spawn(resume=False)) == 0, scan.stderr()
    assert_exactly_once(server, scan)
    row = query(
        server, f"SELECT row_count, error_count FROM run WHERE results_table = '{scan.table}'"
    )
    assert row.split() == ["2000", "2000"]
    assert_no_password(server, scan)
    assert "***@127.0.0.1" in query(server, "SELECT command FROM run")


async def test_kill_9_three_times_then_resume(server: DbServer, tmp_path: Path) -> None:
    rng = random.Random()
    scan = new_scan(server, tmp_path, 4000, "--rate", "2500")
    for n in range(3):
        proc = await scan.spawn(resume=n > 0)
        if await rows_appear(server, scan, proc, count(server, scan.table) if n else 0):
            await asyncio.sleep(rng.uniform(0, 0.3))
            kill_quietly(proc.pid, signal.SIGKILL)
        await wait(proc)
    proc = await scan.spawn(resume=True)
    assert await wait(proc) == 0, scan.stderr()
    assert_exactly_once(server, scan)
    assert_no_password(server, scan)


async def test_database_killed_and_restarted_mid_run(server: DbServer, tmp_path: Path) -> None:
    # Two worker processes: their records reach the writer through the process pool.
    scan = new_scan(server, tmp_path, 4000, "--rate", "2500", "--workers", "2")
    proc = await scan.spawn(resume=False)
    assert await rows_appear(server, scan, proc, 300)
    server.kill()
    await asyncio.sleep(0.5)  # the run keeps probing, then waits for the database
    server.start()
    assert await wait(proc) == 0, scan.stderr()
    assert_exactly_once(server, scan)
    assert_no_password(server, scan)


async def test_database_away_past_sink_timeout(server: DbServer, tmp_path: Path) -> None:
    scan = new_scan(server, tmp_path, 4000, "--rate", "2500", "--sink-timeout", "1")
    proc = await scan.spawn(resume=False)
    assert await rows_appear(server, scan, proc, 300)
    server.kill()
    try:
        assert await wait(proc) == 1
        message = scan.stderr()
        assert "cannot write results to" in message and "***@127.0.0.1" in message
        assert PASSWORD not in message
    finally:
        server.start()
    # The checkpoint vouches only for rows the database holds.
    done = scan.checkpoint_items()
    stored = {int(i) for i in query(server, f"SELECT item FROM {scan.table}").split()}
    assert done and done <= stored
    assert await wait(await scan.spawn(resume=True)) == 0, scan.stderr()
    assert_exactly_once(server, scan)
    assert_no_password(server, scan)

"""The shared SQL schema on SQLite, MariaDB and PostgreSQL, and ``aioscout show`` reading it."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aioscout._models import (
    DnsAnswer,
    DnsResult,
    ErrorInfo,
    ErrorKind,
    HttpResult,
    RedirectHop,
    TlsInfo,
)
from aioscout.cli._common import safe_command
from aioscout.sinks import RunInfo, SqlSink, open_sink
from aioscout.sinks._schema import table_spec
from aioscout.sinks.jsonl import encode_record
from tests._support.dbservers import PASSWORD, DbServer, MariaServer, PostgresServer
from tests.integration._cli import aioscout, refused_targets

_tables = itertools.count()


@dataclass(slots=True, kw_only=True)
class PortResult:
    """A record type the sinks have never seen (as a new probe would add)."""

    input: str
    host: str
    port: int
    open: bool
    banner: str | None = None
    rtt: float | None = None
    tags: list[str] | None = None
    error: ErrorInfo | None = None


def rich(i: int) -> HttpResult:
    return HttpResult(
        input=f"h{i}.test",
        host=f"h{i}.test",
        status=200 if i % 2 else 404,
        title=f"ünïcode {i} \x00 \udc80",
        time_ms=1.25,
        chain=[RedirectHop("http://h/", 301, "https://h/")],
        tls=TlsInfo(version="TLSv1.3", not_after="2027-03-01T12:00:00Z", sans=["a", "b"]),
        http2=True,
        error=ErrorInfo(ErrorKind.TIMEOUT, "slow") if i == 3 else None,
    )


@pytest.fixture(params=["sqlite", "mysql", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL of each kind, each test with its own table."""
    table = f"s{next(_tables)}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/r.db?table={table}"
        return
    server: DbServer = request.getfixturevalue(
        "mariadb" if request.param == "mysql" else "postgres"
    )
    yield server.url(table)


def test_a_new_record_type_gets_its_table_from_its_fields() -> None:
    spec = table_spec(PortResult)
    assert spec.default_name == "ports"
    kinds = {c.name: c.kind for c in spec.columns}
    assert kinds == {
        "input": "text",
        "host": "text",
        "port": "int",
        "open": "bool",
        "banner": "text",
        "rtt": "float",
    }
    for dialect in ("sqlite", "mysql", "postgres"):
        ddl = "\n".join(spec.ddl("ports", dialect))
        assert "tags" not in ddl  # a list lives in the JSON only
        assert ddl.count("_input_idx") == ddl.count("_host_idx") == 1
        assert "_status_idx" not in ddl  # no status field
    assert table_spec(DnsResult).default_name == "dns"
    http = {c.name: c.kind for c in table_spec(HttpResult).columns}
    assert http["status"] == "int" and http["time_ms"] == "float"
    assert http["tls_not_after"] == "time" and http["http2"] == "bool"


@pytest.mark.slow
async def test_the_same_query_works_on_every_database(url: str) -> None:
    records = [rich(i) for i in range(6)]
    sink = open_sink(url, run=RunInfo(fingerprint="f", command="aioscout http x"))
    assert isinstance(sink, SqlSink)
    async with sink:
        await sink.write_items(records, [0, 1, 2, 3, 3, 4])  # item 3 holds two records
        await sink.write_items(records[:2], [0, 1])  # a batch written again lands once
        assert await sink.count() == 6
    assert sink.table is not None
    query = (
        f"SELECT item, sub, status, title, time_ms, error_kind FROM {sink.table} "
        "WHERE status = 200 AND tls_not_after > '2027-01-01' AND http2 AND input LIKE 'h%' "
        "ORDER BY item, sub"
    )
    rows = await _query(url, query)
    assert [tuple(r[:3]) for r in rows] == [(1, 0, 200), (3, 0, 200), (4, 0, 200)]
    assert rows[0][3] == "ünïcode 1 \ufffd \ufffd" and rows[0][4] == 1.25
    assert rows[1][5] == "timeout"
    shown = _show(url, "--where", "status = 404")
    assert [json.loads(line)["input"] for line in shown] == ["h0.test", "h2.test", "h4.test"]
    expected = encode_record(records[0]).decode().replace("\\u0000", "\ufffd")
    assert json.loads(shown[0]) == json.loads(expected.replace("\\udc80", "\ufffd"))
    assert list(json.loads(shown[0])) == list(json.loads(expected.replace("\\udc80", "\ufffd")))


async def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    sink = open_sink(url)
    assert isinstance(sink, SqlSink)
    sink.read_only = True
    try:
        rows: list[tuple[object, ...]] = await sink._call(lambda: sink._fetch_all(sql), "query")
        return rows
    finally:
        await sink.aclose()


def _show(url: str, *args: str) -> list[str]:
    out = subprocess.run(
        aioscout("show", url, *args), capture_output=True, check=True, timeout=60, text=True
    )
    assert PASSWORD not in out.stdout + out.stderr
    return out.stdout.splitlines()


def test_show_lists_runs_and_refuses_other_outputs(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    asyncio.run(_write_sqlite(db))
    runs = [json.loads(x) for x in _show(f"sqlite:///{db}", "--runs")]
    assert [(r["table"], r["rows"], r["errors"]) for r in runs] == [("dns", 2, 1)]
    lines = _show(f"sqlite:///{db}", "--run", runs[0]["run_id"], "-j")
    assert [json.loads(x)["answers"][0]["data"] for x in lines[:1]] == ["127.0.0.1"]
    bad = subprocess.run(aioscout("show", "out.jsonl"), capture_output=True, text=True)
    assert bad.returncode == 2 and "show reads" in bad.stderr


async def _write_sqlite(db: Path) -> None:
    sink = open_sink(f"sqlite:///{db}")
    assert isinstance(sink, SqlSink)
    async with sink:
        await sink.write(
            [
                DnsResult(
                    input="a.test",
                    name="a.test",
                    answers=[DnsAnswer("a.test", "A", 5, "127.0.0.1")],
                ),
                DnsResult(
                    input="b.test", name="b.test", error=ErrorInfo(ErrorKind.DNS, "NXDOMAIN")
                ),
            ]
        )


def test_the_command_line_is_stored_without_secrets() -> None:
    line = safe_command(
        [
            "aioscout", "http", "-o", f"mysql://u:{PASSWORD}@127.0.0.1/db?table=t",
            "--proxy-auth", "u:pw1", "-H", "Authorization: Bearer tok", "--cookie=sid=abc",
            "--proxy", "http://p:pw2@127.0.0.1:3128", "title with space",
        ]
    )  # fmt: skip
    for secret in (PASSWORD, "pw1", "tok", "abc", "pw2"):
        assert secret not in line
    assert "'mysql://***@127.0.0.1/db?table=t'" in line and "'title with space'" in line


@pytest.mark.slow
def test_sqlite_output_resumes_under_the_same_run(tmp_path: Path) -> None:
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(refused_targets(300)) + "\n")
    url = f"sqlite:///{tmp_path}/r.db"
    args = aioscout("http", "-l", str(inp), "-o", url, "-s", "--workers", "1")
    for extra in ((), ("--resume",)):
        done = subprocess.run([*args, *extra], cwd=tmp_path, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(tmp_path / "r.db")
    try:
        n = conn.execute("SELECT count(*), count(DISTINCT item), count(DISTINCT run_id) FROM http")
        assert n.fetchone() == (300, 300, 1)
    finally:
        conn.close()
    assert not list(tmp_path.glob("aioscout-*.ckpt")), "a completed run leaves no checkpoint"
    assert sys.executable  # the runs used this interpreter (aioscout() above)


@pytest.mark.slow
def test_a_wrong_password_fails_at_once_without_showing_it(
    mariadb: MariaServer, postgres: PostgresServer, tmp_path: Path
) -> None:
    for server in (mariadb, postgres):
        wrong = server.url("w", password="wrong-" + PASSWORD)
        done = subprocess.run(
            aioscout("http", "127.0.0.1:1", "-o", wrong, "-s"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1
        assert "cannot write results to" in done.stderr and "gave up" not in done.stderr
        assert PASSWORD not in done.stderr + done.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "url", "extra"),
    [
        ("asyncmy", "mysql://u:s3cret@127.0.0.1:1/db", "mysql"),
        ("asyncpg", "postgresql://u:s3cret@127.0.0.1:1/db", "postgres"),
    ],
)
def test_a_missing_driver_is_one_clear_line(module: str, url: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{module!r}] = None; "
        "from aioscout.cli import main; main(sys.argv[1:])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "http", "127.0.0.1:1", "-o", url, "-s"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2  # an unusable output, refused before anything is sent
    assert done.stderr.strip().splitlines() == [
        f"aioscout: the {'MariaDB/MySQL' if extra == 'mysql' else 'PostgreSQL'} output needs "
        f"{module}: pip install 'aioscout[{extra}]'"
    ]

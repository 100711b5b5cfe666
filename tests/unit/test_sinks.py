"""JSON Lines, CSV and SQLite sinks, the retry policy and open_sink."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from aioscout._exceptions import ConfigError, SinkError
from aioscout._models import (
    DnsAnswer,
    DnsResult,
    ErrorInfo,
    ErrorKind,
    FetchResult,
    HttpResult,
    RedirectHop,
    TlsInfo,
)
from aioscout.sinks import (
    CsvSink,
    JsonlSink,
    RetryPolicy,
    SqliteSink,
    encode_batch,
    open_sink,
    redact_url,
    truncate_torn_tail,
)
from aioscout.sinks._retry import retry_call
from aioscout.sinks.csv import neutralise


class FakeClock:
    """Time that advances only when slept on."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def http(i: int, **kw: object) -> HttpResult:
    return HttpResult(input=f"host{i}.test", status=200, title=f"t{i}", **kw)  # type: ignore[arg-type]


def rich_record() -> HttpResult:
    return HttpResult(
        input="a.test",
        url="https://a.test/",
        status=301,
        title='quote " comma , newline \n end',
        chain=[RedirectHop("http://a.test/", 301, "https://a.test/")],
        tls=TlsInfo(version="TLSv1.3", sans=["a.test", "b.test"], self_signed=True),
        headers={"Server": "x"},
        tech=["nginx"],
        http2=False,
        time_ms=1.5,
    )


def failed(i: int) -> HttpResult:
    return HttpResult(input=f"bad{i}", error=ErrorInfo(ErrorKind.TIMEOUT, "connect timed out"))


# --- encoding and JSON Lines -------------------------------------------------------------


def test_encode_batch_round_trips_nested_records() -> None:
    dns = DnsResult(
        input="x.test",
        name="x.test",
        types=["A"],
        answers=[DnsAnswer("x.test", "A", 60, "127.0.0.5")],
    )
    data = encode_batch([rich_record(), failed(1), dns, FetchResult(input="u", size=3)])
    lines = data.split(b"\n")
    assert lines[-1] == b""
    objs = [json.loads(line) for line in lines[:-1]]
    assert objs[0]["chain"] == [
        {"url": "http://a.test/", "status": 301, "location": "https://a.test/"}
    ]
    assert objs[0]["tls"]["sans"] == ["a.test", "b.test"]
    assert objs[0]["title"] == 'quote " comma , newline \n end'
    assert objs[1]["error"] == {"kind": "timeout", "detail": "connect timed out"}
    assert objs[2]["answers"][0]["data"] == "127.0.0.5"
    assert objs[3]["size"] == 3
    assert encode_batch([]) == b""


def test_encode_keeps_a_record_with_undecodable_text() -> None:
    data = encode_batch([http(1), HttpResult(input="bad\udcff"), http(2)])
    objs = [json.loads(line) for line in data.splitlines()]
    assert [o["input"] for o in objs] == ["host1.test", "bad\ufffd", "host2.test"]


async def test_jsonl_batches_round_trip_and_position(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    async with JsonlSink(path) as sink:
        assert sink.position() == 0
        await sink.write([http(i) for i in range(100)])
        first = sink.position()
        assert first == path.stat().st_size
        await sink.write([])
        assert sink.position() == first
        await sink.write([failed(i) for i in range(50)])
        await sink.flush()
        assert sink.position() == path.stat().st_size > first
    rows = [json.loads(line) for line in path.read_bytes().splitlines()]
    assert len(rows) == 150
    assert rows[0]["input"] == "host0.test"
    assert rows[149]["error"]["kind"] == "timeout"


async def test_jsonl_large_batch_goes_through_the_thread_path(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    records = [http(i, body_preview="x" * 500) for i in range(2000)]  # > 256 KiB encoded
    async with JsonlSink(str(path)) as sink:
        await sink.write(records)
        assert sink.position() == path.stat().st_size > 256 * 1024
    assert len(path.read_bytes().splitlines()) == 2000


async def test_jsonl_truncates_by_default_and_appends_on_request(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"old":1}\n{"old":2}\n{"torn')
    async with JsonlSink(path, append=True) as sink:
        assert sink.position() == len(b'{"old":1}\n{"old":2}\n')
        await sink.write([http(1)])
        assert sink.position() == path.stat().st_size
    lines = [json.loads(line) for line in path.read_bytes().splitlines()]
    assert [line.get("old") for line in lines] == [1, 2, None]
    async with JsonlSink(path) as sink:
        assert sink.position() == 0
    assert path.read_bytes() == b""


async def test_jsonl_append_truncates_to_a_checkpoint_position(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}\n{"a":3}\n')
    async with JsonlSink(path, append=True, truncate_at=8) as sink:
        assert sink.position() == 8
        await sink.write([http(9)])
    lines = path.read_bytes().splitlines()
    assert lines[0] == b'{"a":1}'
    assert json.loads(lines[1])["input"] == "host9.test"
    assert len(lines) == 2
    with pytest.raises(SinkError, match="shorter than the checkpoint"):
        JsonlSink(path, append=True, truncate_at=10**6)


async def test_jsonl_open_failure_is_a_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match=r"cannot open .*No such file"):
        JsonlSink(tmp_path / "missing-dir" / "out.jsonl")


async def test_write_after_close_is_refused(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "x.jsonl")
    await sink.aclose()
    await sink.aclose()
    with pytest.raises(SinkError, match="closed"):
        await sink.write([http(1)])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", b""),
        (b"no newline at all", b""),
        (b"a\nb\n", b"a\nb\n"),
        (b"a\nb\npartial", b"a\nb\n"),
        (b"a\n" + b"x" * 200_000, b"a\n"),  # the last newline is several chunks back
    ],
)
def test_truncate_torn_tail(tmp_path: Path, content: bytes, expected: bytes) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(content)
    assert truncate_torn_tail(path) == len(expected)
    assert path.read_bytes() == expected


def test_truncate_torn_tail_of_missing_file(tmp_path: Path) -> None:
    assert truncate_torn_tail(tmp_path / "nope") == 0


async def test_pipe_output_and_closed_pipe(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_fd, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        sink = JsonlSink(f"/dev/fd/{write_fd}")
        await sink.write([http(i) for i in range(3000)])  # more than a pipe buffer holds
        assert sink.position() == len(encode_batch([http(i) for i in range(3000)]))
        await sink.aclose()
    finally:
        os.close(write_fd)
        reader.join(timeout=10)
        os.close(read_fd)
    assert len(received.splitlines()) == 3000

    read_fd, write_fd = os.pipe()
    sink = JsonlSink(f"/dev/fd/{write_fd}", retry=RetryPolicy(clock=FakeClock()))
    os.close(write_fd)
    os.close(read_fd)
    with pytest.raises(SinkError, match="Broken pipe"):
        await sink.write([http(1)])
    await sink.aclose()


async def test_dev_full_gives_up_after_the_deadline() -> None:
    clock = FakeClock()
    events: list[tuple[int, str, float]] = []
    policy = RetryPolicy(
        deadline=1.0,
        first_delay=0.1,
        max_delay=0.4,
        clock=clock,
        on_retry=lambda *a: events.append(a),
    )
    sink = JsonlSink("/dev/full", append=True, retry=policy)
    with pytest.raises(
        SinkError, match="cannot write results to /dev/full: No space left on device"
    ):
        await sink.write([http(1)])
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.3])
    assert [e[0] for e in events] == [1, 2, 3, 4]
    assert "No space left" in events[0][1]
    assert sink.position() == 0
    await sink.aclose()


# --- retry policy and redaction ------------------------------------------------------------


async def test_retry_call_succeeds_after_transient_failures() -> None:
    clock = FakeClock()
    calls = 0

    async def op() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise OSError(28, "No space left on device")
        return "ok"

    result = await retry_call(
        op,
        policy=RetryPolicy(first_delay=1.0, clock=clock),
        retryable=lambda e: True,
        describe=str,
    )
    assert (result, calls, clock.sleeps) == ("ok", 3, [1.0, 2.0])


async def test_retry_call_does_not_retry_fatal_errors() -> None:
    clock = FakeClock()

    async def op() -> None:
        raise PermissionError(13, "Permission denied")

    with pytest.raises(SinkError, match="nope") as info:
        await retry_call(
            op,
            policy=RetryPolicy(clock=clock),
            retryable=lambda e: False,
            describe=lambda e: "nope",
        )
    assert isinstance(info.value.__cause__, PermissionError)
    assert clock.sleeps == []


def test_retry_policy_validation() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        RetryPolicy(deadline=-1)
    with pytest.raises(ValueError, match="multiplier"):
        RetryPolicy(multiplier=0.5)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://user:s3cret@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),
        ("redis://:s3cret@127.0.0.1/0?key=k", "redis://***@127.0.0.1/0?key=k"),
        ("unix:///tmp/r.sock?db=0&password=s3cret", "unix:///tmp/r.sock?db=0&password=***"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


# --- CSV ---------------------------------------------------------------------------------------


async def test_csv_rows_header_once_and_nested_cells(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    async with CsvSink(path) as sink:
        await sink.write([rich_record(), failed(1)])
        await sink.write([http(2)])
        assert sink.position() == path.stat().st_size
    async with CsvSink(path, append=True) as sink:
        await sink.write([http(3)])
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["input"] for r in rows] == ["a.test", "bad1", "host2.test", "host3.test"]
    first = rows[0]
    assert "error" not in first
    assert first["title"] == 'quote " comma , newline \n end'
    assert json.loads(first["chain"])[0]["location"] == "https://a.test/"
    assert json.loads(first["tls"])["sans"] == ["a.test", "b.test"]
    assert first["http2"] == "false"
    assert first["time_ms"] == "1.5"
    assert first["error_kind"] == first["error_detail"] == first["server"] == ""
    assert rows[1]["error_kind"] == "timeout"
    assert rows[1]["error_detail"] == "connect timed out"


async def test_csv_columns_for_dns_and_fetch(tmp_path: Path) -> None:
    for record in (
        DnsResult(input="d", name="d", answers=[DnsAnswer("d", "A", 1, "127.0.0.1")]),
        FetchResult(input="f", size=10, sha256="ab"),
    ):
        path = tmp_path / f"{type(record).__name__}.csv"
        async with CsvSink(path) as sink:
            await sink.write([record])
        with path.open(newline="") as f:
            (row,) = list(csv.DictReader(f))
        assert row["input"] == record.input
        assert "error_kind" in row
        if isinstance(record, DnsResult):
            assert json.loads(row["answers"])[0]["data"] == "127.0.0.1"
            assert row["wildcard"] == "false"
        else:
            assert row["size"] == "10"


async def test_csv_rejects_mixed_record_types(tmp_path: Path) -> None:
    async with CsvSink(tmp_path / "m.csv") as sink:
        await sink.write([http(1)])
        with pytest.raises(TypeError, match="one record type"):
            await sink.write([FetchResult(input="x")])


# --- SQLite -------------------------------------------------------------------------------------


async def test_sqlite_batches_columns_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    async with SqliteSink(path, table="http") as sink:
        assert await sink.count() == 0
        await sink.write([rich_record(), failed(1)])
        await sink.write([http(i) for i in range(10)])
        assert await sink.count() == 12
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = conn.execute(
            "SELECT input, status, title, http2, error_kind, error_detail, record FROM http "
            "ORDER BY item"
        ).fetchall()
    finally:
        conn.close()
    assert len(rows) == 12
    assert rows[0][:4] == ("a.test", 301, 'quote " comma , newline \n end', 0)
    assert json.loads(rows[0][6])["tls"]["version"] == "TLSv1.3"
    assert rows[1][4:6] == ("timeout", "connect timed out")
    assert rows[2][4] is None


async def test_sqlite_appends_to_an_existing_table_and_refuses_a_foreign_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.db"
    async with SqliteSink(path) as sink:
        await sink.write([http(1)])
    async with SqliteSink(path) as sink:
        await sink.write([http(2)])
        assert await sink.count() == 1  # this run's rows
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*), count(DISTINCT run_id) FROM http").fetchone() == (2, 2)
    assert conn.execute("SELECT count(*), sum(row_count) FROM run").fetchone() == (2, 2)
    conn.execute("CREATE TABLE other (x INTEGER)")
    conn.commit()
    conn.close()
    async with SqliteSink(path, table="other") as sink:
        with pytest.raises(SinkError, match="exists without columns"):
            await sink.write([http(3)])


def test_sqlite_table_name_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="table name"):
        SqliteSink(tmp_path / "x.db", table='x"; DROP TABLE y; --')


# --- open_sink ----------------------------------------------------------------------------------


async def test_open_sink_chooses_by_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sinks = [
        open_sink("-"),
        open_sink("out.jsonl"),
        open_sink("other.txt"),
        open_sink("out.CSV"),
        open_sink("sqlite:///rel.db?table=t1"),
        open_sink(f"sqlite:///{tmp_path}/abs.db"),
    ]
    try:
        assert [type(s).__name__ for s in sinks] == [
            "JsonlSink",
            "JsonlSink",
            "JsonlSink",
            "CsvSink",
            "SqliteSink",
            "SqliteSink",
        ]
        assert isinstance(sinks[0], JsonlSink)
        assert sinks[0].name == "standard output"
        assert isinstance(sinks[4], SqliteSink)
        assert sinks[4].name == "rel.db (table t1)"
        assert isinstance(sinks[5], SqliteSink)
        assert sinks[5].name.startswith(f"{tmp_path}/abs.db")
    finally:
        for s in sinks:
            await s.aclose()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty output"),
        ("mysql://root:s3cret@127.0.0.1/", "name the database"),
        ("postgresql://root:s3cret@127.0.0.1/db?tabel=x", "unknown PostgreSQL output parameter"),
        ("postgres://root:s3cret@127.0.0.1:99999/db", "bad PostgreSQL output"),
        ("mariadb://root:s3cret@127.0.0.1/db?table=x;y", "table name"),
        ("oracle://root:s3cret@127.0.0.1/db", "unsupported output oracle"),
        ("sqlite://x.db", "use sqlite:///file.db"),
        ("sqlite:///x.db?tabel=t", "unknown SQLite output parameter"),
        ("sqlite:///x.db?table=1bad", "table name"),
        ("redis://u:s3cret@127.0.0.1:6379/0?mode=set", "mode must be list or stream"),
        ("redis://u:s3cret@127.0.0.1:notaport/0", "invalid Redis URL"),
    ],
)
def test_open_sink_errors_never_show_credentials(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        open_sink(spec)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("title", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("  =1+1", "'  =1+1"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("Home - Site", "Home - Site"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
async def test_csv_neutralises_formulas(tmp_path: Path, title: str, cell: str) -> None:
    path = tmp_path / "f.csv"
    record = http(1)
    record.title = title
    record.error = ErrorInfo(ErrorKind.PROTOCOL, "=bad")
    async with CsvSink(path) as sink:
        await sink.write([record])
    with path.open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["title"] == cell
    assert row["error_detail"] == "'=bad"
    assert row["status"] == str(record.status)
    assert neutralise("\r=1") == "'\r=1"
    assert neutralise("\n@x") == "'\n@x"

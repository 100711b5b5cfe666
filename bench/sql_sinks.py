"""SQL sinks: which driver and which batch statement, and the sinks against JSON Lines.

Part 1 (drivers): the same rows (lab-like HTTP records through the sinks'
own schema: typed columns plus the record as JSON) upserted in batches of 512,
one transaction per batch, into a fresh table of a throwaway MariaDB and
PostgreSQL server started by this script on loopback:

- MariaDB: asyncmy and aiomysql, ``executemany`` of ``INSERT ... ON DUPLICATE
  KEY UPDATE`` (both drivers rewrite it into one multi-row statement);
- PostgreSQL (asyncpg): ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE``
  against ``COPY`` into a temporary table then one ``INSERT ... SELECT ... ON
  CONFLICT DO UPDATE``, and a plain ``COPY`` into the table as the ceiling.

Part 2 (the command line): ``aioscout http`` over N refused-connection
targets (the cheapest records there are, so the sink's share of the run is
the largest) into JSON Lines, MariaDB and PostgreSQL; rows per second of each
and the ratio to JSON Lines.

Run: ``.venv/bin/python bench/sql_sinks.py [--rows 100000] [--targets 100000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests._support.dbservers import (  # noqa: E402
    DATABASE,
    PASSWORD,
    USER,
    MariaServer,
    PostgresServer,
)

from aioscout._models import ErrorInfo, ErrorKind, HttpResult, TlsInfo  # noqa: E402
from aioscout.sinks._schema import quote, table_spec, upsert_sql  # noqa: E402
from aioscout.sinks.jsonl import encode_record  # noqa: E402

BATCH = 512


def sample(i: int) -> HttpResult:
    """A lab-like page: status, title, TLS for one in four, an error for one in ten."""
    if i % 10 == 9:
        return HttpResult(
            input=f"host{i}.lab.test", error=ErrorInfo(ErrorKind.REFUSED, "connection refused")
        )
    tls = (
        TlsInfo(version="TLSv1.3", subject_cn=f"host{i}.lab.test",
                not_before="2026-01-01T00:00:00Z", not_after="2027-01-01T00:00:00Z",
                sans=[f"host{i}.lab.test"])
        if i % 4 == 0 else None
    )  # fmt: skip
    return HttpResult(
        input=f"host{i}.lab.test", url=f"https://host{i}.lab.test/", host=f"host{i}.lab.test",
        ip="127.0.0.1", port=443, scheme="https", status=200, title=f"Page number {i}",
        content_length=1234, content_type="text/html", server="lab", time_ms=1.5 + i % 7,
        tls=tls, body_sha256="ab" * 32, words=120, lines=30,
    )  # fmt: skip


def rows_for(n: int, dialect: str) -> list[tuple[object, ...]]:
    spec = table_spec(HttpResult)
    times = spec.time_positions
    out = []
    for i in range(n):
        rec = sample(i)
        values = spec.values(rec)
        if dialect == "mysql":
            for p in times:
                v = values[p]
                values[p] = None if v is None else v.replace(tzinfo=None)  # type: ignore[attr-defined]
        out.append(("run1", i, 0, *values, encode_record(rec).decode()))
    return out


async def timed(label: str, n: int, body: Callable[[], Awaitable[None]]) -> tuple[str, float]:
    start, cpu = time.perf_counter(), time.process_time()
    await body()
    wall = time.perf_counter() - start
    cpu_us = (time.process_time() - cpu) / n * 1e6
    print(
        f"  {label:<54} {n / wall:>8,.0f} rows/s  ({wall:.2f} s)  client CPU {cpu_us:.1f} us/row",
        flush=True,
    )
    return label, n / wall


async def bench_mysql(server: MariaServer, n: int) -> list[tuple[str, float]]:
    import aiomysql
    import asyncmy

    spec = table_spec(HttpResult)
    rows = rows_for(n, "mysql")
    results = []
    for name, connect in (
        ("asyncmy", asyncmy.connect),
        ("aiomysql", aiomysql.connect),
        ("asyncmy", asyncmy.connect),
        ("aiomysql", aiomysql.connect),
    ):
        table = f"b_{name}"
        conn = await connect(host="127.0.0.1", port=server.port, user=USER, password=PASSWORD,
                             db=DATABASE, autocommit=True)  # fmt: skip
        async with conn.cursor() as cur:
            await cur.execute(f"DROP TABLE IF EXISTS {quote(table, 'mysql')}")
            for stmt in spec.ddl(table, "mysql"):
                await cur.execute(stmt)
        sql = upsert_sql(table, spec.names, "mysql")

        async def run(conn: Any = conn, sql: str = sql) -> None:
            for start in range(0, n, BATCH):
                await conn.begin()
                async with conn.cursor() as cur:
                    await cur.executemany(sql, rows[start : start + BATCH])
                await conn.commit()

        results.append(await timed(f"MariaDB {name} executemany upsert", n, run))
        conn.close()
    return results


async def bench_pg(server: PostgresServer, n: int) -> list[tuple[str, float]]:
    import asyncpg

    spec = table_spec(HttpResult)
    rows = rows_for(n, "postgres")
    names = spec.names
    conn = await asyncpg.connect(host="127.0.0.1", port=server.port, user=USER,
                                 password=PASSWORD, database=DATABASE)  # fmt: skip
    results = []

    async def fresh(table: str) -> None:
        await conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        for stmt in spec.ddl(table, "postgres"):
            await conn.execute(stmt)

    for _round in range(2):
        await fresh("b_many")
        sql = upsert_sql("b_many", names, "postgres")

        async def many(sql: str = sql) -> None:
            for start in range(0, n, BATCH):
                async with conn.transaction():
                    await conn.executemany(sql, rows[start : start + BATCH])

        results.append(await timed("PostgreSQL asyncpg executemany upsert", n, many))

        await fresh("b_copy")
        cols = ", ".join(f'"{c}"' for c in names)
        rest = [c for c in names if c not in ("run_id", "item", "sub")]
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in rest)
        merge = (
            f'INSERT INTO "b_copy" ({cols}) SELECT {cols} FROM "b_stage" '
            f'ON CONFLICT ("run_id", "item", "sub") DO UPDATE SET {sets}'
        )
        await conn.execute(
            'CREATE TEMP TABLE "b_stage" (LIKE "b_copy" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
        )

        async def copy_merge(merge: str = merge) -> None:
            for start in range(0, n, BATCH):
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "b_stage", records=rows[start : start + BATCH], columns=names
                    )
                    await conn.execute(merge)

        results.append(
            await timed("PostgreSQL asyncpg COPY to temp + INSERT ON CONFLICT", n, copy_merge)
        )
        await conn.execute('DROP TABLE "b_stage"')

        await fresh("b_plain")

        async def plain_copy() -> None:
            for start in range(0, n, BATCH):
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "b_plain", records=rows[start : start + BATCH], columns=names
                    )

        results.append(
            await timed("PostgreSQL asyncpg plain COPY (no upsert, ceiling)", n, plain_copy)
        )
    await conn.close()
    return results


def bench_escape(n: int) -> None:
    """Client CPU to turn the typed columns into SQL literals (what the MariaDB sink sends)."""
    from asyncmy.converters import escape_item as asyncmy_escape
    from pymysql.converters import escape_item as pymysql_escape

    rows = [r[:-1] for r in rows_for(n, "mysql")]  # the JSON goes as hex, not escaped
    print(f"\nSQL literals for the typed columns of {n:,} rows (no server):")
    for name, escape in (("asyncmy", asyncmy_escape), ("PyMySQL (aiomysql's)", pymysql_escape)) * 2:
        start = time.process_time()
        for row in rows:
            ",".join([escape(v, "utf8mb4") for v in row])
        cpu_us = (time.process_time() - start) / n * 1e6
        print(f"  {name:<22} {cpu_us:.1f} us/row", flush=True)


async def bench_sinks(maria: MariaServer, pg: PostgresServer, n: int) -> None:
    """The sinks themselves (row building included), as the engine's writer calls them."""
    from aioscout.sinks import RunInfo, open_sink

    records = [sample(i) for i in range(n)]
    for server, label in (
        (maria, "MariaDB"),
        (pg, "PostgreSQL"),
        (maria, "MariaDB"),
        (pg, "PostgreSQL"),
    ):
        sink: Any = open_sink(server.url(f"sink_{int(time.time() * 1000)}"), run=RunInfo())

        async def run(sink: Any = sink) -> None:
            for start in range(0, n, BATCH):
                batch = records[start : start + BATCH]
                await sink.write_items(batch, range(start, start + len(batch)))

        note = "hex JSON, multi-row upsert" if server is maria else "COPY to temp + upsert"
        await timed(f"{label} aioscout sink ({note})", n, run)
        await sink.aclose()


def cli_run(output: str, targets: Path, workdir: Path, extra: list[str]) -> float:
    cmd = [str(Path(sys.executable).parent / "aioscout"), "http", "-l", str(targets), "-o", output,
           "--silent", "-c", "1000", "--timeout", "5", *extra]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=workdir, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench_cli(maria: MariaServer, pg: PostgresServer, n: int, workdir: Path) -> None:
    targets = workdir / "targets.txt"
    with open(targets, "w") as f:
        for i in range(n):
            f.write(f"http://127.{91 + i // 65536 % 100}.{i // 256 % 256}.{i % 256}:1/\n")
    print(f"\naioscout http over {n:,} refused targets (-c 1000), median of 3 alternating rounds:")
    walls: dict[str, list[float]] = {"jsonl": [], "mysql": [], "postgresql": []}
    for r in range(3):
        outputs = {
            "jsonl": str(workdir / f"out{r}.jsonl"),
            "mysql": maria.url(f"cli{r}"),
            "postgresql": pg.url(f"cli{r}"),
        }
        for kind, output in outputs.items():
            walls[kind].append(cli_run(output, targets, workdir, []))
            print(f"  round {r + 1} {kind:<11} {walls[kind][-1]:.2f} s", flush=True)
    for r in range(3):
        assert maria.count(f"cli{r}") == n, "MariaDB rows != targets"
        assert pg.count(f"cli{r}") == n, "PostgreSQL rows != targets"
    med = {k: sorted(v)[1] for k, v in walls.items()}
    for k in walls:
        rounds = ", ".join(f"{w:.2f}" for w in walls[k])
        print(f"  {k:<11} median {med[k]:.2f} s  {n / med[k]:>8,.0f} rows/s  "
              f"{med['jsonl'] / med[k]:.2f}x JSONL  (rounds {rounds} s)")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--skip-drivers", action="store_true")
    parser.add_argument("--only-sinks", action="store_true", help="the sinks' own rows/s only")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="aioscout-sqlbench-") as tmp:
        root = Path(tmp)
        (root / "maria").mkdir()
        (root / "pg").mkdir()
        maria = MariaServer(root / "maria")
        pg = PostgresServer(root / "pg")
        maria.start()
        pg.start()
        try:
            maria_version = maria.sql("SELECT version()").strip()
            pg_version = pg.psql("SHOW server_version").strip()
            print(f"MariaDB: {maria_version}; PostgreSQL: {pg_version} (default durability)")
            if not args.skip_drivers:
                print(f"\n{args.rows:,} rows, batches of {BATCH}, one transaction each:")
                if not args.only_sinks:
                    await bench_mysql(maria, args.rows)
                    await bench_pg(pg, args.rows)
                bench_escape(min(args.rows, 20_000))
                await bench_sinks(maria, pg, args.rows)
            if args.targets:
                bench_cli(maria, pg, args.targets, root)
        finally:
            maria.stop()
            pg.stop()


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the servers this script started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(main())

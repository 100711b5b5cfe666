"""``aioscout diff`` and ``--every`` + ``--notify`` over a farm whose hosts change."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests._support.farm import Farm

pytestmark = pytest.mark.slow


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aioscout",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _changes(out: str) -> set[tuple[str, str, str]]:
    """(change, key, changed fields) of each JSON line."""
    rows = [json.loads(line) for line in out.splitlines()]
    return {(r["change"], r["key"], ",".join(sorted(r.get("fields", {})))) for r in rows}


async def test_diff_of_two_runs_reports_exactly_what_changed(tmp_path: Path) -> None:
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    async with Farm(a="alpha", b="bravo", c=None, d="delta") as farm:
        targets = farm.targets()
        code, _, _ = await _cli("http", *targets, "-o", str(old), "-s")
        assert code == 0
        farm["a"].title = "alpha 2"  # changed title
        farm["b"].title = None  # went down
        farm["c"].title = "charlie"  # came up
        farm["d"].server = "farm/2"  # changed server
        code, _, _ = await _cli("http", *targets, "-o", str(new), "-s")
        assert code == 0
        code, out, err = await _cli("diff", str(old), str(new), "-j")
        a, b, c, d = targets
    assert code == 0, err
    assert _changes(out) == {
        ("changed", a, "title"),
        ("gone", b, ""),
        ("new", c, ""),
        ("changed", d, "server"),
    }
    code, human, _ = await _cli("diff", str(old), str(new))
    assert f"~ {a}  title alpha → alpha 2" in human.splitlines()
    assert f"- {b}  status 200, title bravo, server farm/1" in human.splitlines()
    code, md, _ = await _cli("diff", str(old), str(new), "--format", "md")
    assert "**1 new, 1 gone, 2 changed**" in md and f"- `{c}`" in md
    code, same, _ = await _cli("diff", str(new), str(new), "-j")
    assert (code, same) == (0, "")


class _Receiver:
    """A webhook on loopback: keeps each posted body, calls ``then`` after each."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.fail_first = 0

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        self.bodies.append(await request.json())
        self.then(len(self.bodies))
        return web.Response(text="ok")

    def then(self, n: int) -> None:
        pass


async def test_every_emits_only_changes_and_posts_them_to_a_webhook(tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    receiver = _Receiver()
    receiver.fail_first = 1  # the first post is retried
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        async with Farm(a="alpha", b="bravo", c=None) as farm:

            def flip(n: int) -> None:  # after the first change set, before the next run
                if n == 1:
                    farm["a"].title = "alpha 2"
                    farm["b"].title = None
                    farm["c"].title = "charlie"

            receiver.then = flip  # type: ignore[method-assign]
            a, b, c = farm.targets()
            code, stdout, err = await _cli(
                "http",
                a,
                b,
                c,
                "--every",
                "1s",
                "--runs",
                "3",
                "--notify",
                hook,
                "-H",
                "X-Api-Key: s3cr3t-key-value",
                "-o",
                str(out),
            )
    finally:
        await runner.cleanup()
    assert code == 0, err
    lines = [json.loads(line) for line in stdout.splitlines()]
    got = [(r["change"], r["key"]) for r in lines]
    assert sorted(got[:2]) == sorted([("new", a), ("new", b)])  # run 1: everything is new
    assert got[2:] == [("gone", b), ("changed", a), ("new", c)]  # run 2: gone, changed, new
    assert "run 3: 3 results, no changes" in err
    assert len(receiver.bodies) == 2  # run 3 changed nothing: nothing posted
    assert [b["summary"] for b in receiver.bodies] == [
        {"new": 2, "gone": 0, "changed": 0},
        {"new": 1, "gone": 1, "changed": 1},
    ]
    assert "s3cr3t" not in json.dumps(receiver.bodies)
    runs = [p for p in os.listdir(tmp_path) if p.startswith("scan.2") and p.endswith(".jsonl")]
    assert len(runs) == 3  # a file per run beside -o


async def test_ctrl_c_between_runs_stops_at_once_and_cleanly(tmp_path: Path) -> None:
    async with Farm(a="alpha") as farm:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "aioscout",
            "http",
            farm["a"].target,
            "--every",
            "1h",
            "-j",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None and proc.stdout is not None
        seen = b""
        while b"run 1:" not in seen:
            line = await proc.stderr.readline()
            assert line, seen
            seen += line
        proc.send_signal(signal.SIGINT)
        out = await proc.stdout.read()
        rest = await proc.stderr.read()
        code = await proc.wait()
    assert code == 0
    assert b"stopped between runs" in rest
    assert [json.loads(x)["change"] for x in out.splitlines()] == ["new"]


async def test_a_sqlite_output_keeps_a_table_per_run_and_a_restart_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    async with Farm(a="alpha", b="bravo") as farm:
        args = ("http", *farm.targets(), "--every", "0.2", "--runs", "2", "-o", f"sqlite:///{db}")
        code, first, err = await _cli(*args)
        assert code == 0, err
        farm["b"].title = "bravo 2"
        code, again, err = await _cli(*args)  # run 1 compares with the newest table
        assert code == 0, err
        code, between, _ = await _cli(
            "diff",
            f"sqlite:///{db}?table={_tables(db)[0]}",
            f"sqlite:///{db}?table={_tables(db)[-1]}",
            "-j",
        )
    assert [json.loads(x)["change"] for x in first.splitlines()] == ["new", "new"]
    assert _changes(again) == {("changed", farm["b"].target, "title")}
    assert len(_tables(db)) == 4
    assert _changes(between) == {("changed", farm["b"].target, "title")}


def _tables(db: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return sorted(  # the runs' tables, not the sink's table of runs
            n
            for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if n != "run"
        )
    finally:
        conn.close()

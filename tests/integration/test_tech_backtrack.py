"""``--tech`` on pages built to make fingerprint regexes backtrack: nothing freezes.

The hostile farm's ``backtrack_page`` is a 150 KB page of ``<script `` tags
full of ``<`` after the words many fingerprints look for; searched whole, one
such page cost minutes of CPU. With it, a silent target still gets its
timeout record on time, and Ctrl-C is answered while pages are being matched.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aioscout.lab.hostile import HostileFarm

from ._cli import finish, records, run_cli, spawn_cli, wait_for_growth

pytestmark = pytest.mark.slow

TIMEOUT = 3.0
MARGIN = 2.0
STARTUP = 4.0  # interpreter start-up and imports (on a busy machine), outside any target's clock


@pytest.fixture
async def farm() -> AsyncIterator[HostileFarm]:
    async with HostileFarm(hold=30.0) as running:
        yield running


def _targets(farm: HostileFarm, copies: int) -> list[str]:
    page = farm.url("backtrack_page")
    return [f"{page}?copy={i}" for i in range(copies)] + [farm.url("accept_never_answer")]


async def test_backtrack_pages_and_a_silent_target_finish_in_time(
    farm: HostileFarm, tmp_path: Path
) -> None:
    urls = _targets(farm, 8)
    inp, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(urls) + "\n")
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await run_cli(
        "http", "-l", str(inp), "-o", str(out), "--tech", "--timeout", f"{TIMEOUT:g}",
        "--retries", "0", "--per-host", "64",
        timeout=TIMEOUT + MARGIN + STARTUP + 10,
    )  # fmt: skip
    elapsed = loop.time() - started
    assert result.returncode == 0, result.stderr
    recs = {r["input"]: r for r in records(out)}
    assert set(recs) == set(urls)
    for url in urls[:-1]:
        assert recs[url]["status"] == 200, recs[url]["error"]
        assert recs[url]["title"] == "Backtrack"
        assert recs[url]["error"] is None
    silent = recs[urls[-1]]
    assert silent["error"]["kind"] == "timeout"
    for rec in recs.values():
        assert rec["time_ms"] <= (TIMEOUT + MARGIN) * 1000, rec
    assert elapsed < TIMEOUT + MARGIN + STARTUP, f"the run took {elapsed:.1f}s"


async def test_ctrl_c_is_answered_while_pages_are_matched(
    farm: HostileFarm, tmp_path: Path
) -> None:
    urls = _targets(farm, 400)
    inp, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(urls) + "\n")
    proc = await spawn_cli(
        "http", "-l", str(inp), "-o", str(out), "--tech", "--timeout", f"{TIMEOUT:g}",
        "--retries", "0", "--per-host", "64", "-c", "64", "--no-progress",
    )  # fmt: skip
    assert await wait_for_growth(out, 0, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    async with asyncio.timeout(1.0):  # the answer the issue asks for: within a second
        while True:
            line = (await proc.stderr.readline()).decode()
            assert line, "stderr closed before the Ctrl-C answer"
            if "finishing targets in flight" in line:
                break
    result = await finish(proc, timeout=TIMEOUT + MARGIN + 5)
    assert result.returncode == 130, result.stderr
    recs = records(out)
    assert recs and len({r["input"] for r in recs}) == len(recs)

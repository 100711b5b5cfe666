"""``aioscout dns`` with process workers: items go to the workers in blocks.

The promises of the one-process run hold: one record per input line
(duplicates and invalid lines included), every existing name found and no
other, nothing lost when a worker dies mid-run or the run is killed and
resumed.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from aioscout.lab.dns import DnsServer, LabZone, build_lab_zone

from ._cli import (
    assert_one_record_per_line,
    finish,
    kill_quietly,
    records,
    run_cli,
    spawn_cli,
    wait_for_growth,
    worker_pids,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def zone() -> LabZone:
    return build_lab_zone(bulk_names=1500, seed=11)


def _words(zone: LabZone, tmp_path: Path, missing: int) -> tuple[Path, list[str]]:
    words = list(zone.wordlist(missing=missing))
    # Repeats and unusable lines still get one record each.
    lines = [*words, words[0], words[7], "bad..word", "-dash"]
    path = tmp_path / "words.txt"
    path.write_text("\n".join(lines) + "\n")
    return path, lines


def _existing(zone: LabZone, lines: list[str]) -> set[str]:
    names = {f"{w}.{zone.bulk_domain}" for w in lines}
    return {n for n in names if zone.exists(n)}


async def test_brute_force_with_two_workers_one_record_per_line(
    zone: LabZone, tmp_path: Path
) -> None:
    words, lines = _words(zone, tmp_path, 3000)
    out, found_out = tmp_path / "all.jsonl", tmp_path / "found.jsonl"
    async with DnsServer(zone) as server:
        base = ("dns", zone.bulk_domain, "-w", str(words), "-r", server.address, "--workers", "2")
        result = await run_cli(*base, "--all", "-o", str(out), "-s")
        assert result.returncode == 0, result.stderr
        found_run = await run_cli(*base, "-o", str(found_out))
        assert found_run.returncode == 0, found_run.stderr
    recs = assert_one_record_per_line(out, lines)
    kinds = [r["error"]["kind"] for r in recs if r["error"]]
    assert kinds.count("duplicate") == 2
    assert kinds.count("invalid_input") == 2
    existing = _existing(zone, lines)
    assert {r["name"] for r in recs if not r["error"]} == existing
    found = records(found_out)
    assert sorted(r["name"] for r in found) == sorted(existing)  # each once
    # The summary still counts every line, found or not.
    assert f"{len(lines):,} done" in found_run.stderr
    assert f"{len(existing):,} found" in found_run.stderr


async def test_worker_killed_mid_run_loses_nothing(zone: LabZone, tmp_path: Path) -> None:
    words, lines = _words(zone, tmp_path, 12_000)
    out = tmp_path / "out.jsonl"
    async with DnsServer(zone) as server:
        proc = await spawn_cli(
            *("dns", zone.bulk_domain, "-w", str(words), "-r", server.address, "--all"),
            *("--workers", "2", "--per-resolver-rate", "4000", "-o", str(out), "--no-progress"),
        )
        assert await wait_for_growth(out, 20_000, proc)
        workers = worker_pids(proc.pid)
        assert len(workers) == 2, workers
        assert kill_quietly(workers[0])
        result = await finish(proc)
    assert result.returncode == 0, result.stderr
    recs = assert_one_record_per_line(out, lines)
    assert {r["name"] for r in recs if not r["error"]} == _existing(zone, lines)


async def test_kill_9_then_resume_with_workers(zone: LabZone, tmp_path: Path) -> None:
    words, lines = _words(zone, tmp_path, 12_000)
    out = tmp_path / "out.jsonl"
    async with DnsServer(zone) as server:
        args = [*("dns", zone.bulk_domain, "-w", str(words), "-r", server.address, "--all")]
        args += ["--workers", "2", "--per-resolver-rate", "4000", "-o", str(out), "--no-progress"]
        proc = await spawn_cli(*args)
        assert await wait_for_growth(out, 20_000, proc)
        assert kill_quietly(proc.pid, signal.SIGKILL)
        await finish(proc)
        result = await run_cli(*args, "--resume")
    assert result.returncode == 0, result.stderr
    recs = assert_one_record_per_line(out, lines)
    assert {r["name"] for r in recs if not r["error"]} == _existing(zone, lines)

"""Memory stays flat however long the input: peak RSS of a long run vs. a short one.

Both runs probe loopback addresses where nothing listens (each refuses at
once), read lazily from a file generated line by line. The long run is eight
times the short one; its peak RSS must stay under 200 MB and close to the
short run's, so memory does not grow with the number of targets. (The
issue's check is 10 million lines; at a few thousand refusals a second on a
small, shared machine that takes the better part of an hour, so the test
uses 80,000 lines, which shows the same property: nothing per target is kept.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import run_cli_measured

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CAP_KB = 200 * 1024


def _write_targets(path: Path, count: int) -> None:
    with path.open("w") as f:
        for i in range(count):
            net, rest = divmod(i, 62_500)
            a, b = divmod(rest, 250)
            f.write(f"http://127.{120 + net}.{a}.{b + 1}:1/\n")


async def _peak(tmp_path: Path, count: int, *extra: str) -> int:
    inp, out = tmp_path / f"in{count}.txt", tmp_path / f"out{count}.jsonl"
    _write_targets(inp, count)
    result, peak_kb = await run_cli_measured(
        "http", "-l", str(inp), "-o", str(out), "-c", "1024", "-s", *extra, timeout=250
    )
    assert result.returncode == 0, result.stderr
    with out.open("rb") as f:
        assert sum(1 for _ in f) == count
    inp.unlink()
    out.unlink()
    return peak_kb


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_peak_rss_is_flat(tmp_path: Path, workers: str) -> None:
    small = await _peak(tmp_path, 10_000, "--workers", workers)
    large = await _peak(tmp_path, 80_000, "--workers", workers)
    print(f"-w {workers}: peak RSS 10k {small / 1024:.0f} MB, 80k {large / 1024:.0f} MB")
    assert large < CAP_KB, f"peak RSS {large / 1024:.0f} MB"
    assert large < small * 1.5 + 16 * 1024, f"10k: {small} KiB, 80k: {large} KiB"

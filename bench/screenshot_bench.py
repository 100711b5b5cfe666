"""``aioscout http --screenshot`` over N lab pages: time, PNGs, peak memory of the whole tree.

    .venv/bin/python bench/screenshot_bench.py [--sites 500] [--tabs 4]

The lab runs in this process; aioscout (and the Chromium it starts) is a child
process whose tree is sampled every 100 ms: the sum of RSS (shared pages
counted once per process, as ``bench/_common.tree_rss`` does) and the sum of
PSS (shared pages divided among the processes mapping them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import orjson

from aioscout.browser.cdp import process_tree_memory
from aioscout.lab import Lab


def distinct_bytes(png: bytes) -> int:
    """How many byte values the inflated image data holds (a blank page has very few)."""
    pos, idat = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(idat)))


async def run(sites: int, tabs: int) -> None:
    """Start the lab, run the scan with screenshots, print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        async with Lab(sites=sites, hostile=False, dns_names=10) as lab:
            assert lab.dns_address is not None
            urls = [lab.url(f"site-{i:05d}.{lab.origin}") for i in range(1, sites + 1)]
            (work / "urls.txt").write_text("\n".join(urls) + "\n")
            cmd = [sys.executable, "-m", "aioscout", "http", "-l", str(work / "urls.txt"),
                   "-r", lab.dns_address, "-o", str(work / "out.jsonl"), "--silent",
                   "--screenshot", str(work / "png"), "--screenshot-tabs", str(tabs)]  # fmt: skip
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(*cmd)
            peak_rss = peak_pss = 0
            while proc.returncode is None:
                rss, pss = await asyncio.to_thread(process_tree_memory, proc.pid)
                peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 0.1)
            wall = time.monotonic() - started
        records = [orjson.loads(line) for line in (work / "out.jsonl").read_bytes().splitlines()]
        shots = [r["screenshot"] for r in records if r.get("screenshot")]
        pngs = list((work / "png").glob("*.png"))
        non_blank = sum(distinct_bytes(p.read_bytes()) >= 8 for p in pngs)
        print(f"{sites} lab pages, {tabs} tabs: exit {proc.returncode}, {wall:.1f} s wall")
        print(f"records {len(records)}, with a screenshot {len(shots)}, PNG files {len(pngs)}, "
              f"non-blank {non_blank}")  # fmt: skip
        print(f"peak tree RSS sum {peak_rss / 2**20:.0f} MiB, peak tree PSS sum "
              f"{peak_pss / 2**20:.0f} MiB (aioscout + chromium)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--tabs", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.sites, args.tabs))


if __name__ == "__main__":
    main()

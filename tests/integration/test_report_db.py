"""``aioscout report`` over a SQLite output written by ``aioscout http``."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest

from aioscout.lab import Lab

pytestmark = pytest.mark.slow


async def test_report_reads_a_sqlite_output_and_a_jsonl_file(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'scan.db'}"
    async with Lab(sites=4, hostile=False, dns_names=10) as lab:
        assert lab.dns_address is not None
        names = [f"site-{i:05d}.{lab.origin}" for i in range(1, 5)]
        urls = tmp_path / "urls.txt"
        urls.write_text("\n".join(lab.url(n) for n in names) + "\n")
        cmd = [sys.executable, "-m", "aioscout", "http", "-l", str(urls),
               "-r", lab.dns_address, "-o", db, "--silent"]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(*cmd)
        assert await proc.wait() == 0
    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"input": "x", "name": "x", "answers": [], "rcode": "NXDOMAIN"}))
    out = tmp_path / "r.html"
    cmd = [sys.executable, "-m", "aioscout", "report", db, str(extra), "-o", str(out)]
    proc = await asyncio.create_subprocess_exec(*cmd)
    assert await proc.wait() == 0
    html = out.read_text()
    found = re.search(r'id="rows">(.*?)</script>', html, re.S)
    assert found is not None
    rows = json.loads(found.group(1))
    titles = sorted(r[3] for r in rows if r[0] == "http")
    assert len(rows) == 5 and len(titles) == 4
    assert all(t.startswith("Generated site") for t in titles)

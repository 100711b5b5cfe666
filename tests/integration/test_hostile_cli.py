"""Every hostile endpoint through the command line in one run: in time, bounded, classified.

The farm's ground truth (:attr:`HostileFarm.expected`) says what a correct
prober reports; this checks ``aioscout http`` end to end: the right kind (and
partial status/title) per endpoint, the whole run inside the timeout plus a
small margin, peak RSS under 250 MB, and no forbidden scheme ever fetched.
The hostile DNS servers get the same treatment through ``aioscout dns``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aioscout.lab.dns import DnsServer
from aioscout.lab.dnszone import build_lab_zone
from aioscout.lab.hostile import Expected, HostileFarm

from ._cli import records, run_cli_measured

pytestmark = pytest.mark.slow

TIMEOUT = 3.0
MARGIN = 2.0
STARTUP = 2.0  # interpreter start-up and imports, outside any target's clock
RSS_CAP_KB = 250 * 1024


@pytest.fixture
async def farm() -> AsyncIterator[HostileFarm]:
    async with HostileFarm(late_delay=TIMEOUT + 1.5, drip=0.5, hold=30.0) as running:
        yield running


def _check(name: str, want: Expected, got: dict[str, Any]) -> list[str]:
    problems = []
    error = got["error"]
    kind = None if error is None else error["kind"]
    want_kind = None if want.kind is None else str(want.kind)
    if kind != want_kind:
        problems.append(f"{name}: kind {kind!r} ({error}), want {want_kind!r}")
    if want.kind is None or want.partial:
        if want.status is not None and got["status"] != want.status:
            problems.append(f"{name}: status {got['status']!r}, want {want.status}")
        title = got["title"] or ""
        if want.title is not None and title != want.title:
            problems.append(f"{name}: title {title[:60]!r}, want {want.title!r}")
        if want.title_prefix is not None and not title.startswith(want.title_prefix[:100]):
            problems.append(f"{name}: title {title[:60]!r}, want {want.title_prefix[:60]!r}…")
    if want.forbidden_url is not None:
        hops = [str(h) for h in got["chain"] or []]
        if got["final_url"] == want.forbidden_url:
            problems.append(f"{name}: fetched {want.forbidden_url}")
        if any(want.forbidden_url in h and "blocked" not in h for h in hops[1:]):
            problems.append(f"{name}: followed to {want.forbidden_url}: {hops}")
    return problems


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_every_hostile_endpoint_in_one_run(
    farm: HostileFarm, tmp_path: Path, workers: str
) -> None:
    urls = {farm.url(name): name for name in farm.endpoints}
    inp, out = tmp_path / "hostile.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(urls) + "\n")
    loop = asyncio.get_running_loop()
    started = loop.time()
    result, peak_kb = await run_cli_measured(
        "http",
        "-l",
        str(inp),
        "-o",
        str(out),
        "--timeout",
        f"{TIMEOUT:g}",
        "--per-host",
        "64",
        "--retries",
        "0",  # max_hits counts the connections of one attempt
        "--workers",
        workers,
    )
    elapsed = loop.time() - started
    print(
        f"hostile farm: {len(urls)} endpoints in {elapsed:.1f}s, peak RSS {peak_kb / 1024:.0f} MB"
    )
    assert result.returncode == 0, result.stderr
    recs = {r["input"]: r for r in records(out)}
    assert set(recs) == set(urls), "one record per endpoint"
    problems = []
    for url, name in urls.items():
        problems += _check(name, farm.expected[name], recs[url])
        if recs[url]["time_ms"] is not None:
            assert recs[url]["time_ms"] <= (TIMEOUT + MARGIN) * 1000, (name, recs[url]["time_ms"])
    assert not problems, "\n".join(problems)
    # Worker processes are spawned: each imports the probe stack before its clock starts.
    startup = STARTUP + 1.5 * (int(workers) - 1)
    assert elapsed < TIMEOUT + MARGIN + startup, f"the run took {elapsed:.1f}s"
    assert peak_kb < RSS_CAP_KB, f"peak RSS {peak_kb / 1024:.0f} MB"
    # The ftp:// and gopher:// redirects point at the canary: only the direct probe reached it.
    assert farm.hits["canary"] == 1, farm.hits["canary"]
    for name, want in farm.expected.items():
        if want.max_hits is not None:
            assert farm.hits[name] <= want.max_hits, (name, farm.hits[name])


DNS_MODES = {
    "wrong_id": None,  # never a usable reply: a dead resolver list, one error line
    "truncated_packet": "protocol",
    "malformed": "protocol",
    "oversized": "too_large",
    "servfail_all": None,
    "silent": None,
}


async def test_hostile_dns_servers_through_the_cli(tmp_path: Path) -> None:
    names = ["www.lab.test", "mail.lab.test", "nothing-here.lab.test"]
    inp = tmp_path / "names.txt"
    inp.write_text("\n".join(names) + "\n")
    zone = build_lab_zone(bulk_names=0)

    async def one(mode: str) -> tuple[str, list[dict[str, Any]], float, int]:
        out = tmp_path / f"{mode}.jsonl"
        async with DnsServer(zone, mode=mode) as server:  # type: ignore[arg-type]
            started = asyncio.get_running_loop().time()
            result, peak_kb = await run_cli_measured(
                "dns",
                "-l",
                str(inp),
                "-r",
                server.address,
                "--all",
                "--query-timeout",
                "0.3",
                "--query-retries",
                "1",
                "--timeout",
                "3",
                "-o",
                str(out),
                "-s",
            )
            elapsed = asyncio.get_running_loop().time() - started
        if DNS_MODES[mode] is None:
            assert result.returncode == 1, (mode, result.stderr)
            assert result.stderr.strip().startswith("aioscout: no usable resolver: "), mode
            assert len(result.stderr.strip().splitlines()) == 1, (mode, result.stderr)
            return mode, [], elapsed, peak_kb
        assert result.returncode == 0, (mode, result.stderr)
        return mode, records(out), elapsed, peak_kb

    runs = await asyncio.gather(*(one(mode) for mode in DNS_MODES))
    for mode, recs, elapsed, peak_kb in runs:
        assert elapsed < 3 + MARGIN + STARTUP, (mode, elapsed)
        if DNS_MODES[mode] is None:
            continue
        assert sorted(r["input"] for r in recs) == sorted(names), mode
        kinds = {(r["error"] or {}).get("kind") for r in recs}
        assert kinds == {DNS_MODES[mode]}, (mode, [r["error"] for r in recs])
        assert elapsed < 3 + MARGIN + STARTUP, (mode, elapsed)
        assert peak_kb < RSS_CAP_KB, (mode, peak_kb)

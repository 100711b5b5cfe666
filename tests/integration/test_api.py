"""The library entry points (``aioscout.scan_http``, ``scan_dns``) against the lab."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import orjson

import aioscout
from aioscout.lab import Lab


async def test_scan_http_streams_one_record_per_target_and_feeds_sinks(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    async with Lab(sites=20, hostile=False, dns_names=0) as lab:
        assert lab.dns_address is not None
        urls = [lab.url(f"site-{i:05d}.lab.test") for i in range(1, 11)] + ["not a target"]
        opts = aioscout.HttpOptions(resolvers=(lab.dns_address,))
        config = aioscout.ScanConfig(concurrency=4, workers=2)
        stats = aioscout.Stats()
        sink = aioscout.JsonlSink(str(out))
        async with sink:
            got = [
                r
                async for r in aioscout.scan_http(
                    urls, options=opts, config=config, sinks=[sink], stats=stats
                )
            ]
        titles = {u: lab.expected(u.split("//")[1].split(":")[0]).title for u in urls[:-1]}
    assert sorted(r.input for r in got) == sorted(urls)
    for rec in got:
        assert isinstance(rec, aioscout.HttpResult)
        if rec.input == "not a target":
            assert rec.error is not None and rec.error.kind == aioscout.ErrorKind.INVALID_INPUT
        else:
            assert (rec.status, rec.title) == (200, titles[rec.input])
    assert len(out.read_bytes().splitlines()) == len(urls) == stats.done


async def test_scan_dns_brute_force_yields_only_found_names_and_can_stop_early() -> None:
    async with Lab(sites=5, hostile=False, dns_names=200) as lab:
        assert lab.dns_address is not None
        zone_words = ["www", "mail", "nothere-1", "nothere-2", "txt"]
        opts = aioscout.DnsOptions(resolvers=(lab.dns_address,))
        stats = aioscout.Stats()
        found = [
            orjson.loads(orjson.dumps(r))["name"]
            async for r in aioscout.scan_dns(
                zone_words, domains=["lab.test"], options=opts, stats=stats
            )
        ]
        assert sorted(found) == ["mail.lab.test", "www.lab.test"]  # txt has no A record
        assert stats.done == len(zone_words)
        read = 0

        def words() -> Iterator[str]:
            nonlocal read
            for word in ["www", *(f"absent-{i}" for i in range(100_000))]:
                read += 1
                yield word

        seen = 0
        run = aioscout.scan_dns(words(), domains=["lab.test"], options=opts)
        async with contextlib.aclosing(run):
            async for _ in run:
                seen += 1
                break
        at_close = read
        for _ in range(50):
            await asyncio.sleep(0)  # a run still going would read on in these turns
    assert seen == 1 and read == at_close < 100_000

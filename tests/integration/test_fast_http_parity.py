"""The HTTP fast path and the aiohttp path give the same record for every lab site and
every hostile endpoint (all fields but ``time_ms``)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import pytest

from aioscout._config import HttpOptions, Limits, Timeouts
from aioscout._models import ErrorKind, HttpResult
from aioscout.lab import Lab
from aioscout.lab.hostile import HostileFarm
from aioscout.probes._fast_http import fast_path_applies
from aioscout.probes.http import HttpProbe

pytestmark = pytest.mark.slow

FAST = Timeouts(connect=0.5, read=0.5, total=1.0)
# The aiohttp path itself reports either text for a peer that drips headers past
# the total budget (its own timer and the probe's fire in the same loop turn).
_RACY_TIMEOUT = frozenset({"timed out", f"no result within {FAST.total:g}s"})


async def _probe_all(
    options: HttpOptions, timeouts: Timeouts, lines: Sequence[str]
) -> list[HttpResult]:
    async with HttpProbe(options, timeouts, Limits(), concurrency=64, per_host=8) as probe:
        assert (probe._fast is not None) == options.fast_path

        async def one(line: str) -> HttpResult:
            (target,) = probe.expand(line)
            record = await probe.probe(line, target)
            record.time_ms = None
            return record

        return list(await asyncio.gather(*(one(line) for line in lines)))


def _undripped(r: HttpResult) -> HttpResult:
    return dataclasses.replace(r, body_sha256=None, words=None, lines=None, error=None)


def _same(a: HttpResult, b: HttpResult) -> bool:
    if a == b:
        return True
    if a.error and b.error and a.error.kind == b.error.kind == ErrorKind.TIMEOUT:
        racy = {a.error.detail, b.error.detail} <= _RACY_TIMEOUT | {"read timed out"}
        # A body still dripping when the clock ran out: how many bytes each path
        # got before it is timing, not behaviour (the title before them is kept).
        return racy and _undripped(a) == _undripped(b)
    return False


def _compare(lines: Sequence[str], slow: list[HttpResult], fast: list[HttpResult]) -> None:
    diffs = [
        (line, field.name, getattr(s, field.name), getattr(f, field.name))
        for line, s, f in zip(lines, slow, fast, strict=True)
        if not _same(s, f)
        for field in dataclasses.fields(HttpResult)
        if getattr(s, field.name) != getattr(f, field.name)
    ]
    assert diffs == []


async def test_every_lab_site_gives_the_same_record() -> None:
    async with Lab(sites=20, hostile=False, dns_names=0) as lab:
        assert lab.dns_address is not None
        lines = [url for url, _ in lab.truth()]
        lines += lab.host_port_targets("http") + lab.host_port_targets("https")
        # A name with several addresses may connect to any of them: aiohttp rotates
        # its cached answers, the fast path takes them in order (tests/.../test_all_ips).
        lines = [line for line in lines if "//multi." not in line and not line.startswith("multi.")]
        options = HttpOptions(resolvers=(lab.dns_address,), include_headers=True)
        timeouts = Timeouts(connect=2.0, read=2.0, total=4.0)
        slow = await _probe_all(dataclasses.replace(options, fast_path=False), timeouts, lines)
        fast = await _probe_all(options, timeouts, lines)
    assert sum(r.status == 200 for r in fast) > len(lines) // 2
    _compare(lines, slow, fast)


async def test_every_hostile_endpoint_gives_the_same_record() -> None:
    async with HostileFarm(late_delay=FAST.total + 0.5, drip=0.1, hold=10.0) as farm:
        lines = [farm.url(name) for name in sorted(farm.endpoints)]
        slow = await _probe_all(HttpOptions(fast_path=False), FAST, lines)
        fast = await _probe_all(HttpOptions(), FAST, lines)
    kinds = {r.error.kind for r in fast if r.error is not None}
    assert {ErrorKind.PROTOCOL, ErrorKind.TOO_LARGE, ErrorKind.BLOCKED_SCHEME} <= kinds
    _compare(lines, slow, fast)


def test_options_that_need_aiohttp_turn_the_fast_path_off() -> None:
    assert fast_path_applies(HttpOptions())
    assert fast_path_applies(HttpOptions(favicon=True, tech=True, headers=(("X-A", "1"),)))
    for off in (
        HttpOptions(fast_path=False),
        HttpOptions(method="POST"),
        HttpOptions(proxy="http://127.0.0.1:3128"),
        HttpOptions(params=(("a", "1"),)),
        HttpOptions(cookies=(("a", "1"),)),
        HttpOptions(data=b"x"),
        HttpOptions(headers=(("Host", "other"),)),
    ):
        assert not fast_path_applies(off), off

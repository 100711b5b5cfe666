"""Names on the fast path: targets that wait for the same name share one query.

The DNS server is the lab's, which counts the UDP queries it receives.
"""

from __future__ import annotations

import asyncio

from aioscout._config import HttpOptions, Timeouts
from aioscout._models import ErrorKind
from aioscout.lab import Lab
from tests._support.http_servers import open_probe, target


async def test_targets_of_one_name_share_its_query() -> None:
    async with Lab(sites=3, hostile=False, dns_names=0) as lab:
        assert lab.dns_address is not None
        site = next(iter(lab.sites)).name
        urls = [lab.url(site, path=f"/page-{n}") for n in range(6)]
        options = HttpOptions(resolvers=(lab.dns_address,))
        async with open_probe(options) as probe:
            before = lab.dns_server.queries
            records = await asyncio.gather(*(probe.probe(u, target(u)) for u in urls))
            asked = lab.dns_server.queries - before
            # Later targets of the name find it answered.
            again = await probe.probe(urls[0], target(urls[0]))
            assert lab.dns_server.queries - before == asked
    assert [r.error for r in records] == [None] * 6
    assert {r.ip for r in records} == {again.ip} == {lab.address_of(site)}
    assert asked == 1  # the A query, once for six targets in flight together


async def test_a_failed_name_fails_every_target_waiting_for_it() -> None:
    async with Lab(sites=1, hostile=False, dns_names=0) as lab:
        assert lab.dns_address is not None
        url = f"http://no-such-site.{lab.origin}:{lab.http_port}/"
        options = HttpOptions(resolvers=(lab.dns_address,))
        timeouts = Timeouts(connect=1.0, read=1.0, total=3.0)
        async with open_probe(options, timeouts=timeouts) as probe:
            before = lab.dns_server.queries
            records = await asyncio.gather(*(probe.probe(url, target(url)) for _ in range(5)))
            asked = lab.dns_server.queries - before
    errors = [r.error for r in records]
    assert all(e is not None and e.kind == ErrorKind.DNS for e in errors)
    assert len({(e.kind, e.detail) for e in errors if e is not None}) == 1
    assert asked == 2  # A, then AAAA: once for all five


async def test_a_target_that_gives_up_leaves_the_query_to_the_others() -> None:
    async with Lab(sites=1, hostile=False, dns_names=0, latency=0.0) as lab:
        assert lab.dns_address is not None
        site = next(iter(lab.sites)).name
        url = lab.url(site)
        options = HttpOptions(resolvers=(lab.dns_address,))
        async with open_probe(options) as probe:
            first = asyncio.ensure_future(probe.probe(url, target(url)))
            second = asyncio.ensure_future(probe.probe(url, target(url)))
            await asyncio.sleep(0)  # both wait for the name now
            first.cancel()
            record = await second
            assert first.cancelled()
    assert record.error is None and record.status is not None

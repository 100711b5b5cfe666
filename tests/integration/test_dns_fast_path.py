"""DnsProbe through the engine's fast path (the resolver's query lane), against lab DNS servers.

The same promises as :mod:`test_dns_probe` (which calls ``probe()`` directly):
records identical to the ordinary path, full recall through a lossy resolver,
no poisoned answer, wildcard matches filtered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Sequence

import pytest

from aioscout._config import DnsOptions, ScanConfig
from aioscout._models import DnsResult, Record
from aioscout.dnsproto import resolver as resolver_module
from aioscout.engine import run_scan
from aioscout.lab.dns import DnsServer, LabZone, build_lab_zone
from aioscout.probes.dns import DnsProbe

# The lab servers share the test's loop. Under coverage on a busy machine their
# answers to a few thousand queries can take longer than 0.1-0.25 s: those were
# then timed out, their retries added to the servers' queue, and names ran out of
# tries (1,329 of 2,000 lost in one run at 0.1 s). What these tests check (the
# retry of dropped queries, poisoned answers refused, replies matched by source)
# does not depend on a time-out shorter than the servers' pace.
_TIMEOUT = 0.5


class ListSink:
    def __init__(self) -> None:
        self.records: list[DnsResult] = []

    async def write(self, records: Sequence[Record]) -> None:
        self.records.extend(r for r in records if isinstance(r, DnsResult))

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def _scan(probe: DnsProbe, lines: Iterable[str], *, only_found: bool) -> list[DnsResult]:
    """The records written; the probe filters its own (``only_found`` says what its options ask)."""
    assert probe.options.only_found is only_found
    sink = ListSink()
    await run_scan(probe, list(lines), [sink], ScanConfig(concurrency=300))
    return sink.records


@pytest.fixture
async def zone() -> LabZone:
    return build_lab_zone(bulk_names=2000, seed=5)


def _plain(r: DnsResult) -> DnsResult:
    return dataclasses.replace(r, time_ms=None)


@pytest.mark.slow
async def test_fast_path_records_equal_the_ordinary_path(zone: LabZone) -> None:
    words = list(zone.wordlist(missing=2000))
    async with DnsServer(zone) as server:
        opts = DnsOptions(resolvers=(server.address,), query_timeout=0.5, only_found=False)
        fast = await _scan(DnsProbe(opts, domains=[zone.bulk_domain]), words, only_found=False)
        slow_probe = DnsProbe(opts, domains=[zone.bulk_domain])
        await slow_probe.start()
        try:
            slow = [await slow_probe.probe(w, t) for w in words[:300] for t in slow_probe.expand(w)]
        finally:
            await slow_probe.aclose()
    assert len(fast) == len(words)
    by_name = {r.name: _plain(r) for r in fast}
    assert all(by_name[r.name] == _plain(r) for r in slow)
    assert sum(1 for r in fast if r.rcode == "NXDOMAIN") == 2000


@pytest.mark.slow
async def test_lossy_resolver_full_recall_through_the_engine(zone: LabZone) -> None:
    async with DnsServer(zone, drop_every=3) as lossy:
        opts = DnsOptions(resolvers=(lossy.address,), query_timeout=_TIMEOUT)
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        found = await _scan(probe, zone.wordlist(missing=1000), only_found=True)
    want = {n for n in zone.existing_names() if n.endswith("." + zone.bulk_domain)}
    assert {r.name for r in found} == want


@pytest.mark.slow
async def test_poisoned_resolver_never_reported_through_the_engine(
    zone: LabZone, caplog: pytest.LogCaptureFixture
) -> None:
    async with DnsServer(zone) as good, DnsServer(zone, poison=True) as poisoned:
        opts = DnsOptions(resolvers=(poisoned.address, good.address), query_timeout=_TIMEOUT)
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        with caplog.at_level(logging.WARNING, logger="aioscout"):
            found = await _scan(probe, zone.wordlist(missing=1000), only_found=True)
    assert len(found) == zone.bulk_names
    assert all(zone.exists(r.name) for r in found)
    assert all(not a.data.startswith("127.66.") for r in found for a in r.answers)
    assert {r.resolver for r in found} == {good.address}


async def test_wildcard_names_filtered_through_the_engine() -> None:
    zone = build_lab_zone(bulk_names=100)
    parents = zone.wildcard_parents()
    real = {n for n in zone.existing_names() if any(n.endswith("." + p) for p in parents)}
    words = sorted({n.split(".")[0] for n in real} | {"zz9", "nothing-here", "qq"})
    async with DnsServer(zone) as server:
        opts = DnsOptions(resolvers=(server.address,), query_timeout=0.25)
        probe = DnsProbe(opts, domains=parents)
        found = await _scan(probe, words, only_found=True)
    assert {r.name for r in found} == real


@pytest.mark.slow
async def test_many_resolvers_share_unconnected_sockets(
    zone: LabZone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``_CONNECTED_MAX`` resolvers the lane's sockets are not connected: replies are
    matched by source address too, and every name is still resolved once."""
    monkeypatch.setattr(resolver_module, "_CONNECTED_MAX", 1)
    words = list(zone.wordlist(missing=1000))
    async with DnsServer(zone) as one, DnsServer(zone, drop_every=5) as two:
        # 1 s: each found name is confirmed by the other resolver, and one of them is
        # lossy; under coverage on a loaded machine 0.5 s left a few unconfirmed.
        opts = DnsOptions(resolvers=(one.address, two.address), query_timeout=1.0, only_found=False)
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        records = await _scan(probe, words, only_found=False)
    assert len(records) == len(words)
    found = {r.name for r in records if r.error is None}
    assert found == {n for n in zone.existing_names() if n.endswith("." + zone.bulk_domain)}
    assert {r.resolver for r in records if r.error is None} == {one.address, two.address}


@pytest.mark.slow
async def test_a_resolver_that_starts_lying_mid_run_is_dropped(
    zone: LabZone, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The lane asks each resolver a name that cannot exist every ``_CANARY_EVERY`` queries:
    one that turns to hijacking NXDOMAIN after the health check is dropped within that."""
    every = 200
    monkeypatch.setattr(resolver_module, "_CANARY_EVERY", every)
    words = list(zone.wordlist(missing=6000))
    async with DnsServer(zone) as good, DnsServer(zone) as liar:

        async def turn() -> None:
            while liar.queries < 50:
                await asyncio.sleep(0.001)
            liar.poison = True

        opts = DnsOptions(
            resolvers=(good.address, liar.address), query_timeout=0.25, only_found=False
        )
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        with caplog.at_level(logging.WARNING, logger="aioscout"):
            async with asyncio.timeout(60):
                turner = asyncio.create_task(turn())
                records = await _scan(probe, words, only_found=False)
                await turner
    assert len(records) == len(words)
    assert any(
        "dropping resolver" in r.message and liar.address in r.message for r in caplog.records
    )
    lied = [r for r in records if any(a.data.startswith("127.66.") for a in r.answers)]
    assert len(lied) <= 2 * every  # the window between two canaries, not the rest of the run
    assert all(r.resolver == good.address for r in records[-1000:] if r.error is None)


async def test_the_lane_keeps_to_the_per_resolver_rate(zone: LabZone) -> None:
    """Past its burst (one second's worth), a rate-limited resolver gets no more than its rate."""
    from aioscout.dnsproto.lane import QueryLane
    from aioscout.dnsproto.resolver import FastResolver

    names = [f"w{i}.{zone.bulk_domain}" for i in range(1500)]
    settled: list[object] = []
    async with DnsServer(zone) as server:
        res = FastResolver([server.address], rate=1000, timeout=0.5)
        await res.start()
        lane = QueryLane(res, 1, lambda nx, replies: settled.extend([*nx, *replies]))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            items = [(i, name, name) for i, name in enumerate(names)]
            while items:
                started, wait = lane.start(items)
                items = items[started:]
                if items:
                    assert wait > 0  # only the rate holds the rest back here
                    await asyncio.sleep(wait)
            elapsed = loop.time() - t0
            async with asyncio.timeout(5):
                while len(settled) < len(names):
                    await asyncio.sleep(0.01)
        finally:
            lane.close()
            await res.aclose()
    assert elapsed >= 0.45  # 1,500 names, a burst of 1,000, then 1,000 a second
    assert len(settled) == len(names)


async def test_the_lane_sends_each_name_as_build_question_encodes_it() -> None:
    """The lane reuses the last name's parent on the wire: every question must still be exact."""
    import socket

    from aioscout.dnsproto.lane import QueryLane
    from aioscout.dnsproto.resolver import FastResolver
    from aioscout.dnsproto.wire import build_question

    names = ["a.example.com", "bb.example.com", "localhost", "x", "c.example.com"]
    names += ["d.e.example.com", "z" * 63 + ".example.com", "q.example.com.", "w.other.org"]
    names += ["ww.other.org", "v.example.com"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(2)
        res = FastResolver([f"127.0.0.1:{server.getsockname()[1]}"], sockets=1)
        await res.start()
        lane = QueryLane(res, 28, lambda nx, replies: None)
        try:
            assert lane.start([(i, n, n) for i, n in enumerate(names)]) == (len(names), 0.0)
            got = [server.recv(512) for _ in names]
        finally:
            lane.close()
            await res.aclose()
    assert [p[12:-11] for p in got] == [build_question(n, 28) for n in names]

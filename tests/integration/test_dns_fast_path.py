"""DnsProbe through the engine's fast path (the resolver's query lane), against lab DNS servers.

The same promises as :mod:`test_dns_probe` (which calls ``probe()`` directly):
records identical to the ordinary path, full recall through a lossy resolver,
no poisoned answer, wildcard matches filtered.
"""

from __future__ import annotations

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
    sink = ListSink()
    keep = probe.is_found if only_found else None
    await run_scan(probe, list(lines), [sink], ScanConfig(concurrency=300), keep=keep)
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
        opts = DnsOptions(resolvers=(server.address,), query_timeout=0.5)
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
        opts = DnsOptions(resolvers=(lossy.address,), query_timeout=0.1)
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        found = await _scan(probe, zone.wordlist(missing=1000), only_found=True)
    want = {n for n in zone.existing_names() if n.endswith("." + zone.bulk_domain)}
    assert {r.name for r in found} == want


@pytest.mark.slow
async def test_poisoned_resolver_never_reported_through_the_engine(
    zone: LabZone, caplog: pytest.LogCaptureFixture
) -> None:
    async with DnsServer(zone) as good, DnsServer(zone, poison=True) as poisoned:
        opts = DnsOptions(resolvers=(poisoned.address, good.address), query_timeout=0.25)
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
        opts = DnsOptions(resolvers=(one.address, two.address), query_timeout=0.2)
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        records = await _scan(probe, words, only_found=False)
    assert len(records) == len(words)
    found = {r.name for r in records if r.error is None}
    assert found == {n for n in zone.existing_names() if n.endswith("." + zone.bulk_domain)}
    assert {r.resolver for r in records if r.error is None} == {one.address, two.address}

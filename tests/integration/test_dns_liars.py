"""Resolvers that lie for part of the names, against lab DNS servers on loopback.

The liar (``poison=fraction``) rewrites the addresses of a fixed part of the
names and invents addresses for a fixed part of the names that do not exist.
By default, with no flag: no poisoned answer and no invented name is reported,
the liar is named in a warning and dropped, and recall stays at or above 99.9%.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from aioscout._config import DnsOptions, ScanConfig
from aioscout._models import DnsResult, Record
from aioscout.dnsproto.consensus import agree
from aioscout.engine import run_scan
from aioscout.lab.dns import DnsServer, LabZone, build_lab_zone
from aioscout.probes.dns import DnsProbe

_TIMEOUT = 1.0  # see test_dns_fast_path: the lab servers share the test's loop (and a full
# run under coverage on a loaded machine lost names to time-outs at 0.5 s)


class ListSink:
    def __init__(self) -> None:
        self.records: list[DnsResult] = []

    async def write(self, records: Sequence[Record]) -> None:
        self.records.extend(r for r in records if isinstance(r, DnsResult))

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def _brute(probe: DnsProbe, words: list[str]) -> list[DnsResult]:
    sink = ListSink()
    await run_scan(probe, words, [sink], ScanConfig(concurrency=300), keep=probe.is_found)
    return sink.records


def _truth(zone: LabZone) -> dict[str, set[str]]:
    """Every bulk name's A addresses (CNAMEs followed inside the zone)."""
    out: dict[str, set[str]] = {}
    for name in zone.existing_names():
        if name.endswith("." + zone.bulk_domain):
            look = zone.lookup(name, 1)
            out[name] = {".".join(map(str, rd)) for _o, t, _ttl, rd in look.answers if t == 1}
    return out


def _score(found: list[DnsResult], truth: dict[str, set[str]]) -> tuple[int, int, float]:
    """(poisoned answers, invented names, recall) of a brute force's records."""
    invented = sum(1 for r in found if r.name not in truth)
    poisoned = sum(
        1
        for r in found
        if r.name in truth and not {a.data for a in r.answers if a.type == "A"} <= truth[r.name]
    )
    recall = len({r.name for r in found} & truth.keys()) / len(truth)
    return poisoned, invented, recall


def _named(caplog: pytest.LogCaptureFixture, address: str) -> bool:
    return any(r.message.startswith(f"dropping resolver {address}:") for r in caplog.records)


@pytest.fixture
async def zone() -> LabZone:
    return build_lab_zone(bulk_names=2000, seed=11)


@pytest.mark.slow
@pytest.mark.parametrize("fraction", [0.02, 0.2, 0.6])
@pytest.mark.parametrize("liar_first", [True, False])
async def test_a_partial_liar_is_caught_and_nothing_it_says_is_reported(
    zone: LabZone, caplog: pytest.LogCaptureFixture, fraction: float, liar_first: bool
) -> None:
    words = list(zone.wordlist(missing=6000))
    truth = _truth(zone)
    async with DnsServer(zone) as good, DnsServer(zone, poison=fraction) as liar:
        order = (liar, good) if liar_first else (good, liar)
        opts = DnsOptions(resolvers=tuple(s.address for s in order), query_timeout=_TIMEOUT)
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        with caplog.at_level(logging.WARNING, logger="aioscout"):
            found = await _brute(probe, words)
    poisoned, invented, recall = _score(found, truth)
    assert (poisoned, invented) == (0, 0)
    assert recall >= 0.999
    assert _named(caplog, liar.address)
    assert not _named(caplog, good.address)


@pytest.mark.slow
async def test_a_partial_liar_among_three_is_outvoted_and_dropped(
    zone: LabZone, caplog: pytest.LogCaptureFixture
) -> None:
    words = list(zone.wordlist(missing=4000))
    truth = _truth(zone)
    async with (
        DnsServer(zone) as one,
        DnsServer(zone, poison=0.3) as liar,
        DnsServer(zone) as two,
    ):
        opts = DnsOptions(
            resolvers=(one.address, liar.address, two.address), query_timeout=_TIMEOUT
        )
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        with caplog.at_level(logging.WARNING, logger="aioscout"):
            found = await _brute(probe, words)
    poisoned, invented, recall = _score(found, truth)
    assert (poisoned, invented) == (0, 0) and recall >= 0.999
    assert _named(caplog, liar.address)
    assert not _named(caplog, one.address) and not _named(caplog, two.address)


@pytest.mark.slow
async def test_a_liar_beside_a_trusted_resolver(
    zone: LabZone, caplog: pytest.LogCaptureFixture
) -> None:
    words = list(zone.wordlist(missing=3000))
    truth = _truth(zone)
    async with DnsServer(zone) as good, DnsServer(zone, poison=0.2) as liar:
        opts = DnsOptions(
            resolvers=(liar.address,), trusted_resolvers=(good.address,), query_timeout=_TIMEOUT
        )
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        with caplog.at_level(logging.WARNING, logger="aioscout"):
            found = await _brute(probe, words)
    poisoned, invented, recall = _score(found, truth)
    assert (poisoned, invented) == (0, 0) and recall >= 0.999
    assert _named(caplog, liar.address)


async def test_two_honest_resolvers_agree_on_rotating_and_wildcard_answers() -> None:
    """Honest resolvers whose answers rotate (a pool of 8, two at a time) are not taken for
    liars: every real name beside the wildcards is found, no wildcard match reported."""
    zone = build_lab_zone(bulk_names=100)
    parents = zone.wildcard_parents()
    real = {n for n in zone.existing_names() if any(n.endswith("." + p) for p in parents)}
    words = sorted({n.split(".")[0] for n in real} | {"zz9", "nothing-here", "qq"})
    async with DnsServer(zone) as a, DnsServer(zone) as b:
        opts = DnsOptions(resolvers=(a.address, b.address), query_timeout=_TIMEOUT)
        probe = DnsProbe(opts, domains=parents)
        found = await _brute(probe, words)
        again = DnsProbe(opts, domains=parents)
        await again.start()
        try:
            rot = [await again.probe("x", f"x{k}.rot.{zone.origin}") for k in range(8)]
            assert again._fast is not None
            assert not any(u.dropped for u in again._fast.upstreams)
        finally:
            await again.aclose()
    assert {r.name for r in found} == real
    assert all(r.wildcard for r in rot), [(r.name, r.answers) for r in rot if not r.wildcard]


def test_agreement_between_answers() -> None:
    a = {(1, "127.0.0.1"), (1, "127.0.0.2")}
    assert agree(a, {(1, "127.0.0.2"), (1, "127.0.0.3")}, 1)
    assert not agree(a, {(1, "127.66.0.1")}, 1)
    assert not agree(a, set(), 1) and agree(set(), set(), 1)
    assert agree({(5, "edge.cdn.test"), (1, "127.0.0.9")}, {(5, "edge.cdn.test")}, 1)
    assert not agree({(5, "a.test")}, {(5, "b.test")}, 1)


@pytest.mark.slow
async def test_a_liar_that_random_names_never_catch_is_dropped_for_inventing(
    zone: LabZone, caplog: pytest.LogCaptureFixture
) -> None:
    """It lies only about a seventh of the wordlist's names (both kinds): no trial of
    random names convicts it, the names it alone answers do."""
    words = list(zone.wordlist(missing=6000))
    names = [f"{w}.{zone.bulk_domain}" for w in words]
    truth = _truth(zone)
    lies = names[::7]
    async with DnsServer(zone) as good, DnsServer(zone, poison=1.0, poison_only=lies) as liar:
        opts = DnsOptions(resolvers=(liar.address, good.address), query_timeout=_TIMEOUT)
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        with caplog.at_level(logging.WARNING, logger="aioscout"):
            found = await _brute(probe, words)
    poisoned, invented, recall = _score(found, truth)
    assert (poisoned, invented) == (0, 0)
    assert recall >= 0.999
    drops = [r.message for r in caplog.records if "dropping" in r.message]
    assert _named(caplog, liar.address) and not _named(caplog, good.address), drops

"""DnsProbe against real lab DNS servers on loopback: recall, loss, poison, wildcards, hostiles."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable

import pytest

from aioscout._config import DnsOptions
from aioscout._exceptions import ResolverError
from aioscout._models import DnsResult, ErrorKind
from aioscout.lab.dns import DnsServer, HostileMode, LabZone, Zone, build_lab_zone
from aioscout.probes.dns import DnsProbe


async def _run(probe: DnsProbe, lines: Iterable[str], concurrency: int = 400) -> list[DnsResult]:
    sem = asyncio.Semaphore(concurrency)
    out: list[DnsResult] = []

    async def one(line: str, target: str) -> None:
        async with sem:
            out.append(await probe.probe(line, target))

    await probe.start()
    try:
        async with asyncio.timeout(20), asyncio.TaskGroup() as tg:
            for line in lines:
                for target in probe.expand(line):
                    tg.create_task(one(line, target))
    finally:
        await probe.aclose()
    return out


def _found(probe: DnsProbe, results: list[DnsResult]) -> dict[str, DnsResult]:
    return {r.name: r for r in results if probe.is_found(r)}


@pytest.fixture
async def zone() -> LabZone:
    return build_lab_zone(bulk_names=3000, seed=3)


@pytest.fixture
async def server(zone: LabZone) -> AsyncIterator[DnsServer]:
    async with DnsServer(zone) as srv:
        yield srv


# The lab servers share the test's loop: under coverage on a busy machine, a
# time-out of 0.25 s could end before their answer (then retried, adding to their
# queue) and a name ran out of tries. The tests here do not depend on a shorter one.
_TIMEOUT = 0.5


def _opts(*resolvers: str, **kw: object) -> DnsOptions:
    return DnsOptions(resolvers=resolvers, query_timeout=_TIMEOUT, **kw)  # type: ignore[arg-type]


@pytest.mark.slow
async def test_brute_force_recall_is_complete_and_answers_are_right(
    zone: LabZone, server: DnsServer
) -> None:
    probe = DnsProbe(_opts(server.address), domains=[zone.bulk_domain])
    words = list(zone.wordlist(missing=600))
    results = await _run(probe, words)
    assert len(results) == len(words)
    found = _found(probe, results)
    assert set(found) == set(n for n in zone.existing_names() if n.endswith(zone.bulk_domain))
    idx = next(i for i in range(10) if i % 50 != 49)
    name = f"{zone.label(idx)}.{zone.bulk_domain}"
    assert [a.data for a in found[name].answers] == [zone.bulk_address(idx)]
    assert found[name].rcode == "NOERROR" and found[name].resolver == server.address
    cname = found[f"{zone.label(49)}.{zone.bulk_domain}"]
    assert cname.cname_chain == [f"{zone.label(48)}.{zone.bulk_domain}"]
    missing = [r for r in results if not probe.is_found(r)]
    assert all(r.error is not None and r.error.kind == ErrorKind.DNS for r in missing)
    assert all(r.rcode == "NXDOMAIN" for r in missing)


@pytest.mark.slow
async def test_lossy_resolver_keeps_full_recall(zone: LabZone) -> None:
    async with DnsServer(zone, drop_every=3) as lossy:
        opts = DnsOptions(resolvers=(lossy.address,), query_timeout=_TIMEOUT)
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        results = await _run(probe, zone.wordlist(missing=300))
        assert lossy.queries > len(results)  # dropped queries were retried
    found = _found(probe, results)
    assert len(found) == zone.bulk_names
    assert max(r.attempts for r in results) >= 2


@pytest.mark.slow
async def test_poisoned_resolver_is_dropped_and_never_reported(
    zone: LabZone, server: DnsServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with DnsServer(zone, poison=True) as poisoned:
        probe = DnsProbe(_opts(poisoned.address, server.address), domains=[zone.bulk_domain])
        with caplog.at_level(logging.WARNING, logger="aioscout"):
            results = await _run(probe, list(zone.wordlist(missing=400))[:1200])
    assert any(
        "dropping resolver" in r.message and poisoned.address in r.message for r in caplog.records
    )
    found = _found(probe, results)
    assert found and all(
        not a.data.startswith("127.66.") for r in found.values() for a in r.answers
    )
    assert all(zone.exists(n) for n in found)
    assert {r.resolver for r in results} == {server.address}


async def test_wildcards_filtered_at_every_level_and_real_names_kept(server: DnsServer) -> None:
    domains = ["wild.lab.test", "wild2.lab.test", "deep.sub.wild2.lab.test", "rot.lab.test"]
    domains.append("cwild.lab.test")
    words = ["api", "mail", "real", "www", "app"] + [f"w{i}x" for i in range(40)]
    probe = DnsProbe(_opts(server.address), domains=domains)
    results = await _run(probe, words)
    found = set(_found(probe, results))
    assert found == {
        "api.wild.lab.test",
        "mail.wild.lab.test",
        "real.wild2.lab.test",
        "www.deep.sub.wild2.lab.test",
        "real.rot.lab.test",
        "app.cwild.lab.test",
    }
    wild = [r for r in results if r.wildcard]
    assert len(wild) == len(words) * len(domains) - len(found)
    keep = DnsProbe(_opts(server.address, keep_wildcards=True), domains=["rot.lab.test"])
    kept = await _run(keep, ["a1", "real"])
    assert {r.name: r.wildcard for r in kept} == {
        "a1.rot.lab.test": True,
        "real.rot.lab.test": False,
    }
    assert all(keep.is_found(r) for r in kept)


async def test_truncated_answer_is_retried_over_tcp(server: DnsServer) -> None:
    probe = DnsProbe(_opts(server.address, types=("A", "MX")))
    (big,) = await _run(probe, ["big.lab.test"])
    assert big.error is None and len(big.answers) == 100
    (mx,) = await _run(DnsProbe(_opts(server.address, types=("MX",))), ["lab.test"])
    assert [a.data for a in mx.answers] == ["10 mail.lab.test"] and mx.types == ["MX"]


async def test_servfail_silent_and_cname_chain(server: DnsServer) -> None:
    probe = DnsProbe(DnsOptions(resolvers=(server.address,), query_timeout=0.05, query_retries=1))
    results = {
        r.name: r
        for r in await _run(probe, ["servfail.lab.test", "silent.lab.test", "c1.lab.test"])
    }
    assert results["servfail.lab.test"].error == results["servfail.lab.test"].error
    assert results["servfail.lab.test"].rcode == "SERVFAIL"
    assert results["servfail.lab.test"].error.kind == ErrorKind.DNS  # type: ignore[union-attr]
    assert results["silent.lab.test"].error.kind == ErrorKind.TIMEOUT  # type: ignore[union-attr]
    assert results["c1.lab.test"].cname_chain == ["c2.lab.test", "c3.lab.test", "www.lab.test"]


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("truncated_packet", ErrorKind.PROTOCOL),
        ("malformed", ErrorKind.PROTOCOL),
        ("oversized", ErrorKind.TOO_LARGE),
    ],
)
async def test_hostile_server_gives_the_right_error_kind(
    mode: HostileMode, kind: ErrorKind
) -> None:
    async with DnsServer(build_lab_zone(bulk_names=0), mode=mode) as hostile:
        probe = DnsProbe(
            # every mode answers: a deadline a loaded machine cannot miss keeps the
            # answer's kind, not a timeout, under test
            DnsOptions(resolvers=(hostile.address,), query_timeout=1.0, query_retries=1)
        )
        async with asyncio.timeout(5):
            (result,) = await _run(probe, ["www.lab.test"])
    assert result.error is not None and result.error.kind == kind
    assert not probe.is_found(result)


@pytest.mark.parametrize("mode", ["wrong_id", "servfail_all", "silent"])
async def test_a_resolver_that_never_answers_usably_is_a_config_error(mode: HostileMode) -> None:
    async with DnsServer(build_lab_zone(bulk_names=0), mode=mode) as dead:
        probe = DnsProbe(DnsOptions(resolvers=(dead.address,), query_timeout=0.05))
        with pytest.raises(ResolverError, match=f"no usable resolver: {dead.address} "):
            await probe.start()


async def test_trusted_resolver_rejects_names_it_cannot_confirm() -> None:
    loose, strict = Zone("lab.test"), Zone("lab.test")
    for z in (loose, strict):
        z.add("www.lab.test", "A", "127.0.0.10")
    loose.add("ghost.lab.test", "A", "127.0.0.99")
    async with DnsServer(loose) as a, DnsServer(strict) as b:
        probe = DnsProbe(DnsOptions(resolvers=(a.address,), trusted_resolvers=(b.address,)))
        results = {r.name: r for r in await _run(probe, ["www.lab.test", "ghost.lab.test"])}
    assert probe.is_found(results["www.lab.test"]) and results["www.lab.test"].resolver == b.address
    ghost = results["ghost.lab.test"]
    assert not probe.is_found(ghost) and ghost.error is not None
    assert "trusted" in ghost.error.detail

"""``aioscout.Scanner``: probes shared across runs, against the lab."""

from __future__ import annotations

import asyncio

import pytest

import aioscout
from aioscout import registry
from aioscout.lab import Lab
from tests._support.echo_probe import EchoOptions, EchoResult

pytestmark = pytest.mark.slow

ECHO = registry.ProbeSpec(
    name="echo",
    factory="tests._support.echo_probe:make_echo_probe",
    options="tests._support.echo_probe:EchoOptions",
    record="tests._support.echo_probe:EchoResult",
    summary="Say each input back.",
)


async def test_scanner_shares_one_started_probe_across_runs() -> None:
    async with Lab(sites=12, hostile=False, dns_names=50) as lab:
        assert lab.dns_address is not None
        http = aioscout.HttpOptions(resolvers=(lab.dns_address,))
        dns = aioscout.DnsOptions(resolvers=(lab.dns_address,))
        urls = [lab.url(f"site-{i:05d}.lab.test") for i in range(1, 7)]
        async with aioscout.Scanner(aioscout.ScanConfig(concurrency=8), http=http, dns=dns) as s:
            first = [r async for r in s.http(urls[:3])]
            probe = await s.probe("http", http, s.limits)
            both = await asyncio.gather(*(_collect(s.http(urls[3:])), _collect(s.http(urls[:3]))))
            assert await s.probe("http", http, s.limits) is probe  # built and started once
            found = sorted(
                [r.name async for r in s.dns(["www", "mail", "nope"], domains=["lab.test"])]
            )
            one = await s.http_one(urls[0])
        want = lab.expected("site-00001.lab.test").title
    assert [r.status for r in first] == [200] * 3
    assert sorted(len(b) for b in both) == [3, 3]
    assert found == ["mail.lab.test", "www.lab.test"]
    assert isinstance(one, aioscout.HttpResult) and one.title == want
    with pytest.raises(RuntimeError):
        await s.probe("http", http, s.limits)


async def _collect(run: object) -> list[object]:
    return [r async for r in run]  # type: ignore[attr-defined]


async def test_every_registered_probe_is_a_scanner_method() -> None:
    registry.register(ECHO)
    async with aioscout.Scanner() as s:
        assert "echo" in dir(s)
        got = [r async for r in s.echo(["a", "b"], options=EchoOptions(upper=True))]
        with pytest.raises(AttributeError):
            _ = s.nope
    assert sorted(str(r.text) for r in got if isinstance(r, EchoResult)) == ["A", "B"]


async def test_the_ports_probe_is_a_scanner_method_and_diffs_by_host_and_port() -> None:
    import orjson

    from aioscout.diff import diff_records
    from aioscout.lab.ports import PortFarm

    async with PortFarm(hosts=1, ports_per_host=40, net=204, first_port=24000) as farm:
        ip = farm.addresses[0]
        opts = aioscout.PortOptions(ports=(farm.scan_ports(ip),))
        async with aioscout.Scanner() as s:
            first = [r async for r in s.ports([ip], options=opts)]
            again = [r async for r in s.ports([ip], options=opts)]
    want = {port for (host, port) in farm.expected if host == ip}
    assert {r.port for r in first if isinstance(r, aioscout.PortResult)} == want
    rows = [[orjson.loads(orjson.dumps(r)) for r in run] for run in (first, again)]
    assert not diff_records(rows[0], rows[1])
    assert len(diff_records([], rows[1]).changes) == len(want)

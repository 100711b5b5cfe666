"""``aioscout ports`` against the lab's port farm: ground truth from the farm's own table.

Every port these tests scan is either one the farm (or the test) bound, or one
the farm found unbound by binding and closing it (``PortFarm.closed_ports``).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

import aioscout
from aioscout import PortOptions, PortResult, Records
from aioscout.lab.ports import PortFarm, compact_ranges
from aioscout.probes.ports import PortsProbe, PortTarget

_NET = 203  # 127.203.x.1: this module's farm


@pytest.fixture
async def farm() -> AsyncIterator[PortFarm]:
    async with PortFarm(
        hosts=2, ports_per_host=200, net=_NET, first_port=23000, filtered=1
    ) as running:
        yield running


def _by_port(records: Records | PortResult) -> dict[int | None, PortResult]:
    members = records if isinstance(records, Records) else [records]
    return {r.port: r for r in members}


async def _scan(options: PortOptions, ip: str) -> Records | PortResult:
    async with PortsProbe(options) as probe:
        return await probe.probe(ip, PortTarget(ip))


@pytest.mark.slow
async def test_every_open_port_and_its_service(farm: PortFarm) -> None:
    for ip in farm.addresses:
        result = await _scan(PortOptions(ports=(farm.scan_ports(ip),)), ip)
        got = {p: r for p, r in _by_port(result).items() if p is not None}
        want = {port: svc for (host, port), svc in farm.expected.items() if host == ip}
        assert set(got) == set(want), "open ports missed or invented"
        assert all((ip, p) not in farm.filtered for p in got)
        for port, record in got.items():
            assert record.state == "open"
            assert record.service == want[port], (port, record.banner)
            assert record.ip == ip
            assert record.error is None
        assert list(got) == sorted(got)  # a host's records in port order
        web = {p: r.url for p, r in got.items() if r.service in ("http", "tls")}
        assert web
        for port, url in web.items():
            scheme = "http" if got[port].service == "http" else "https"
            assert url == f"{scheme}://{ip}:{port}"


@pytest.mark.slow  # the farm's start (a certificate, every port bound once) takes a while
async def test_host_with_nothing_open_gives_one_record(farm: PortFarm) -> None:
    ip = farm.addresses[0]
    closed = farm.closed_ports(ip)[:50]
    result = await _scan(PortOptions(ports=(compact_ranges(closed),)), ip)
    assert isinstance(result, Records)
    assert len(result) == 1
    only = result[0]
    assert (only.port, only.state, only.scanned, only.error) == (None, "closed", 50, None)


async def test_report_all_gives_every_port(farm: PortFarm) -> None:
    ip = farm.addresses[1]
    ssh = next(p.port for p in farm.ports if p.ip == ip and p.kind == "ssh")
    closed = farm.closed_ports(ip)[:5]
    opts = PortOptions(ports=(compact_ranges([ssh, *closed]),), report_all=True)
    got = _by_port(await _scan(opts, ip))
    assert set(got) == {ssh, *closed}
    assert got[ssh].state == "open"
    assert got[ssh].service == "ssh"
    assert {got[p].state for p in closed} == {"closed"}


@pytest.mark.slow
async def test_a_port_that_never_answers_is_filtered_after_retries() -> None:
    # A listener with a full backlog drops further SYNs: the connect times out.
    with socket.socket() as listener:
        listener.bind((f"127.{_NET}.250.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(listener.getsockname()):
            opts = PortOptions(ports=(str(port),), connect_timeout=0.1, retries=1)
            result = await _scan(opts, f"127.{_NET}.250.1")
            assert isinstance(result, Records)
            assert [(r.port, r.state, r.scanned) for r in result] == [(None, "filtered", 1)]
            opts = PortOptions(ports=(str(port),), connect_timeout=0.1, report_all=True)
            result = await _scan(opts, f"127.{_NET}.250.1")
            assert [(r.port, r.state) for r in _by_port(result).values()] == [(port, "filtered")]


async def test_a_port_that_drops_syns_waits_the_hosts_round_trips(farm: PortFarm) -> None:
    # The host refuses its closed ports at once, so a SYN it drops is given up after a
    # few of its round trips; the 30 s ceiling (twice, with the retry) would not fit.
    ip = farm.addresses[0]
    (dropping,) = [port for host, port in farm.filtered if host == ip]
    closed = farm.closed_ports(ip)[:20]
    assert dropping not in closed
    opts = PortOptions(
        ports=(compact_ranges([*closed, dropping]),), connect_timeout=30.0, report_all=True
    )
    async with asyncio.timeout(10):
        got = _by_port(await _scan(opts, ip))
    assert got[dropping].state == "filtered"
    assert {got[p].state for p in closed} == {"closed"}


async def test_a_port_the_line_names_is_the_only_one_scanned(farm: PortFarm) -> None:
    ip = farm.addresses[0]
    smtp = next(p.port for p in farm.ports if p.ip == ip and p.kind == "smtp")
    async with PortsProbe(PortOptions(ports=(farm.scan_ports(ip),))) as probe:
        (target,) = probe.expand(f"{ip}:{smtp}")
        result = await probe.probe(f"{ip}:{smtp}", target)
    assert [(r.port, r.service) for r in _by_port(result).values()] == [(smtp, "smtp")]


@pytest.mark.slow
async def test_a_name_that_does_not_resolve_is_one_dns_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a UDP port nothing serves
        s.bind((f"127.{_NET}.251.1", 0))
        dead = f"127.{_NET}.251.1:{s.getsockname()[1]}"
    opts = PortOptions(ports=("80",), resolvers=(dead,), connect_timeout=0.2)
    async with PortsProbe(opts) as probe:
        result = await probe.probe("nowhere.lab.test", PortTarget("nowhere.lab.test"))
    assert isinstance(result, PortResult)
    assert result.error is not None
    assert result.error.kind == "dns"


async def test_no_banners_only_finds_open_ports(farm: PortFarm) -> None:
    ip = farm.addresses[0]
    result = await _scan(PortOptions(ports=(farm.scan_ports(ip),), banners=False), ip)
    got = _by_port(result)
    assert set(got) == {port for (host, port) in farm.expected if host == ip}
    assert {r.service for r in got.values()} == {None}


async def test_library_scan_ports_yields_records(farm: PortFarm) -> None:
    ip = farm.addresses[1]
    ports = [p.port for p in farm.ports if p.ip == ip and p.kind in ("ssh", "pop3", "imap")]
    opts = PortOptions(ports=(compact_ranges(ports),))
    stats = aioscout.Stats()
    records = [r async for r in aioscout.scan_ports([ip], options=opts, stats=stats)]
    seen = [r for r in records if isinstance(r, PortResult)]
    assert len(seen) == len(records)
    assert sorted((r.port, r.service) for r in seen) == sorted(
        (p.port, p.service) for p in farm.ports if p.port in ports and p.ip == ip
    )
    assert stats.done == 3


async def test_a_rate_limited_sweep_finds_the_same(farm: PortFarm) -> None:
    ip = farm.addresses[0]
    ports = [p.port for p in farm.ports if p.ip == ip][:3] + farm.closed_ports(ip)[:60]
    opts = PortOptions(ports=(compact_ranges(ports),), rate=5000.0, banners=False)
    got = _by_port(await _scan(opts, ip))
    assert set(got) == set(ports[:3])


async def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        listener.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 here")
    with listener:
        listener.listen(8)
        port = listener.getsockname()[1]
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as spare:
            spare.bind(("::1", 0))  # a port nothing listens on while the scan runs
            closed = spare.getsockname()[1]
            opts = PortOptions(ports=(f"{port},{closed}",), banners=False, report_all=True)
            async with PortsProbe(opts) as probe:
                (target,) = probe.expand("[::1]")
                got = _by_port(await probe.probe("[::1]", target))
    assert {p: r.state for p, r in got.items()} == {port: "open", closed: "closed"}
    assert got[port].ip == "::1"


async def test_cancelling_a_host_closes_what_it_holds(farm: PortFarm) -> None:
    ip = farm.addresses[1]
    silent = next(p.port for p in farm.ports if p.ip == ip and p.kind == "silent")
    async with PortsProbe(PortOptions(ports=(str(silent),))) as probe:
        assert probe._sweep is not None
        budget = probe._sweep.free
        task = asyncio.ensure_future(probe.probe(ip, PortTarget(ip)))
        for _ in range(1000):  # until the silent port is being identified
            if probe._sweep.free != budget:
                break
            await asyncio.sleep(0.005)
        assert probe._sweep.free == budget - 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert probe._sweep.free == budget


async def test_a_scanned_connection_is_closed_with_a_reset() -> None:
    # A reset leaves no TIME_WAIT behind (a graceful close would hold a local port a
    # minute for every open port a scan touched): the service sees the reset.
    loop = asyncio.get_running_loop()
    with socket.socket() as listener:
        listener.bind((f"127.{_NET}.252.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        opts = PortOptions(ports=(str(port),), read_timeout=0.2, banner_wait=0.05)
        scan = asyncio.ensure_future(_scan(opts, f"127.{_NET}.252.1"))
        conn, _ = await loop.sock_accept(listener)
        with conn:
            got = _by_port(await scan)
            assert got[port].state == "open"
            with pytest.raises(ConnectionResetError):
                while await loop.sock_recv(conn, 4096):  # the HTTP question, then the reset
                    pass


async def test_questions_on_their_own_connections_end_before_the_listening_one() -> None:
    # A silent port: the PING and the ClientHello go on connections of their own and
    # are given up long before the budget, while the port's own connection listens on
    # for a late greeting until the budget runs out.
    loop = asyncio.get_running_loop()
    ended: list[tuple[int, float]] = []  # (connection number, when it ended)
    accepted = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        number = accepted
        accepted += 1
        try:
            while await reader.read(4096):
                pass
        except ConnectionError:
            pass
        ended.append((number, loop.time()))
        writer.close()

    server = await asyncio.start_server(silent, f"127.{_NET}.253.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        opts = PortOptions(ports=(str(port),), read_timeout=3.0, banner_wait=0.05)
        started = loop.time()
        got = _by_port(await _scan(opts, f"127.{_NET}.253.1"))
        await asyncio.sleep(0.05)
    assert got[port].state == "open"
    assert got[port].service is None
    assert accepted == 3
    when = dict(ended)
    assert when[0] - started >= 2.5  # the port's own connection: the whole budget
    assert max(when[1], when[2]) - started < when[0] - started - 1.5  # the questions: far less

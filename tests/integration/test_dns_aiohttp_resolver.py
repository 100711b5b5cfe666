"""aiohttp's resolver seam over the project's DNS client, against lab DNS servers."""

from __future__ import annotations

import asyncio
import socket

import pytest

from aioscout._exceptions import ConfigError
from aioscout.lab.dns import DnsServer, build_lab_zone
from aioscout.probes.resolver import DnsServerResolver


async def test_lookups_share_one_client_until_it_is_closed() -> None:
    async with DnsServer(build_lab_zone(bulk_names=0)) as server:
        resolver = DnsServerResolver([server.address], timeout=2.0)
        v4, both, *_ = await asyncio.gather(
            resolver.resolve("www.lab.test", 80),
            resolver.resolve("v6.lab.test", 443, socket.AF_UNSPEC),
            *(resolver.resolve("mail.lab.test", 25) for _ in range(20)),
        )
        opened = resolver._fast
        assert opened is not None and len(opened._socks) == 1  # one client for all
        with pytest.raises(OSError, match="no address"):
            await resolver.resolve("nothing-here.lab.test", 80)
        big = await resolver.resolve("big.lab.test", 80)  # truncated over UDP: TCP
        await resolver.close()
        assert not opened._socks  # closed
    assert [(r["host"], r["port"], r["family"]) for r in v4] == [("127.0.0.10", 80, socket.AF_INET)]
    assert [(r["host"], r["family"]) for r in both] == [
        ("127.0.0.6", socket.AF_INET),
        ("::ffff:127.0.0.6", socket.AF_INET6),
    ]
    assert len(big) == 100


@pytest.mark.slow
async def test_a_silent_server_is_a_dns_timeout_os_error() -> None:
    async with DnsServer(build_lab_zone(bulk_names=0), mode="silent") as server:
        resolver = DnsServerResolver([server.address], timeout=0.3)
        with pytest.raises(OSError, match=r"DNS timeout resolving www\.lab\.test"):
            await resolver.resolve("www.lab.test", 80)
        await resolver.close()


def test_bad_servers_are_refused_when_built() -> None:
    with pytest.raises(ConfigError, match="host name"):
        DnsServerResolver(["dns.example"])
    with pytest.raises(ConfigError):
        DnsServerResolver([])

"""The lab DNS server answers its zone correctly over UDP and TCP on loopback."""

from __future__ import annotations

import asyncio
import socket

import dns.asyncquery
import dns.message
import dns.rcode
import pytest

from aioscout.lab.dns import DnsServer, HostileMode, build_lab_zone, poisoned


async def _ask(
    port: int, name: str, rtype: str = "A", *, edns: bool = False
) -> dns.message.Message:
    query = dns.message.make_query(name, rtype, use_edns=0 if edns else False)
    return await dns.asyncquery.udp(query, "127.0.0.1", port=port, timeout=2.0)


def _addresses(msg: dns.message.Message) -> set[str]:
    return {rd.to_text() for rrset in msg.answer for rd in rrset if rrset.rdtype == 1}


async def test_bulk_zone_answers_every_existing_name_and_nothing_else() -> None:
    zone = build_lab_zone(bulk_names=300, seed=7)
    words = list(zone.wordlist(missing=100))
    assert len(words) == 400 and len(set(words)) == 400
    existing = {f"{w}.{zone.bulk_domain}" for w in words} & set(zone.existing_names())
    assert len(existing) == 300
    async with DnsServer(zone) as server:
        for word in words[:80]:
            name = f"{word}.{zone.bulk_domain}"
            reply = await _ask(server.port, name)
            if name in existing:
                assert reply.rcode() == dns.rcode.NOERROR and _addresses(reply)
            else:
                assert reply.rcode() == dns.rcode.NXDOMAIN


async def test_wildcards_cname_chain_and_ground_truth() -> None:
    zone = build_lab_zone(bulk_names=10)
    assert zone.is_wildcard("x.wild.lab.test") and not zone.is_wildcard("api.wild.lab.test")
    assert zone.is_wildcard("a.deep.sub.wild2.lab.test")
    assert not zone.is_wildcard("a.sub.wild2.lab.test")  # empty non-terminal blocks *.wild2
    assert not zone.is_wildcard("nothing.lab.test")
    async with DnsServer(zone) as server:
        assert _addresses(await _ask(server.port, "zzz.wild.lab.test")) == {"127.0.1.1"}
        assert _addresses(await _ask(server.port, "api.wild.lab.test")) == {"127.0.1.2"}
        assert _addresses(await _ask(server.port, "q.deep.sub.wild2.lab.test")) == {"127.0.2.1"}
        seen = set()
        for _ in range(6):
            got = _addresses(await _ask(server.port, "same.rot.lab.test"))
            assert len(got) == 2 and all(ip.startswith("127.0.3.") for ip in got)
            seen |= got
        assert len(seen) > 2  # the rotating wildcard changes its answer
        chain = await _ask(server.port, "c1.lab.test")
        assert [rr.rdtype for rr in chain.answer] == [5, 5, 5, 1]
        assert (await _ask(server.port, "servfail.lab.test")).rcode() == dns.rcode.SERVFAIL
        mx = await _ask(server.port, "lab.test", "MX")
        assert mx.answer[0][0].to_text() == "10 mail.lab.test."


async def test_truncation_over_udp_and_full_answer_over_tcp() -> None:
    async with DnsServer(build_lab_zone(bulk_names=0)) as server:
        small = await _ask(server.port, "big.lab.test")
        assert small.flags & 0x0200 and not small.answer
        full = await dns.asyncquery.tcp(
            dns.message.make_query("big.lab.test", "A"), "127.0.0.1", port=server.port, timeout=2.0
        )
        assert len(_addresses(full)) == 100


async def test_poison_and_drop_every() -> None:
    zone = build_lab_zone(bulk_names=0)
    async with DnsServer(zone, poison=True) as server:
        fake = _addresses(await _ask(server.port, "does-not-exist.lab.test"))
        assert len(fake) == 1 and next(iter(fake)).startswith("127.66.")
    async with DnsServer(zone, drop_every=2) as server:
        await _ask(server.port, "www.lab.test")
        with pytest.raises(dns.exception.Timeout):
            await dns.asyncquery.udp(
                dns.message.make_query("www.lab.test", "A"),
                "127.0.0.1",
                port=server.port,
                timeout=0.05,
            )
        assert server.queries == 2


async def test_partial_poison_lies_for_a_fixed_fraction_of_names_both_ways() -> None:
    zone = build_lab_zone(bulk_names=400, seed=3)
    names = [f"{w}.{zone.bulk_domain}" for w in zone.wordlist(missing=400)]
    liars = {n for n in names if poisoned(n, 0.25)}
    assert 0.15 * len(names) < len(liars) < 0.35 * len(names)
    assert any(zone.exists(n) for n in liars) and any(not zone.exists(n) for n in liars)
    async with DnsServer(zone, poison=0.25) as server:
        assert server.poison == 0.25
        for name in names[:120]:
            got = _addresses(await _ask(server.port, name))
            fake = {a for a in got if a.startswith("127.66.")}
            if name in liars:
                assert len(got) == 1 and fake == got
            else:
                assert not fake and bool(got) == zone.exists(name)
    with pytest.raises(ValueError, match="fraction"):
        DnsServer(zone, poison=1.5)


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("wrong_id", lambda q, r: r[:2] != q[:2]),
        ("truncated_packet", lambda q, r: r[:2] == q[:2] and len(r) < 46),
        ("malformed", lambda q, r: r[:2] == q[:2] and r[12 : len(q)] == q[12:]),
        ("oversized", lambda q, r: len(r) > 60000),
        ("servfail_all", lambda q, r: r[3] & 0x0F == 2),
    ],
)
async def test_hostile_modes(mode: HostileMode, check: object) -> None:
    loop = asyncio.get_running_loop()
    async with DnsServer(build_lab_zone(bulk_names=0), mode=mode) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.connect(("127.0.0.1", server.port))
            query = dns.message.make_query("www.lab.test", "A").to_wire()
            await loop.sock_sendall(sock, query)
            async with asyncio.timeout(2.0):
                reply = await loop.sock_recv(sock, 70000)
    assert callable(check) and check(query, reply)


def test_server_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        DnsServer(build_lab_zone(bulk_names=0), mode="chaos")  # type: ignore[arg-type]

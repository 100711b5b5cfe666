"""The hand-written DNS codec agrees with dnspython and rejects malformed replies."""

from __future__ import annotations

import dns.message
import dns.rrset
import pytest

from aioscout._config import DnsOptions
from aioscout._exceptions import ConfigError, InvalidTarget
from aioscout.dnsproto.resolver import parse_resolver
from aioscout.dnsproto.wildcard import answer_set, levels_of
from aioscout.dnsproto.wire import (
    TooLarge,
    WireError,
    build_query,
    parse_response,
    type_code,
    type_name,
)
from aioscout.probes.dns import DnsProbe


def _reply(name: str, *rrs: tuple[str, str, str]) -> bytes:
    query = dns.message.make_query(name, "A")
    reply = dns.message.make_response(query)
    for owner, rtype, data in rrs:
        reply.answer.append(dns.rrset.from_text(owner, 60, "IN", rtype, data))
    return reply.to_wire()


def test_query_matches_dnspython() -> None:
    wire = build_query(0x1234, "Www.Lab.Test.", 28)
    msg = dns.message.from_wire(wire)
    assert msg.id == 0x1234 and msg.question[0].name.to_text() == "Www.Lab.Test."
    assert msg.question[0].rdtype == 28 and msg.edns == 0


def test_parse_answers_with_compression_and_other_types() -> None:
    wire = _reply(
        "a.lab.test.",
        ("a.lab.test.", "CNAME", "b.lab.test."),
        ("b.lab.test.", "A", "127.0.0.7"),
        ("b.lab.test.", "AAAA", "::1"),
        ("b.lab.test.", "MX", "10 mx.lab.test."),
        ("b.lab.test.", "TXT", '"hello world"'),
    )
    msg = parse_response(wire)
    assert msg.qname == "a.lab.test" and msg.qtype == 1 and msg.rcode == 0
    assert [(o, t, d) for o, t, _ttl, d in msg.answers] == [
        ("a.lab.test", 5, "b.lab.test"),
        ("b.lab.test", 1, "127.0.0.7"),
        ("b.lab.test", 28, "::1"),
        ("b.lab.test", 15, "10 mx.lab.test"),
        ("b.lab.test", 16, '"hello world"'),
    ]


@pytest.mark.parametrize("cut", [5, 20, 30, 40])
def test_cut_replies_are_rejected(cut: int) -> None:
    wire = _reply("a.lab.test.", ("a.lab.test.", "A", "127.0.0.7"))
    with pytest.raises(WireError):
        parse_response(wire[:cut])


def test_compression_loop_and_oversized_are_rejected() -> None:
    head = bytes.fromhex("abcd81800001000100000000")
    loop = head + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    with pytest.raises(WireError):
        parse_response(loop)
    big = bytearray(bytes.fromhex("abcd8180000107d000000000") + b"\x01a\x00\x00\x01\x00\x01")
    with pytest.raises(TooLarge):
        parse_response(bytes(big))


def test_types_resolvers_and_levels() -> None:
    assert type_code("aaaa") == 28 and type_name(15) == "MX" and type_code("SRV") == 33
    with pytest.raises(ValueError, match="unknown"):
        type_code("NOPE")
    assert parse_resolver("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_resolver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_resolver("[::1]:53") == ("::1", 53)
    with pytest.raises(ValueError, match="IP address"):
        parse_resolver("dns.google")
    assert levels_of("a.b.c.lab.test", "lab.test") == ["b.c.lab.test", "c.lab.test", "lab.test"]
    assert levels_of("a.lab.test", "other.test") == []
    assert answer_set([("x", 1, 60, "127.0.0.1"), ("x", 5, 60, "WWW.lab.test")]) == {
        "127.0.0.1",
        "www.lab.test",
    }


def test_expand_brute_force_and_bulk() -> None:
    brute = DnsProbe(DnsOptions(resolvers=("127.0.0.1",)), domains=["Lab.Test.", "two.test"])
    assert list(brute.expand(" WWW ")) == ["www.lab.test", "www.two.test"]
    assert list(brute.expand("a.b")) == ["a.b.lab.test", "a.b.two.test"]
    bulk = DnsProbe(DnsOptions(resolvers=("127.0.0.1",)))
    assert list(bulk.expand("bücher.test.")) == ["xn--bcher-kva.test"]
    for bad in ["", "   ", "-bad.test", "a..b", "x" * 64 + ".test", "sp ace.test"]:
        with pytest.raises(InvalidTarget):
            list(bulk.expand(bad))
    with pytest.raises(ConfigError):
        DnsProbe(DnsOptions(types=("BOGUS",)))

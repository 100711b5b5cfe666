"""Property tests for the target parser and the port spec parser."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aioscout._exceptions import ConfigError, InvalidTarget
from aioscout.targets import HttpTarget, expand_http, parse_domain, parse_http_target
from aioscout.targets.ports import format_ports, parse_ports

FAST = settings(max_examples=40, deadline=None)
DEEP = settings(max_examples=2000, deadline=None)

label = st.from_regex(r"[a-z0-9_]([a-z0-9_-]{0,20}[a-z0-9_])?", fullmatch=True)
tld = st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True)
hostname = st.builds(lambda ls, t: ".".join([*ls, t]), st.lists(label, max_size=4), tld)
port = st.integers(1, 65535)
path = st.from_regex(r"(/[A-Za-z0-9._~-]{0,10}){1,4}(\?[a-z0-9=&]{0,10})?", fullmatch=True)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda a: a.compressed)
hostish = st.text(alphabet=st.sampled_from("abcXYZ019.-_:/[]@?#%ü例 \t"), max_size=40)


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_invalid_target(line: str) -> None:
    try:
        for target in parse_http_target(line, max_cidr_hosts=16):
            assert target.path.startswith("/")
            assert target.host == target.host.lower()
            assert target.host.isascii()
    except InvalidTarget:
        pass


@FAST
@given(hostish)
def test_url_like_text_raises_only_invalid_target(line: str) -> None:
    for candidate in (line, "http://" + line, "https://" + line):
        try:
            targets = list(parse_http_target(candidate, max_cidr_hosts=16))
        except InvalidTarget:
            continue
        for t in targets:
            # What the parser produces parses back to itself.
            assert list(parse_http_target(t.url())) == [
                HttpTarget(t.scheme or "http", t.host, _explicit(t), t.path)
            ]


def _explicit(t: HttpTarget) -> int | None:
    scheme = t.scheme or "http"
    return None if (scheme, t.port) in (("http", 80), ("https", 443)) else t.port


@FAST
@given(st.binary(max_size=200))
def test_decoded_garbage_raises_only_invalid_target(data: bytes) -> None:
    line = data.decode("utf-8", "replace")
    try:
        list(parse_http_target(line, max_cidr_hosts=16))
        parse_domain(line)
    except InvalidTarget:
        pass
    if "\ufffd" in line:
        try:
            parse_http_target(line)
        except InvalidTarget:
            pass
        else:
            raise AssertionError("a line with U+FFFD was accepted")


@FAST
@given(
    st.sampled_from(["http", "https", None]),
    hostname,
    st.none() | port,
    path,
)
def test_valid_urls_round_trip(scheme: str | None, host: str, p: int | None, pth: str) -> None:
    netloc = host if p is None else f"{host}:{p}"
    line = f"{scheme}://{netloc}{pth}" if scheme else f"{netloc}{pth}"
    assert list(parse_http_target(line)) == [HttpTarget(scheme, host, p, pth)]
    assert list(parse_http_target(line.upper() if scheme is None else line)) == [
        HttpTarget(scheme, host, p, pth.upper() if scheme is None else pth)
    ]


@FAST
@given(hostname)
def test_domains_round_trip(host: str) -> None:
    assert parse_domain(host) == host
    assert parse_domain(host.upper() + ".") == host


@FAST
@given(ipv6, st.none() | port)
def test_ipv6_forms(addr: str, p: int | None) -> None:
    expected_host = ipaddress.IPv6Address(addr).compressed
    if p is None:
        for line in (addr, f"[{addr}]", addr.upper(), f"http://[{addr}]/"):
            (t,) = parse_http_target(line)
            assert t.host == expected_host
            assert t.port is None
    else:
        (t,) = parse_http_target(f"[{addr}]:{p}")
        assert (t.host, t.port) == (expected_host, p)


@FAST
@given(ipv4, st.none() | port)
def test_ipv4_forms(addr: str, p: int | None) -> None:
    line = addr if p is None else f"{addr}:{p}"
    assert list(parse_http_target(line)) == [HttpTarget(None, addr, p)]


@FAST
@given(st.ip_addresses(), st.integers(0, 128))
def test_cidr_counts(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int) -> None:
    prefix = min(prefix, addr.max_prefixlen)
    size = 2 ** (addr.max_prefixlen - prefix)
    line = f"{addr}/{prefix}"
    if size > 64:
        try:
            parse_http_target(line, max_cidr_hosts=64)
        except InvalidTarget as exc:
            assert f"has {size} addresses" in str(exc)
        else:
            raise AssertionError("oversized CIDR accepted")
        return
    hosts = [t.host for t in parse_http_target(line, max_cidr_hosts=64)]
    assert len(hosts) == size
    assert len(set(hosts)) == size
    net = ipaddress.ip_network(line, strict=False)
    assert all(ipaddress.ip_address(h) in net for h in hosts)


@FAST
@given(st.lists(st.tuples(st.sampled_from([None, "http", "https"]), port), min_size=1, max_size=30))
def test_port_spec_round_trip(ports: list[tuple[str | None, int]]) -> None:
    expected = list(dict.fromkeys(ports))
    assert parse_ports(format_ports(ports)) == expected


@FAST
@given(st.text(max_size=40))
def test_port_spec_raises_only_config_error(spec: str) -> None:
    try:
        ports = parse_ports(spec)
    except ConfigError:
        return
    assert ports
    assert all(1 <= p <= 65535 and s in (None, "http", "https") for s, p in ports)


@FAST
@given(
    st.lists(st.tuples(st.sampled_from([None, "https"]), port), max_size=4, unique=True),
    st.lists(path, max_size=3, unique=True),
)
def test_expansion_size(ports: list[tuple[str | None, int]], paths: list[str]) -> None:
    got = list(expand_http("127.0.0.0/31", ports=ports, paths=paths))
    assert len(got) == 2 * max(len(ports), 1) * max(len(paths), 1)
    with_port = list(expand_http("127.0.0.1:9", ports=ports, paths=paths))
    assert {t.port for t in with_port} == {9}


@pytest.mark.slow
@DEEP
@given(st.text(max_size=300) | hostish)
def test_arbitrary_text_deep(line: str) -> None:
    test_arbitrary_text_raises_only_invalid_target.hypothesis.inner_test(line)  # type: ignore[attr-defined]
    test_url_like_text_raises_only_invalid_target.hypothesis.inner_test(line)  # type: ignore[attr-defined]


plain_url = st.builds(
    lambda scheme, host, p, pth: f"{scheme}://{host}{'' if p is None else f':{p}'}{pth}",
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9_][a-z0-9_.-]{0,30}", fullmatch=True)
    | st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,4}){0,4}", fullmatch=True),
    st.none() | st.integers(0, 99999),
    st.from_regex(r"(/[A-Za-z0-9/?&=;:!$'()*+,._~%\[\]-]{0,20})?", fullmatch=True),
)


def _outcome(line: str) -> list[HttpTarget] | str:
    try:
        return list(parse_http_target(line))
    except InvalidTarget as exc:
        return str(exc)


@DEEP
@given(plain_url)
def test_one_pass_parse_of_plain_urls_agrees_with_the_general_parse(line: str) -> None:
    from aioscout.targets.parse import _PLAIN_URL

    assert _PLAIN_URL.fullmatch(line) is not None  # the line does take the one pass
    # A leading space is stripped by the general parse but never matched by the one pass.
    assert _outcome(line) == _outcome(" " + line)


plain_host = st.builds(
    lambda host, p: f"{host}{'' if p is None else f':{p}'}",
    st.from_regex(r"[a-z0-9_][a-z0-9_.-]{0,30}", fullmatch=True)
    | st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,4}){0,4}", fullmatch=True),
    st.none() | st.integers(0, 99999),
)


@DEEP
@given(plain_host)
def test_one_pass_parse_of_bare_hosts_agrees_with_the_general_parse(line: str) -> None:
    from aioscout.targets.parse import _PLAIN_HOST

    assert _PLAIN_HOST.fullmatch(line) is not None  # the line does take the one pass
    assert _outcome(line) == _outcome(" " + line)

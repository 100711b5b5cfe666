"""Target parsing: every accepted form, every rejection, port and path expansion."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from aioscout._exceptions import ConfigError, InvalidTarget
from aioscout.targets import HttpTarget, expand_http, parse_domain, parse_http_target, read_paths
from aioscout.targets.ports import parse_ports


def one(line: str) -> HttpTarget:
    targets = list(parse_http_target(line))
    assert len(targets) == 1
    return targets[0]


def rejected(line: str, **kwargs: int) -> str:
    with pytest.raises(InvalidTarget) as info:
        parse_http_target(line, **kwargs)
    return str(info.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("example.com", HttpTarget(None, "example.com", None, "/")),
        ("  Example.COM.  ", HttpTarget(None, "example.com", None, "/")),
        ("example.com:8080", HttpTarget(None, "example.com", 8080, "/")),
        ("example.com/admin?x=1", HttpTarget(None, "example.com", None, "/admin?x=1")),
        ("example.com?x=1", HttpTarget(None, "example.com", None, "/?x=1")),
        ("http://example.com", HttpTarget("http", "example.com", None, "/")),
        (
            "HTTPS://Example.com:8443/a/b?c=d#frag",
            HttpTarget("https", "example.com", 8443, "/a/b?c=d"),
        ),
        ("https://example.com#frag", HttpTarget("https", "example.com", None, "/")),
        ("//example.com/p", HttpTarget(None, "example.com", None, "/p")),
        ("127.0.0.1", HttpTarget(None, "127.0.0.1", None, "/")),
        ("127.0.0.1:80", HttpTarget(None, "127.0.0.1", 80, "/")),
        ("::1", HttpTarget(None, "::1", None, "/")),
        ("[::1]", HttpTarget(None, "::1", None, "/")),
        ("[::1]:8080", HttpTarget(None, "::1", 8080, "/")),
        ("::1:80", HttpTarget(None, "::1:80", None, "/")),
        ("[2001:DB8:0:0::1]", HttpTarget(None, "2001:db8::1", None, "/")),
        ("http://[::1]:81/x", HttpTarget("http", "::1", 81, "/x")),
        ("http://::1/x", HttpTarget("http", "::1", None, "/x")),
        ("a_b.example.com", HttpTarget(None, "a_b.example.com", None, "/")),
        ("bücher.de", HttpTarget(None, "xn--bcher-kva.de", None, "/")),
        ("BÜCHER.DE", HttpTarget(None, "xn--bcher-kva.de", None, "/")),
        ("例え。テスト", HttpTarget(None, "xn--r8jz45g.xn--zckzah", None, "/")),
        ("https://bücher.de/ä b", HttpTarget("https", "xn--bcher-kva.de", None, "/%C3%A4%20b")),
        ("localhost", HttpTarget(None, "localhost", None, "/")),
        ("example.com:080", HttpTarget(None, "example.com", 80, "/")),
        ("1.2.3.4/admin", HttpTarget(None, "1.2.3.4", None, "/admin")),
    ],
)
def test_accepted_forms(line: str, expected: HttpTarget) -> None:
    assert one(line) == expected


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        ("", "empty line"),
        ("   \t ", "empty line"),
        ("# a comment", "comment"),
        ("  #x", "comment"),
        ("exa\x00mple.com", "control character"),
        ("exa\x1bmple.com", "control character"),
        ("bad\ufffdbyte.com", "invalid UTF-8"),
        ("surrogate\udcff.com", "invalid UTF-8"),
        ("ftp://example.com", "unsupported scheme 'ftp'"),
        ("javascript://x", "unsupported scheme 'javascript'"),
        ("example.com:0", "outside 1-65535"),
        ("example.com:65536", "outside 1-65535"),
        ("example.com:99999999999999", "outside 1-65535"),
        ("example.com:http", "invalid port"),
        ("example.com:", "missing port"),
        ("example.com:-1", "invalid port"),
        (":80", "missing host"),
        ("http://", "missing host"),
        ("http:///path", "missing host"),
        ("exa mple.com", "invalid host name"),
        ("example..com", "empty label"),
        ("-example.com", "invalid host name"),
        ("example-.com", "invalid host name"),
        ("a" * 64 + ".com", "label longer than 63"),
        (".".join(["a" * 60] * 5), "longer than 253"),
        ("999.1.1.1", "invalid IPv4"),
        ("1.2.3", "invalid IPv4"),
        ("010.0.0.1", "invalid IPv4"),
        ("[::1", "missing ']'"),
        ("[::1]x", "unexpected text"),
        ("[127.0.0.1]", "only for IPv6"),
        (":::1", "invalid IPv6"),
        ("fe80::1%eth0", "zone index"),
        ("http://1::2::3/", "needs brackets"),
        ("1.2.3.4/33", "invalid CIDR prefix"),
        ("::/129", "invalid CIDR prefix"),
        ("1.2.3.4/0000000128", "invalid CIDR prefix"),
        ("10.0.0.0/8", "CIDR 10.0.0.0/8 has 16777216 addresses; raise --max-cidr to expand it"),
        ("*.example.com", "invalid host name"),
    ],
)
def test_rejected_forms(line: str, detail: str) -> None:
    assert detail in rejected(line)


def test_lines_longer_than_the_limit_are_rejected() -> None:
    assert "longer than 8192" in rejected("a" * 8193)
    assert one("a" * 63 + "." + "b" * 63).host.startswith("a")
    assert "longer than 10" in rejected("example.com", max_line=10)


def test_credentials_are_rejected_without_echo() -> None:
    for line in (
        "http://alice:s3cret@example.com/",
        "https://alice:s3cret@example.com:99999/",
        "alice:s3cret@example.com",
        "http://alice:s3c/ret@example.com/",
    ):
        detail = rejected(line)
        assert "s3c" not in detail
        assert "alice" not in detail
    assert one("http://example.com/a@b").path == "/a@b"


def test_error_details_are_short() -> None:
    assert len(rejected("x" * 8000 + ":bad")) < 120
    assert len(rejected("ftp" + "p" * 5000 + "://x")) < 120


def test_cidr_expands_in_order_including_network_and_broadcast() -> None:
    hosts = [t.host for t in parse_http_target("127.0.0.0/30")]
    assert hosts == ["127.0.0.0", "127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert [t.host for t in parse_http_target("127.0.0.5/32")] == ["127.0.0.5"]
    # Host bits are ignored, as most scanners do.
    assert [t.host for t in parse_http_target("127.0.0.6/31")] == ["127.0.0.6", "127.0.0.7"]
    v6 = [t.host for t in parse_http_target("2001:db8::/126")]
    assert v6 == ["2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3"]
    assert all(t.scheme is None and t.port is None for t in parse_http_target("::/127"))


def test_cidr_is_lazy_and_the_cap_can_be_raised() -> None:
    with pytest.raises(InvalidTarget):
        parse_http_target("10.0.0.0/8")
    targets = parse_http_target("10.0.0.0/8", max_cidr_hosts=1 << 24)
    first = list(itertools.islice(targets, 3))
    assert [t.host for t in first] == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]
    assert "::/64 has 18446744073709551616 addresses" in rejected("::/64")
    assert len(list(parse_http_target("127.0.0.0/16"))) == 65536
    assert "has 65536" in rejected("127.0.0.0/16", max_cidr_hosts=65535)


def test_validation_happens_before_iteration() -> None:
    # No iteration needed: the call itself raises.
    with pytest.raises(InvalidTarget):
        expand_http("bad host", ports=[(None, 80)])


def test_urls_round_trip_through_url() -> None:
    for url in (
        "http://example.com/",
        "https://example.com:8443/a?b=c",
        "http://[::1]:8080/x",
        "https://127.0.0.1/",
    ):
        assert one(url).url() == url


def test_expand_ports_apply_only_without_an_explicit_port() -> None:
    ports = parse_ports("80,https:8443")
    got = [t.url() for t in expand_http("example.com", ports=ports)]
    assert got == ["http://example.com/", "https://example.com:8443/"]
    got_targets = list(expand_http("https://example.com/", ports=ports))
    assert got_targets == [
        HttpTarget("https", "example.com", 80, "/"),
        HttpTarget("https", "example.com", 8443, "/"),
    ]
    assert list(expand_http("example.com:9000", ports=ports)) == [
        HttpTarget(None, "example.com", 9000, "/")
    ]
    assert list(expand_http("example.com", ports=[(None, 81)])) == [
        HttpTarget(None, "example.com", 81, "/")
    ]


def test_expand_paths_replace_root_and_append_otherwise() -> None:
    assert [t.path for t in expand_http("example.com", paths=["admin", "/login?x=1"])] == [
        "/admin",
        "/login?x=1",
    ]
    assert [t.path for t in expand_http("example.com/app/?q=1", paths=["admin", "/y?z"])] == [
        "/app/admin?q=1",
        "/app/y?z",
    ]
    with pytest.raises(ConfigError):
        expand_http("example.com", paths=[" "])
    with pytest.raises(ConfigError):
        expand_http("example.com", paths=["/a\x00"])


def test_expand_order_is_host_major_then_port_then_path() -> None:
    got = [
        (t.host, t.port, t.path)
        for t in expand_http("127.0.0.0/31", ports=[(None, 80), (None, 81)], paths=["/a", "/b"])
    ]
    assert got == [
        (host, port, path)
        for host in ("127.0.0.0", "127.0.0.1")
        for port in (80, 81)
        for path in ("/a", "/b")
    ]


def test_parse_domain() -> None:
    assert parse_domain("Bücher.Example.") == "xn--bcher-kva.example"
    assert parse_domain("  _dmarc.Example.com ") == "_dmarc.example.com"
    for line, detail in [
        ("*.example.com", "wildcard"),
        ("http://example.com", "not a URL"),
        ("example.com/x", "not a URL"),
        ("example.com:53", "without a port"),
        ("127.0.0.1", "not an IP address"),
        ("", "empty line"),
        ("# x", "comment"),
        ('{"answers": []}', "JSON record naming no target"),
        ("a..b", "empty label"),
    ]:
        with pytest.raises(InvalidTarget, match=detail):
            parse_domain(line)


def test_read_paths_single(tmp_path: Path) -> None:
    assert read_paths("/admin") == ["/admin"]
    assert read_paths("admin") == ["/admin"]
    assert read_paths("/a b") == ["/a%20b"]
    # An absolute path naming an existing file is read; any other stays a URL path.
    existing = tmp_path / "x.txt"
    existing.write_text("/one\n")
    assert read_paths(str(existing)) == ["/one"]
    assert read_paths(str(tmp_path / "none.txt")) == [str(tmp_path / "none.txt")]


def test_read_paths_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "paths.txt"
    f.write_text("# wordlist\n/admin\n\nlogin\n/admin\r\n  .git/HEAD  \n")
    assert read_paths(f"@{f}") == ["/admin", "/login", "/.git/HEAD"]
    monkeypatch.chdir(tmp_path)
    assert read_paths("paths.txt") == ["/admin", "/login", "/.git/HEAD"]
    with pytest.raises(ConfigError, match="cannot read"):
        read_paths(f"@{tmp_path / 'missing.txt'}")
    (tmp_path / "bin.txt").write_bytes(b"/a\n\xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_paths(f"@{tmp_path / 'bin.txt'}")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ConfigError, match="no paths"):
        read_paths(f"@{tmp_path / 'empty.txt'}")

"""Port specifications."""

from __future__ import annotations

import pytest

from aioscout._exceptions import ConfigError
from aioscout.targets.ports import format_ports, parse_ports


def test_mixed_spec_keeps_order_and_drops_duplicates() -> None:
    got = parse_ports("80,443,8000-8002,https:8443,http:8080,80, HTTPS:8443")
    assert got == [
        (None, 80),
        (None, 443),
        (None, 8000),
        (None, 8001),
        (None, 8002),
        ("https", 8443),
        ("http", 8080),
    ]


def test_scheme_on_a_range_and_same_port_with_and_without_scheme() -> None:
    assert parse_ports("https:8443-8444,443,https:443") == [
        ("https", 8443),
        ("https", 8444),
        (None, 443),
        ("https", 443),
    ]


def test_full_range() -> None:
    ports = parse_ports("1-65535")
    assert len(ports) == 65535
    assert ports[0] == (None, 1)
    assert ports[-1] == (None, 65535)


@pytest.mark.parametrize(
    ("spec", "detail"),
    [
        ("", "empty port list"),
        ("  ", "empty port list"),
        ("80,,443", "empty item"),
        ("80,", "empty item"),
        ("0", "outside 1-65535"),
        ("65536", "outside 1-65535"),
        ("1-99999999999", "outside 1-65535"),
        ("http", "bad port item"),
        ("80-", "bad port item"),
        ("-80", "bad port item"),
        ("8100-8000", "ends before it starts"),
        ("ftp:21", "unsupported scheme 'ftp'"),
        ("https:", "bad port item"),
        ("８０", "bad port item"),
    ],
)
def test_bad_specs(spec: str, detail: str) -> None:
    with pytest.raises(ConfigError, match=detail):
        parse_ports(spec)


def test_format_round_trip() -> None:
    ports = [(None, 80), ("https", 8443), ("http", 1)]
    assert parse_ports(format_ports(ports)) == ports

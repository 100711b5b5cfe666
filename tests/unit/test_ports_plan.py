"""``aioscout ports``' inputs: port lists, the top-ports ranking, targets and budgets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aioscout import ConfigError, InvalidTarget, PortOptions
from aioscout.probes.ports import (
    PortsProbe,
    PortTarget,
    fd_budget,
    port_list,
    share_budget,
    top_ports,
)

_DATA = Path(__file__).parents[2] / "src" / "aioscout" / "probes" / "data" / "top_ports.txt"


def test_port_list_keeps_order_and_drops_repeats() -> None:
    plan = port_list(PortOptions(ports=("22,80,8000-8002", "80,443")))
    assert list(plan) == [22, 80, 8000, 8001, 8002, 443]
    assert plan.itemsize == 2  # an array of unsigned shorts, not a list of ints


def test_dash_means_every_port() -> None:
    plan = port_list(PortOptions(ports=("-",)))
    assert len(plan) == 65535
    assert (plan[0], plan[-1]) == (1, 65535)


@pytest.mark.parametrize("spec", ["http:80", "0", "70000", "10-5", "", "a-b"])
def test_bad_port_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError):
        port_list(PortOptions(ports=(spec,)))


def test_default_is_the_top_100() -> None:
    assert list(port_list(PortOptions())) == top_ports(100)


def test_top_ports_ranking_file_is_well_formed() -> None:
    lines = [ln for ln in _DATA.read_text().splitlines() if ln and not ln.startswith("#")]
    ports = [int(ln.split()[0]) for ln in lines]
    assert len(ports) == len(set(ports)), "a port is ranked twice"
    assert all(1 <= p <= 65535 for p in ports)
    header = _DATA.read_text().split("\n\n")[0]
    assert "Source:" in header
    assert "MIT" in header


def test_top_ports_extends_past_the_ranked_list_in_port_order() -> None:
    ranked = top_ports(200)
    assert ranked[:3] == [80, 443, 22]
    longer = top_ports(1000)
    assert longer[:200] == ranked
    rest = longer[200:]
    assert rest == sorted(rest)
    assert not set(rest) & set(ranked)
    assert len(set(top_ports(65535))) == 65535


@pytest.mark.parametrize("count", [0, 65536])
def test_top_ports_bounds(count: int) -> None:
    with pytest.raises(ConfigError):
        top_ports(count)


def _expand(line: str) -> list[PortTarget]:
    return list(PortsProbe(PortOptions(ports=("80",))).expand(line))


def test_expand_hosts_addresses_ranges_and_ports() -> None:
    assert _expand("Example.COM") == [PortTarget("example.com")]
    assert _expand("127.0.0.1:8080") == [PortTarget("127.0.0.1", 8080)]
    assert _expand("[::1]") == [PortTarget("::1")]
    assert _expand("http://h.test:81/x") == [PortTarget("h.test", 81)]
    assert [t.host for t in _expand("127.0.0.0/30")] == [
        "127.0.0.0",
        "127.0.0.1",
        "127.0.0.2",
        "127.0.0.3",
    ]


def test_expand_json_records_of_other_commands() -> None:
    dns = {
        "input": "www",
        "name": "www.lab.test",
        "answers": [
            {"name": "www.lab.test", "type": "CNAME", "ttl": 1, "data": "a.lab.test"},
            {"name": "a.lab.test", "type": "A", "ttl": 1, "data": "127.0.0.5"},
        ],
    }
    assert _expand(json.dumps(dns)) == [PortTarget("www.lab.test", None, "127.0.0.5")]
    http = {
        "input": "x",
        "url": "https://a.lab.test:8443/",
        "host": "a.lab.test",
        "ip": "127.0.0.9",
    }
    assert _expand(json.dumps(http)) == [PortTarget("a.lab.test", None, "127.0.0.9")]
    assert _expand('{"ip": "127.0.0.7"}') == [PortTarget("127.0.0.7", None, "127.0.0.7")]
    assert _expand('{"name": "b.lab.test"}') == [PortTarget("b.lab.test")]


@pytest.mark.parametrize("line", ['{"nothing": 1}', "{not json", "[1, 2]", "", "# comment"])
def test_expand_rejects_what_is_not_a_target(line: str) -> None:
    with pytest.raises(InvalidTarget):
        _expand(line)


def test_identity_tells_a_named_port_apart() -> None:
    probe = PortsProbe(PortOptions())
    assert probe.identity(PortTarget("a")) != probe.identity(PortTarget("a", 22))
    assert probe.identity(PortTarget("a")) == probe.identity(PortTarget("a"))


def test_share_budget_splits_connections_and_rate() -> None:
    opts = PortOptions(connections=1000, rate=500.0)
    assert share_budget(opts, 1) is opts
    shared = share_budget(opts, 4)
    assert (shared.connections, shared.rate) == (250, 125.0)


def test_fd_budget_caps_what_cannot_fit_with_a_notice() -> None:
    allowed, notice = fd_budget(10)
    assert (allowed, notice) == (10, None)
    allowed, notice = fd_budget(10**9)
    assert allowed < 10**9
    assert notice is not None
    assert "\n" not in notice
    assert str(allowed) in notice


@pytest.mark.parametrize(
    "bad",
    [
        {"connections": 0},
        {"per_host": 0},
        {"rate": -1.0},
        {"retries": -1},
        {"connect_timeout": 0.0},
        {"read_timeout": -1.0},
        {"banner_bytes": 0},
    ],
)
def test_unusable_options_are_config_errors(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        PortOptions(**bad)  # type: ignore[arg-type]

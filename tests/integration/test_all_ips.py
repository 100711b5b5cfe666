"""``--all-ips``: one record per A/AAAA address, each from a connection to that address.

The lab's ``multi.lab.test`` resolves (through the lab DNS) to every address
the lab listens on plus one where nothing listens; the ``ip`` of each record
is the connected peer's, so a probe that ignored its pinned address would show.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aioscout._config import HttpOptions, Limits, Timeouts
from aioscout._models import ErrorKind, HttpResult, Records
from aioscout.lab import Lab
from aioscout.lab.sites import DEAD_ADDRESS
from aioscout.probes.all_ips import AllAddressesProbe
from aioscout.probes.http import HttpProbe
from tests._support.cli import aioscout, jsonl

TIMEOUTS = Timeouts(connect=2, read=2, total=5)
MULTI = "multi.lab.test"


async def probe_one(opts: HttpOptions, url: str) -> HttpResult | Records:
    async with AllAddressesProbe(opts, TIMEOUTS, Limits(), concurrency=8, per_host=4) as probe:
        (target,) = probe.expand(url)
        return await probe.probe(url, target)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "aiohttp"])
async def test_every_address_gets_its_own_record(fast_path: bool) -> None:
    async with Lab(sites=10, hostile=False) as lab:
        assert lab.dns_address is not None
        opts = HttpOptions(resolvers=(lab.dns_address,), all_ips=True, fast_path=fast_path)
        addresses = [*lab.addresses, DEAD_ADDRESS]
        for url in (lab.url(MULTI), lab.url(MULTI, scheme="https")):
            group = await probe_one(opts, url)
            assert isinstance(group, Records) and group.input == url
            assert [r.ip for r in group] == addresses
            *live, dead = group
            assert {(r.status, r.title, r.error) for r in live} == {(200, "Many addresses", None)}
            assert {r.url for r in group} == {url}  # the name stays in the URL, Host and SNI
            assert dead.error is not None and dead.error.kind == ErrorKind.REFUSED
        single = await probe_one(opts, lab.url("site-00002.lab.test"))
        single_ip = lab.address_of("site-00002.lab.test")
        literal = await probe_one(opts, f"127.0.0.1:{lab.http_port}")
        missing = await probe_one(opts, lab.url("no-such-name.lab.test"))
    assert isinstance(single, Records) and [(r.ip, r.status) for r in single] == [(single_ip, 200)]
    assert isinstance(literal, HttpResult) and literal.ip == "127.0.0.1"
    assert isinstance(missing, HttpResult)
    assert missing.error is not None and missing.error.kind == ErrorKind.DNS


def test_all_ips_refuses_a_proxy() -> None:
    from aioscout._exceptions import ConfigError

    opts = HttpOptions(all_ips=True, proxy="http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="proxy"):
        HttpProbe(opts, TIMEOUTS, Limits(), concurrency=1, per_host=1)


@pytest.mark.slow
async def test_cli_with_workers_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    targets = tmp_path / "targets.txt"
    async with Lab(sites=10, hostile=False) as lab:
        assert lab.dns_address is not None
        lines = [lab.url(MULTI), lab.url("site-00001.lab.test"), "no-such.lab.test", "::bad::"]
        targets.write_text("\n".join(lines) + "\n")
        common = ["http", "-l", str(targets), "-o", str(out), "--all-ips", "--no-progress"]
        common += ["--resolver", lab.dns_address, "--timeout", "5", "--workers", "2"]
        run = await aioscout(*common)
        assert run.code == 0, run.stderr
        first = jsonl(out)
        again = await aioscout(*common, "--resume")
        assert again.code == 0, again.stderr
        proxied = await aioscout(*common, "--proxy", "http://127.0.0.1:1")
    by_input: dict[str, list[dict[str, object]]] = {}
    for rec in first:
        by_input.setdefault(str(rec["input"]), []).append(rec)
    assert sorted(by_input) == sorted(lines)
    assert [r["ip"] for r in by_input[lines[0]]] == [*lab.addresses, DEAD_ADDRESS]
    assert [r["status"] for r in by_input[lines[1]]] == [200]
    assert [r["error"]["kind"] for r in by_input["no-such.lab.test"]] == ["dns"]  # type: ignore[index]
    assert [r["error"]["kind"] for r in by_input["::bad::"]] == ["invalid_input"]  # type: ignore[index]
    assert jsonl(out) == first  # the finished run is not probed again on --resume
    assert proxied.code == 2 and "--all-ips" in proxied.stderr

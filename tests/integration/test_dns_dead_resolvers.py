"""A dead resolver list is one clear error; a resolver dropped is named in a warning."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from aioscout._config import DnsOptions
from aioscout._exceptions import ConfigError
from aioscout.lab.dns import DnsServer, build_lab_zone
from aioscout.probes.dns import DnsProbe, check_resolvers_answer


@pytest.mark.slow
async def test_every_resolver_silent_or_refusing_is_a_config_error() -> None:
    zone = build_lab_zone(bulk_names=10)
    async with DnsServer(zone, mode="silent") as silent, DnsServer(zone, mode="servfail_all") as sf:
        opts = DnsOptions(resolvers=(silent.address, sf.address), query_timeout=0.2)
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        with pytest.raises(ConfigError) as info:
            await probe.start()
        with pytest.raises(ConfigError):
            await check_resolvers_answer(opts, [zone.bulk_domain])
    message = str(info.value)
    assert "\n" not in message and "no usable resolver" in message
    assert f"{silent.address} no answer" in message
    assert f"{sf.address} refuses every query (SERVFAIL)" in message


@pytest.mark.slow
async def test_a_dead_resolver_beside_a_good_one_is_dropped_by_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    zone = build_lab_zone(bulk_names=10)
    async with DnsServer(zone) as good, DnsServer(zone, mode="silent") as silent:
        opts = DnsOptions(resolvers=(silent.address, good.address), query_timeout=0.2)
        await check_resolvers_answer(opts, [zone.bulk_domain])
        probe = DnsProbe(opts, domains=[zone.bulk_domain])
        with caplog.at_level(logging.WARNING, logger="aioscout"):
            await probe.start()
        try:
            record = await probe.probe("www", f"www.{zone.origin}")
        finally:
            await probe.aclose()
    assert record.error is None and record.resolver == good.address
    drops = [r.message for r in caplog.records if "dropping resolver" in r.message]
    assert drops == [f"dropping resolver {silent.address}: no answer to 6 queries"]


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
async def test_the_command_fails_in_one_line(tmp_path: Path, workers: str) -> None:
    zone = build_lab_zone(bulk_names=10)
    words = tmp_path / "words.txt"
    words.write_text("www\nmail\n")
    async with DnsServer(zone, mode="silent") as silent:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "aioscout", "dns", zone.origin, "-w", str(words)),
            *("-r", silent.address, "--query-timeout", "0.2", "--workers", workers),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 50)
    assert proc.returncode == 1
    assert out == b""
    assert err.decode().strip().splitlines() == [
        f"aioscout: no usable resolver: {silent.address} no answer to 6 queries"
    ]


@pytest.mark.slow
async def test_the_trusted_resolvers_answer_alone_when_every_other_is_dead(
    caplog: pytest.LogCaptureFixture,
) -> None:
    zone = build_lab_zone(bulk_names=10)
    async with DnsServer(zone) as good, DnsServer(zone, mode="silent") as silent:
        opts = DnsOptions(
            resolvers=(silent.address,), trusted_resolvers=(good.address,), query_timeout=0.2
        )
        await check_resolvers_answer(opts, [zone.origin])
        probe = DnsProbe(opts, domains=[zone.origin])
        with caplog.at_level(logging.WARNING, logger="aioscout"):
            await probe.start()
        try:
            www = await probe.probe("www", f"www.{zone.origin}")
            nothing = await probe.probe("nothing", f"nothing-here.{zone.origin}")
        finally:
            await probe.aclose()
    assert www.error is None and www.resolver == good.address
    assert nothing.error is not None and not probe.is_found(nothing)
    assert any(r.message.startswith(f"dropping resolver {silent.address}:") for r in caplog.records)

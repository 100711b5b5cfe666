"""``aioscout ports`` run in this process (click's runner) against a port farm served by a
thread of its own: the command's own code, flags to records."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aioscout.cli import cli
from aioscout.lab.ports import PortFarm, compact_ranges

_NET = 206  # 127.206.x.1: this module's farm


@pytest.fixture(scope="module")
def farm() -> Iterator[PortFarm]:
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    box: list[PortFarm] = []

    async def serve() -> None:
        async with PortFarm(hosts=2, ports_per_host=120, net=_NET, first_port=26000) as running:
            box.append(running)
            stop.append(asyncio.Event())
            ready.set()
            await stop[0].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the farm did not start"
    yield box[0]
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)
    loop.close()


@pytest.mark.slow
def test_ports_command_in_process(farm: PortFarm, tmp_path: Path) -> None:
    ip = farm.addresses[0]
    wanted = [p for p in farm.ports if p.ip == ip and p.kind in ("ssh", "http", "mysql")]
    spec = compact_ranges([p.port for p in wanted] + farm.closed_ports(ip)[:20])
    out = tmp_path / "ports.jsonl"
    result = CliRunner().invoke(
        cli,
        ["ports", ip, "-p", spec, "-o", str(out), "--workers", "1", "--per-host", "4"],
    )
    assert result.exit_code == 0, result.output
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    got = {(r["ip"], r["port"]): r["service"] for r in recs if r["state"] == "open"}
    assert got == {(ip, p.port): p.service for p in wanted}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--syn"], "--syn"),
        (["-p", "80", "--top-ports", "10"], "not both"),
        (["-p", "http:80"], "no scheme"),
        (["-l", "/nonexistent/hosts.txt"], "cannot read"),
    ],
)
def test_unusable_arguments_in_process(args: list[str], says: str) -> None:
    result = CliRunner().invoke(cli, ["ports", f"127.{_NET}.250.1", *args])
    assert result.exit_code == 2
    assert says in result.output

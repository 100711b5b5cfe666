"""``aioscout ports`` as a command, against the lab's port farm served by the test's loop."""

from __future__ import annotations

import asyncio
import json
import resource
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aioscout.lab.ports import PortFarm

from ._cli import aioscout, records

pytestmark = pytest.mark.slow

_NET = 204  # 127.204.x.1: this module's farm


@pytest.fixture
async def farm() -> AsyncIterator[PortFarm]:
    async with PortFarm(hosts=3, ports_per_host=150, net=_NET, first_port=24000) as running:
        yield running


def _common_spec(farm: PortFarm) -> str:
    from aioscout.lab.ports import compact_ranges

    free = [set(farm.free[ip]) for ip in farm.addresses]
    return compact_ranges(set.intersection(*free))


async def _run(
    *args: str, stdin: bytes | None = None, nofile: int | None = None
) -> tuple[int, str, str]:
    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = await asyncio.create_subprocess_exec(
        *aioscout("ports", *args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=limit,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin or b""), 50)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _open_ports(recs: list[dict[str, Any]]) -> dict[tuple[str, int], str | None]:
    return {(r["ip"], r["port"]): r["service"] for r in recs if r["state"] == "open"}


def _want(farm: PortFarm, spec: str) -> dict[tuple[str, int], str | None]:
    scanned: set[int] = set()
    for item in spec.split(","):
        first, _, last = item.partition("-")
        scanned.update(range(int(first), int(last or first) + 1))
    return {k: v for k, v in farm.expected.items() if k[1] in scanned}


async def test_scan_writes_jsonl_with_every_open_port_and_service(
    farm: PortFarm, tmp_path: Path
) -> None:
    spec = _common_spec(farm)
    out = tmp_path / "ports.jsonl"
    code, _, err = await _run(*farm.addresses, "-p", spec, "-o", str(out), "--workers", "1")
    assert code == 0, err
    recs = records(out)
    assert _open_ports(recs) == _want(farm, spec)
    assert {r["input"] for r in recs} == set(farm.addresses)
    assert all(r["error"] is None for r in recs)
    # --resume over a finished run repeats nothing
    code, _, err = await _run(*farm.addresses, "-p", spec, "-o", str(out), "--resume")
    assert code == 0, err
    assert len(records(out)) == len(recs)


async def test_two_workers_find_the_same(farm: PortFarm, tmp_path: Path) -> None:
    spec = _common_spec(farm)
    out = tmp_path / "ports.jsonl"
    code, _, err = await _run(*farm.addresses, "-p", spec, "-o", str(out), "--workers", "2")
    assert code == 0, err
    assert _open_ports(records(out)) == _want(farm, spec)


async def test_json_records_on_stdin(farm: PortFarm) -> None:
    ip = farm.addresses[0]
    ssh = next(p.port for p in farm.ports if p.ip == ip and p.kind == "ssh")
    dns_record = {
        "input": "a",
        "name": "a.lab.test",
        "answers": [{"name": "a.lab.test", "type": "A", "ttl": 1, "data": ip}],
    }
    code, out, err = await _run("-p", str(ssh), "-s", stdin=json.dumps(dns_record).encode())
    assert code == 0, err
    (rec,) = [json.loads(line) for line in out.splitlines()]
    assert (rec["host"], rec["ip"], rec["port"], rec["service"]) == ("a.lab.test", ip, ssh, "ssh")


async def test_a_low_descriptor_limit_caps_connections_with_one_notice(farm: PortFarm) -> None:
    spec = _common_spec(farm)
    code, out, err = await _run(
        *farm.addresses, "-p", spec, "-c", "5000", "--workers", "1", nofile=128
    )
    assert code == 0, err
    notices = [line for line in err.splitlines() if "connections capped at" in line]
    assert len(notices) == 1
    recs = [json.loads(line) for line in out.splitlines()]
    assert all(r["error"] is None for r in recs)
    assert _open_ports(recs) == _want(farm, spec)


async def test_probe_http_probes_the_web_ports_found(farm: PortFarm) -> None:
    ip = farm.addresses[1]
    web = [p for p in farm.ports if p.ip == ip and p.kind in ("http", "tls", "ssh")]
    spec = ",".join(str(p.port) for p in web)
    code, out, err = await _run(ip, "-p", spec, "--probe-http", "--workers", "1")
    assert code == 0, err
    recs = [json.loads(line) for line in out.splitlines()]
    got = {(r["url"], r["status"], r["title"]) for r in recs}
    http = next(p.port for p in web if p.kind == "http")
    tls = next(p.port for p in web if p.kind == "tls")
    assert got == {
        (f"http://{ip}:{http}/", 200, "lab port"),
        (f"https://{ip}:{tls}/", 200, "lab port"),
    }


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--syn",), "--syn"),
        (("-p", "80", "--top-ports", "10"), "not both"),
        (("-p", "http:80"), "no scheme"),
        (("-p", "99999"), "outside 1-65535"),
    ],
)
async def test_unusable_arguments_give_one_line_and_status_2(
    args: tuple[str, ...], says: str
) -> None:
    code, out, err = await _run(f"127.{_NET}.250.1", *args)
    assert code == 2
    assert out == ""
    assert says in err

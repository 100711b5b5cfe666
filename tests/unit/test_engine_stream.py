"""The engine's fast path for probes with a lane: the same promises as the ordinary path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aioscout._config import ScanConfig, Timeouts
from aioscout._models import ErrorInfo, ErrorKind, Record
from aioscout.engine import Checkpoint, Stopper, run_scan
from aioscout.engine.protocols import Settle


@dataclass(slots=True)
class Echo:
    input: str
    value: str | None = None
    via: str = ""
    error: ErrorInfo | None = None


class _Lane:
    def __init__(self, probe: SubmitProbe, settle: Settle) -> None:
        self.probe = probe
        self.settle = settle

    def start(self, items: Sequence[tuple[int, str, Any]]) -> tuple[int, float]:
        probe = self.probe
        started = 0
        for item in items:
            target = item[2]
            if target.startswith("refuse"):
                return started, 0.0
            if target.startswith("wait") and probe.waits < 2:
                probe.waits += 1
                return started, 0.001
            started += 1
            probe.submitted += 1
            probe.in_flight += 1
            probe.max_in_flight = max(probe.max_in_flight, probe.in_flight)
            if not target.startswith("lost"):
                asyncio.get_running_loop().call_soon(self.finish, item)
        return started, 0.0

    def finish(self, item: tuple[int, str, Any]) -> None:
        self.probe.in_flight -= 1
        line, target = item[1], item[2]
        if target.startswith("count"):
            self.settle([], (None, [item[0]]))
        elif target.startswith(("fast", "wait")):
            self.settle([(item, Echo(line, target, "submit"))], None)
        else:
            self.settle([(item, None)], None)

    def close(self) -> None:
        self.probe.closed = True


class SubmitProbe:
    """A probe with a lane: ``fast*`` finish there; ``slow*`` need probe(); ``reset*`` fail
    once there; ``lost*`` are never finished; ``refuse*`` are refused by the lane; ``wait*``
    are refused twice with a wait first; ``count*`` are settled as only counted."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.submitted = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.waits = 0
        self.closed = False

    def expand(self, line: str) -> Iterable[str]:
        return iter(line.split(","))

    def host_of(self, target: str) -> str:
        return target

    def identity(self, target: str) -> str:
        return target

    def open_lane(self, settle: Settle) -> _Lane:
        return _Lane(self, settle)

    async def probe(self, line: str, target: str) -> Record:
        self.calls[target] = self.calls.get(target, 0) + 1
        await asyncio.sleep(0)
        if target.startswith("reset") and self.calls[target] == 1:
            return Echo(line, error=ErrorInfo(ErrorKind.RESET, "once"))
        return Echo(line, target, "probe")

    def failed(self, line: str, target: str | None, error: ErrorInfo) -> Record:
        return Echo(line, target, "failed", error)

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class ListSink:
    def __init__(self) -> None:
        self.records: list[Record] = []

    async def write(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def _by_value(sink: ListSink) -> dict[str | None, Echo]:
    out: dict[str | None, Echo] = {}
    for r in sink.records:
        assert isinstance(r, Echo)
        assert r.value not in out, f"two records for {r.value}"
        out[r.value] = r
    return out


async def test_one_record_per_item_through_submit_and_probe() -> None:
    probe = SubmitProbe()
    sink = ListSink()
    lines = [f"fast{i}" for i in range(300)] + ["slow1,reset1,refuse1", "wait1,fast-last"]
    lines += ["count1,count2"]
    stats = await run_scan(probe, lines, [sink], ScanConfig(concurrency=16, backoff=0.0))
    got = _by_value(sink)
    assert len(got) == 305 and stats.done == 307 and stats.ok == 307
    assert stats.filtered == 2  # the two only counted
    assert got["fast7"].via == "submit" and got["wait1"].via == "submit"
    assert got["slow1"].via == "probe" and got["refuse1"].via == "probe"
    assert got["reset1"].via == "probe" and probe.calls["reset1"] == 2
    assert stats.retries == 1
    assert probe.max_in_flight <= 16
    assert probe.waits == 2 and probe.closed


@pytest.mark.slow
async def test_an_item_never_finished_gets_a_timeout_record() -> None:
    probe = SubmitProbe()
    sink = ListSink()
    config = ScanConfig(concurrency=4, timeouts=Timeouts(connect=0.01, read=0.01, total=0.01))
    stats = await run_scan(probe, ["fast1,lost1,fast2"], [sink], config)
    got = _by_value(sink)
    assert set(got) == {"fast1", "lost1", "fast2"}
    assert got["lost1"].error is not None and got["lost1"].error.kind == ErrorKind.TIMEOUT
    assert stats.done == 3


async def test_checkpoint_records_every_item(tmp_path: Path) -> None:
    path = str(tmp_path / "run.ckpt")
    sink = ListSink()
    ckpt = Checkpoint.open(path, resume=True, fingerprint="t")
    await run_scan(SubmitProbe(), ["fast1,slow1,fast2"], [sink], ScanConfig(), checkpoint=ckpt)
    ckpt.close()
    again = ListSink()
    ckpt = Checkpoint.open(path, resume=True, fingerprint="t")
    stats = await run_scan(
        SubmitProbe(), ["fast1,slow1,fast2"], [again], ScanConfig(), checkpoint=ckpt
    )
    ckpt.close()
    assert len(sink.records) == 3 and not again.records and stats.skipped == 3


async def test_graceful_stop_drops_items_not_started() -> None:
    probe = SubmitProbe()
    sink = ListSink()
    stopper = Stopper()

    async def lines() -> AsyncIterator[str]:
        yield "fast1"
        yield "fast2"
        await asyncio.sleep(0)
        stopper.stop()
        yield "fast3"

    stats = await run_scan(probe, lines(), [sink], ScanConfig(concurrency=2), stopper=stopper)
    assert stats.interrupted
    assert {r.value for r in sink.records if isinstance(r, Echo)} <= {"fast1", "fast2"}

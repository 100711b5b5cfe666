"""The engine's fast path for probes with ``submit``: the same promises as the ordinary path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from aioscout._config import ScanConfig, Timeouts
from aioscout._models import ErrorInfo, ErrorKind, Record
from aioscout.engine import Checkpoint, Stopper, run_scan


@dataclass(slots=True)
class Echo:
    input: str
    value: str | None = None
    via: str = ""
    error: ErrorInfo | None = None


class SubmitProbe:
    """``fast*`` finish in ``submit``; ``slow*`` need probe(); ``reset*`` fail once there;
    ``lost*`` are never finished; ``refuse*`` are refused by submit."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.submitted = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold: list[Callable[[], None]] = []

    def expand(self, line: str) -> Iterable[str]:
        return iter(line.split(","))

    def host_of(self, target: str) -> str:
        return target

    def identity(self, target: str) -> str:
        return target

    def submit(self, line: str, target: str, done: Callable[[Record | None], None]) -> bool:
        if target.startswith("refuse"):
            return False
        self.submitted += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        loop = asyncio.get_running_loop()

        def finish() -> None:
            self.in_flight -= 1
            if target.startswith(("fast", "hang")):
                done(Echo(line, target, "submit"))
            else:
                done(None)

        if not target.startswith("lost"):
            loop.call_soon(finish)
        return True

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
    lines = [f"fast{i}" for i in range(300)] + ["slow1,reset1,refuse1", "fast-last"]
    stats = await run_scan(probe, lines, [sink], ScanConfig(concurrency=16, backoff=0.0))
    got = _by_value(sink)
    assert len(got) == 304 and stats.done == 304 and stats.ok == 304
    assert got["fast7"].via == "submit"
    assert got["slow1"].via == "probe" and got["refuse1"].via == "probe"
    assert got["reset1"].via == "probe" and probe.calls["reset1"] == 2
    assert stats.retries == 1
    assert probe.max_in_flight <= 16


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

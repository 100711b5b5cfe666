"""The engine's promises, on an in-process probe (no network needed for these)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

import pytest

from aioscout._config import ScanConfig, Timeouts
from aioscout._exceptions import InvalidTarget
from aioscout._models import ErrorInfo, ErrorKind, Record, Records
from aioscout.engine import Checkpoint, Deduper, HostLimiter, Stopper, TokenBucket, run_scan


@dataclass(slots=True)
class Echo:
    input: str
    value: str | None = None
    error: ErrorInfo | None = None


class EchoProbe:
    """Targets are comma-separated words; 'bad' is invalid, 'reset' fails once."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.calls: dict[str, int] = {}
        self.started = self.closed = False
        self.active: dict[str, int] = {}
        self.max_active: dict[str, int] = {}

    def expand(self, line: str) -> Iterable[str]:
        words = line.split(",")
        if "bad" in words or not line:
            raise InvalidTarget(f"bad line {line!r}")
        return iter(words)

    def host_of(self, target: str) -> str:
        return target.split(".")[0]

    def identity(self, target: str) -> str:
        return target

    async def probe(self, line: str, target: str) -> Record:
        self.calls[target] = self.calls.get(target, 0) + 1
        host = self.host_of(target)
        self.active[host] = self.active.get(host, 0) + 1
        self.max_active[host] = max(self.max_active.get(host, 0), self.active[host])
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
            if target.startswith("reset") and self.calls[target] == 1:
                return Echo(line, error=ErrorInfo(ErrorKind.RESET, "once"))
            if target.startswith("boom"):
                raise RuntimeError("probe bug")
            if target.startswith("hang"):
                await asyncio.Event().wait()
            if target.startswith("many"):  # one record per "address", like --all-ips
                down = Echo(line, value=f"{target}#2", error=ErrorInfo(ErrorKind.REFUSED, "x"))
                return Records(line, [Echo(line, f"{target}#0"), Echo(line, f"{target}#1"), down])
            return Echo(line, value=target)
        finally:
            self.active[host] -= 1

    def failed(self, line: str, target: str | None, error: ErrorInfo) -> Record:
        return Echo(line, value=target, error=error)

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.closed = True


class ListSink:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.flushes = 0

    async def write(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    async def flush(self) -> None:
        self.flushes += 1

    async def aclose(self) -> None:
        pass


FAST = ScanConfig(concurrency=8, backoff=0.001, timeouts=Timeouts(total=0.05))


async def test_one_record_per_item_in_every_case() -> None:
    probe, sink = EchoProbe(), ListSink()
    lines = ["a", "b,c", "bad", "", "a", "boom", "reset"]
    stats = await run_scan(probe, lines, [sink], FAST)
    got = sorted((r.value or "", str(r.error.kind) if r.error else "") for r in sink.records)  # type: ignore[attr-defined]
    assert got == sorted(
        [
            ("a", ""),
            ("b", ""),
            ("c", ""),
            ("", ErrorKind.INVALID_INPUT),
            ("", ErrorKind.INVALID_INPUT),
            ("a", ErrorKind.DUPLICATE),
            ("boom", ErrorKind.INTERNAL),
            ("reset", ""),
        ]
    )
    assert probe.calls["reset"] == 2 and probe.calls["a"] == 1
    assert stats.done == 8 and stats.ok == 4 and stats.retries == 1
    assert probe.started and probe.closed


async def test_hung_probe_is_timed_out_by_the_engine() -> None:
    sink = ListSink()
    await run_scan(EchoProbe(), ["hang"], [sink], FAST)
    assert [r.error.kind for r in sink.records if r.error] == [ErrorKind.TIMEOUT]


class TimedEchoProbe(EchoProbe):
    """An EchoProbe that keeps its own deadline: a hung target ends with its record."""

    keeps_deadline = True

    async def probe(self, line: str, target: str) -> Record:
        try:
            async with asyncio.timeout(1.3):  # past the engine's (1.05 s), which must not fire
                return await EchoProbe.probe(self, line, target)
        except TimeoutError:
            return Echo(line, value="own deadline", error=ErrorInfo(ErrorKind.TIMEOUT, "own"))


async def test_a_probe_that_keeps_its_own_deadline_gets_no_second_one() -> None:
    sink = ListSink()
    await run_scan(TimedEchoProbe(), ["hang", "a"], [sink], FAST)
    got = sorted((r.value, r.error.detail if r.error else None) for r in sink.records)  # type: ignore[attr-defined]
    assert got == [("a", None), ("own deadline", "own")]


async def test_per_host_cap_holds() -> None:
    probe = EchoProbe()
    lines = [f"h.{i}" for i in range(50)] + [f"g.{i}" for i in range(50)]
    await run_scan(probe, lines, [ListSink()], ScanConfig(concurrency=40, per_host=3))
    assert probe.max_active == {"h": 3, "g": 3}


async def test_keep_filter_drops_but_counts() -> None:
    sink = ListSink()
    stats = await run_scan(
        EchoProbe(), ["x", "y", "z"], [sink], FAST, keep=lambda r: r.input != "y"
    )
    assert sorted(r.input for r in sink.records) == ["x", "z"]
    assert stats.done == 3 and stats.filtered == 1


async def test_a_record_group_is_written_whole_and_counted_per_record(tmp_path: object) -> None:
    sink = ListSink()
    path = os.path.join(str(tmp_path), "c")
    ckpt = Checkpoint.open(path, resume=True, fingerprint="x")

    def keep(record: Record) -> bool:
        return not str(getattr(record, "value", "")).endswith("#1")

    stats = await run_scan(EchoProbe(), ["many", "x"], [sink], FAST, keep=keep, checkpoint=ckpt)
    ckpt.close()
    values = sorted(r.value or "" for r in sink.records)  # type: ignore[attr-defined]
    assert values == ["many#0", "many#2", "x"]
    assert (stats.done, stats.ok, stats.filtered, stats.errors["refused"]) == (4, 3, 1, 1)
    again = Checkpoint.open(path, resume=True, fingerprint="x")
    assert again.is_done(0) and again.is_done(1) and not again.is_done(2)
    again.close()


async def test_dedup_can_be_disabled() -> None:
    sink = ListSink()
    cfg = ScanConfig(dedup=False)
    await run_scan(EchoProbe(), ["a", "a"], [sink], cfg)
    assert [r.error for r in sink.records] == [None, None]


async def test_graceful_stop_finishes_in_flight_and_skips_the_rest() -> None:
    gate = asyncio.Event()
    probe, sink, stopper = EchoProbe(gate), ListSink(), Stopper()

    async def lines() -> AsyncIterator[str]:
        for i in range(1000):
            yield f"t{i}"

    async def stop_soon() -> None:
        while sum(probe.calls.values()) < 4:
            await asyncio.sleep(0)
        stopper.request()
        gate.set()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(stop_soon())
        stats = await run_scan(
            probe,
            lines(),
            [sink],
            ScanConfig(concurrency=4),
            stopper=stopper,
        )
    assert stats.interrupted
    assert len(sink.records) == 4 and all(r.error is None for r in sink.records)


async def test_abort_cancels_in_flight_and_flushes_finished() -> None:
    gate = asyncio.Event()
    probe, sink, stopper = EchoProbe(gate), ListSink(), Stopper()
    lines = ["quick1", "quick2"] + [f"slow{i}" for i in range(10)]

    class Mixed(EchoProbe):
        async def probe(self, line: str, target: str) -> Record:
            if target.startswith("quick"):
                return Echo(line, value=target)
            return await super().probe(line, target)

    mixed = Mixed(gate)

    async def stop_twice() -> None:
        while len(mixed.calls) < 10:
            await asyncio.sleep(0)
        stopper.request()
        stopper.request()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(stop_twice())
        stats = await run_scan(mixed, lines, [sink], ScanConfig(concurrency=12), stopper=stopper)
    assert stats.interrupted
    assert sorted(r.input for r in sink.records) == ["quick1", "quick2"]
    del probe


async def test_checkpoint_resume_neither_loses_nor_duplicates(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "run.ckpt")
    lines = [f"t{i}" for i in range(100)] + ["bad", "t5"]
    first = ListSink()
    ckpt = Checkpoint.open(path, resume=True, fingerprint="x")
    stopper = Stopper()

    class StopAfter(ListSink):
        async def write(self, records: Sequence[Record]) -> None:
            await super().write(records)
            if len(self.records) >= 30:
                stopper.abort()

    first = StopAfter()
    await run_scan(
        EchoProbe(), lines, [first], ScanConfig(concurrency=5), checkpoint=ckpt, stopper=stopper
    )
    ckpt.close()
    assert 30 <= len(first.records) < 102
    second = ListSink()
    ckpt2 = Checkpoint.open(path, resume=True, fingerprint="x")
    stats = await run_scan(EchoProbe(), lines, [second], FAST, checkpoint=ckpt2)
    ckpt2.close()
    both = [(r.input, r.error.kind if r.error else None) for r in first.records + second.records]
    # One record per item: 100 targets, 'bad', and 't5' again (as a duplicate).
    assert len(both) == 102 == len(set(both))
    assert stats.skipped == len(first.records)


def test_checkpoint_ignores_torn_line_and_rejects_other_runs(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "c.ckpt")
    ck = Checkpoint.open(path, resume=False, fingerprint="fp")
    ck.commit([0, 1, 2, 5], 100)
    ck.commit([3], 130)
    ck.close()
    with open(path, "ab") as f:
        f.write(b"170 4")  # torn: no newline
    again = Checkpoint.open(path, resume=True, fingerprint="fp")
    assert again.position == 130
    assert [again.is_done(i) for i in range(7)] == [True, True, True, True, False, True, False]
    again.close()
    with pytest.raises(ValueError, match="other targets"):
        Checkpoint.open(path, resume=True, fingerprint="other")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_token_bucket_spaces_slots_and_allows_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, burst=3, clock=clock)
    waits = [bucket.reserve() for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.2, 0.3])
    clock.t = 10.0  # idle: the burst is back, no debt carried
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]


async def test_token_bucket_acquire_sleeps_on_the_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, clock=clock)
    for _ in range(3):
        await bucket.acquire()
    assert clock.slept == pytest.approx([0.25, 0.5])


async def test_host_limiter_hands_off_fifo_and_forgets_idle_hosts() -> None:
    lim = HostLimiter(1)
    order: list[int] = []
    await lim.acquire("h")

    async def waiter(n: int) -> None:
        await lim.acquire("h")
        order.append(n)
        lim.release("h")

    async with asyncio.TaskGroup() as tg:
        for n in range(3):
            tg.create_task(waiter(n))
        await asyncio.sleep(0)
        lim.release("h")
    assert order == [0, 1, 2]
    assert len(lim) == 0


async def test_host_limiter_waiter_cancelled_as_a_release_skips_it() -> None:
    limiter = HostLimiter(1)
    await limiter.acquire("h")
    b = asyncio.ensure_future(limiter.acquire("h"))
    c = asyncio.ensure_future(limiter.acquire("h"))
    await asyncio.sleep(0)  # both wait
    b.cancel()  # its future is cancelled now; its handler runs on the next turn
    limiter.release("h")  # skips b's cancelled future, hands the slot to c
    with pytest.raises(asyncio.CancelledError):
        await b  # no ValueError from b's clean-up
    await c
    limiter.release("h")
    assert len(limiter) == 0


def test_deduper_is_exact_within_window_and_bounded() -> None:
    d = Deduper(window=10)
    assert [d.seen(k) for k in "abcab"] == [False, False, False, True, True]
    for i in range(100):
        d.seen(str(i))
    assert d._current.count + d._previous.count <= 10


def test_run_loop_hands_the_result_over_without_formatting_it() -> None:
    """asyncio.Runner formats repr(task) — result included — when it reads its SIGINT
    handler back in the main thread; a cluster chunk's records made that milliseconds."""
    from aioscout._loop import run_loop

    formatted = []

    class Big:
        def __repr__(self) -> str:
            formatted.append(1)
            return "Big()"

    big = Big()

    async def main() -> Big:
        return big

    assert run_loop(main(), "asyncio") is big
    assert formatted == []

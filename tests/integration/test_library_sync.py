"""The synchronous API (``aioscout.sync``) and the callbacks, against the lab."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

import aioscout
import aioscout.sync
from aioscout.lab import Lab
from tests._support.lab_thread import lab_in_thread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with lab_in_thread(sites=30, hostile=False, dns_names=50) as lab:
        yield lab


def _urls(lab: Lab, n: int, start: int = 1) -> list[str]:
    return [lab.url(f"site-{i:05d}.lab.test") for i in range(start, start + n)]


def _opts(lab: Lab) -> aioscout.HttpOptions:
    assert lab.dns_address is not None
    return aioscout.HttpOptions(resolvers=(lab.dns_address,))


def _scan_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "aioscout-sync"]


def test_sync_scan_http_yields_every_record_with_titles(lab: Lab) -> None:
    urls = [*_urls(lab, 8), "not a target"]
    recs = list(aioscout.sync.scan_http(urls, options=_opts(lab)))
    assert sorted(r.input for r in recs) == sorted(urls)
    for rec in recs:
        assert isinstance(rec, aioscout.HttpResult)
        if rec.input == "not a target":
            assert rec.error is not None and rec.error.kind == aioscout.ErrorKind.INVALID_INPUT
        else:
            host = rec.input.split("//")[1].split(":")[0]
            assert (rec.status, rec.title) == (200, lab.expected(host).title)
    assert not _scan_threads()


def test_sync_dns_and_generated_functions(lab: Lab) -> None:
    assert lab.dns_address is not None
    opts = aioscout.DnsOptions(resolvers=(lab.dns_address,))
    names = sorted(
        r.name
        for r in aioscout.sync.scan_dns(
            ["www", "mail", "nope-1"], domains=["lab.test"], options=opts
        )
    )
    assert names == ["mail.lab.test", "www.lab.test"]
    assert set(aioscout.registry.function_names()) <= set(dir(aioscout.sync))


def test_three_scans_iterated_at_once_from_a_thread_pool(lab: Lab) -> None:
    groups = [_urls(lab, 6, 1), _urls(lab, 6, 7), _urls(lab, 6, 13)]

    def titles(urls: list[str]) -> list[str]:
        return sorted(str(r.title) for r in aioscout.sync.scan_http(urls, options=_opts(lab)))

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(titles, groups))
    for urls, got in zip(groups, results, strict=True):
        want = sorted(str(lab.expected(u.split("//")[1].split(":")[0]).title) for u in urls)
        assert got == want
    assert not _scan_threads()


def test_closing_early_leaves_no_thread_and_backpressure_holds_the_run(lab: Lab) -> None:
    stats = aioscout.Stats()
    it = aioscout.sync.scan_http(
        _urls(lab, 30) * 20,
        options=_opts(lab),
        config=aioscout.ScanConfig(concurrency=2, dedup=False),
        stats=stats,
    )
    first = next(it)
    assert first.input
    assert len(_scan_threads()) == 1
    it.close()
    assert not _scan_threads()
    assert stats.done < 600  # the consumer stopped reading: the run did not race ahead to the end
    with pytest.raises(StopIteration):
        next(it)


def test_a_dropped_iterator_is_collected_and_its_thread_ends(lab: Lab) -> None:
    it = aioscout.sync.scan_http(
        _urls(lab, 30) * 5, options=_opts(lab), config=aioscout.ScanConfig(dedup=False)
    )
    next(it)
    ref = weakref.ref(it)
    del it
    gc.collect()
    assert ref() is None
    assert not _scan_threads()


def test_works_where_a_loop_is_already_running(lab: Lab) -> None:
    urls = _urls(lab, 4)

    async def notebook_cell() -> list[int | None]:
        assert asyncio.get_running_loop() is not None
        return [r.status for r in aioscout.sync.scan_http(urls, options=_opts(lab))]

    assert asyncio.run(notebook_cell()) == [200] * 4


def test_callbacks_sync_and_async_see_every_record_and_errors(lab: Lab) -> None:
    seen: list[str] = []
    errors: list[str] = []
    progress: list[int] = []
    loop_threads: list[bool] = []

    def on_record(rec: aioscout.Record) -> None:
        try:
            asyncio.get_running_loop()
            loop_threads.append(True)
        except RuntimeError:
            loop_threads.append(False)
        seen.append(rec.input)

    async def on_error(rec: aioscout.Record) -> None:
        errors.append(rec.input)

    urls = [*_urls(lab, 5), "127.0.0.1:1", "bad target"]
    stats = aioscout.sync.scan_http(
        urls,
        options=_opts(lab),
        on_record=on_record,
        on_error=on_error,
        on_progress=lambda s: progress.append(s.done),
    ).run()
    assert sorted(seen) == sorted(urls) and stats.done == len(urls)
    assert sorted(errors) == sorted(["127.0.0.1:1", "bad target"])
    assert loop_threads and not any(loop_threads)  # a sync callback never runs on the loop
    assert progress[-1] == len(urls)


def test_a_callback_that_raises_stops_the_run_after_flushing(lab: Lab, tmp_path: object) -> None:
    from pathlib import Path

    out = Path(str(tmp_path)) / "out.jsonl"

    class Boom(Exception):
        pass

    count = 0

    def on_record(rec: aioscout.Record) -> None:
        nonlocal count
        count += 1
        if count == 3:
            raise Boom("third")

    async def run() -> None:
        sink = aioscout.JsonlSink(str(out))
        async with sink:
            async for _ in aioscout.scan_http(
                _urls(lab, 20),
                options=_opts(lab),
                sinks=[sink],
                on_record=on_record,
                config=aioscout.ScanConfig(concurrency=2),
            ):
                pass

    with pytest.raises(Boom, match="third"):
        asyncio.run(run())
    lines = out.read_bytes().splitlines()
    assert 3 <= len(lines) < 20
    count = 0
    with pytest.raises(Boom):
        aioscout.sync.scan_http(_urls(lab, 20), options=_opts(lab), on_record=on_record).run()
    assert not _scan_threads()


def test_ctrl_c_while_waiting_stops_the_run_cleanly(lab: Lab) -> None:
    import _thread
    import socket

    silent = socket.socket()  # accepts connections, never answers: the consumer waits
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    it = aioscout.sync.scan_http(
        [f"127.0.0.1:{port}"], config=aioscout.ScanConfig(timeouts=aioscout.Timeouts(total=30))
    )
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            next(it)
    finally:
        timer.cancel()
        silent.close()
    assert not _scan_threads()


def test_a_progress_callback_that_raises_stops_the_run(lab: Lab) -> None:
    def on_progress(stats: aioscout.Stats) -> None:
        raise LookupError("progress")

    with pytest.raises(LookupError, match="progress"):
        aioscout.sync.scan_http(_urls(lab, 3), options=_opts(lab), on_progress=on_progress).run()
    assert not _scan_threads()

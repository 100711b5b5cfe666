"""The fast path's connect deadline: its own expiry is a timeout record, any other
cancellation (the probe's total budget, the caller) goes through untouched.

The server is a real listening socket whose accept queue is full, so the
kernel drops further SYNs and a connect hangs until someone gives up.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from aioscout._config import Timeouts
from aioscout._models import ErrorKind
from tests._support.http_servers import open_probe, target


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A loopback port where connects hang (backlog 0, accept queue already full)."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        for _ in range(2):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("timeouts", "detail"),
    [
        # The connect deadline ends first: a connect timeout.
        (Timeouts(connect=0.2, read=2.0, total=3.0), "connect timed out"),
        # The total budget ends during the connect: the probe's own timeout, not a connect one.
        (Timeouts(connect=5.0, read=2.0, total=0.2), "no result within 0.2s"),
    ],
    ids=["connect-deadline", "total-budget"],
)
async def test_a_connect_that_never_ends_gives_a_timeout_record(
    timeouts: Timeouts, detail: str
) -> None:
    with unanswered_port() as port:
        url = f"http://127.0.0.1:{port}/"
        async with open_probe(timeouts=timeouts) as probe:
            record = await probe.probe(url, target(url))
    assert record.error is not None
    assert (record.error.kind, record.error.detail) == (ErrorKind.TIMEOUT, detail)


@pytest.mark.slow
async def test_caller_cancellation_during_connect_propagates() -> None:
    with unanswered_port() as port:
        url = f"http://127.0.0.1:{port}/"
        async with open_probe(timeouts=Timeouts(connect=5.0, read=5.0, total=5.0)) as probe:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await probe.probe(url, target(url))

"""The sweep's parts that need no farm: the connect timeout per host, a settled socket."""

from __future__ import annotations

import errno
import socket

import pytest

from aioscout.probes._sweep import _MIN_TIMEOUT, HostScan, _settled


def _scan() -> HostScan:
    return HostScan("127.0.0.1", iter(()))


def test_a_host_that_never_answered_gets_the_whole_timeout() -> None:
    assert _scan().wait(3.0) == 3.0


def test_a_host_that_answers_at_once_gets_the_floor() -> None:
    scan = _scan()
    scan.sample(0.0)
    assert scan.wait(3.0) == _MIN_TIMEOUT


def test_the_wait_follows_the_round_trips_and_their_spread() -> None:
    scan = _scan()
    scan.sample(0.2)  # first sample: srtt 0.2, rttvar 0.1
    assert scan.wait(3.0) == pytest.approx(0.6)
    scan.sample(0.2)  # steady: the spread shrinks by a quarter
    assert scan.wait(3.0) == pytest.approx(0.2 + 4 * 0.075)
    scan.sample(1.0)
    assert scan.srtt == pytest.approx(0.3)
    assert scan.wait(3.0) == pytest.approx(0.3 + 4 * (0.075 + (0.8 - 0.075) / 4))


def test_the_wait_never_passes_the_ceiling() -> None:
    scan = _scan()
    scan.sample(5.0)
    assert scan.wait(1.0) == 1.0


def _listener(backlog: int) -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(backlog)
    return listener


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    sock.connect_ex(address)
    return sock


def test_settled_tells_connected_from_in_progress_and_refused() -> None:
    with _listener(8) as open_one, _connect(open_one.getsockname()) as sock:
        accepted, _ = open_one.accept()
        accepted.close()
        assert _settled(sock) == 0
    with _listener(0) as full:
        filler = socket.create_connection(full.getsockname())  # the one place in its queue
        with filler, _connect(full.getsockname()) as sock:
            assert _settled(sock) is None  # its SYN was dropped: still connecting
    with _listener(1) as gone:
        address = gone.getsockname()
    with _connect(address) as sock:
        assert _settled(sock) == errno.ECONNREFUSED

"""The connect scan: many hosts' ports swept by non-blocking sockets straight on the loop.

Why not ``loop.sock_connect`` or ``create_connection``: both cost a future,
a task or a transport per port, and most ports of a sweep are closed — on
loopback and on a LAN the refusal is known as soon as ``connect()`` returns.
So :class:`Sweep` starts connections from one callback in runs: a non-blocking
``connect_ex`` and, while it is in progress, a second one at once, which on
Linux answers how the first ended (``ECONNREFUSED``: the socket is also reset,
ready for the next port) or that it is still going (``EALREADY``). A refused
port is done there and then: two system calls, no object kept. Only a connection still
in progress is registered with the loop (``add_writer``) and put on a heap of
deadlines, swept by one timer: no timer per port. A connection that
completes is open and handed to its host's :class:`HostScan` queue, where the
prober identifies the service and then gives the socket back (``release``).

Budgets: at most ``budget`` sockets open at once (connecting or being
identified), ``per_host`` of them to one host, and a ``TokenBucket`` of
connection attempts per second when a rate is set. Hosts take turns in
runs of up to ``_RUN`` ports. A port that times out is tried again up to
``retries`` times, then counted filtered.

Timeouts follow each host's round trips, as TCP's retransmission timer does
(RFC 6298): once a host has answered (a refusal or an accept), a connection
to it waits ``srtt + 4 * rttvar``, at least ``_MIN_TIMEOUT`` and at most
``timeout``; before its first answer, ``timeout``. A port that drops SYNs (a
firewall, a full accept queue) then costs a few round trips, not seconds,
while a host that answers slowly still gets time in proportion. ``EMFILE`` never reaches a record:
the budget shrinks to what the process could open, and the port waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import heapq
import itertools
import os
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator

from ..engine.limits import TokenBucket

__all__ = ["HostScan", "Opened", "Sweep", "abort"]

_RUN = 64  # ports one host starts before the next host's turn
_TURN = 1024  # connection attempts per loop turn before other callbacks run
_REFUSED = errno.ECONNREFUSED
_ABORTED = errno.ECONNABORTED
_IN_PROGRESS_ERR = errno.EINPROGRESS
# Reset after the handshake (a service that accepts and closes at once): the port is open.
_ACCEPTED = (0, errno.EISCONN, errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED)
_IN_PROGRESS = (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK, 0)
_NO_FD = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_BUSY = (errno.EADDRNOTAVAIL, errno.EAGAIN)  # out of local ports for the moment
_UNREACHABLE = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EPERM)
_PAUSE = 0.05  # seconds to wait when the system is out of sockets or local ports
_MIN_TIMEOUT = 0.1  # seconds: the shortest connect timeout, however near the host
_TICK = 0.02  # seconds between sweeps of the deadlines, at most


def _pin_local_port(sock: socket.socket, family: int) -> None:
    """Bind ``sock`` to a free local port named explicitly (left unbound if that fails)."""
    any_address = "::" if family == socket.AF_INET6 else "0.0.0.0"
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((any_address, 0))
            port = probe.getsockname()[1]
        sock.bind((any_address, port))
    except OSError:
        pass  # taken meanwhile, or no such family here: the kernel picks per connect


_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s


def abort(sock: socket.socket) -> None:
    """Close a connected ``sock`` with a reset, as nmap's connect scan does: a scanner's
    connection owes no goodbye, and a graceful close would leave this side in
    TIME_WAIT for a minute, a local port held by each of the thousands a scan opens
    (back-to-back scans then spent their time finding free ports)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    sock.close()


def _settled(sock: socket.socket) -> int | None:
    """How a connection in progress ended (its ``SO_ERROR``, 0: connected), or None: it has not."""
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        return err
    try:
        sock.getpeername()
    except OSError:
        return None
    return 0


class _Turn(enum.Enum):
    """How a host's run of connections ended."""

    MORE = 1  # room ran out: the next host's turn
    EXHAUSTED = 2  # no port left to start
    PAUSED = 3  # rate, descriptors or local ports: a timer resumes the pump


class Opened:
    """A port that accepted: its connected socket, when it was started and how long it took."""

    __slots__ = ("connect_ms", "port", "sock")

    def __init__(self, sock: socket.socket, port: int, connect_ms: float) -> None:
        self.sock = sock
        self.port = port
        self.connect_ms = connect_ms


class HostScan:
    """One host's share of the sweep: its ports, counts and the open ports found.

    ``opened`` receives an :class:`Opened` per open port and ``None`` once no
    port of the host is left to try or connecting. ``closed_ports`` and
    ``filtered_ports`` list those ports when ``keep_all`` is set.
    """

    __slots__ = (
        "addr",
        "closed",
        "closed_ports",
        "connecting",
        "family",
        "filtered",
        "filtered_ports",
        "finished",
        "in_flight",
        "keep_all",
        "opened",
        "ports",
        "queued",
        "retry",
        "rttvar",
        "scanned",
        "srtt",
        "unreachable",
    )

    def __init__(self, ip: str, ports: Iterator[int], *, keep_all: bool = False) -> None:
        v6 = ":" in ip
        self.family = socket.AF_INET6 if v6 else socket.AF_INET
        self.addr = ip
        self.ports = ports
        self.retry: deque[tuple[int, int]] = deque()  # (port, tries so far)
        self.in_flight = 0  # sockets of this host open (connecting or being identified)
        self.connecting = 0
        self.scanned = 0
        self.closed = 0
        self.filtered = 0
        self.unreachable: str | None = None
        self.keep_all = keep_all
        self.closed_ports: list[int] = []
        self.filtered_ports: list[int] = []
        self.opened: asyncio.Queue[Opened | None] = asyncio.Queue()
        self.finished = False
        self.queued = False  # in the sweep's turn order
        self.srtt: float | None = None  # smoothed connect round trip, seconds (None: no answer yet)
        self.rttvar = 0.0

    def sample(self, rtt: float) -> None:
        """A connection attempt was answered after ``rtt`` seconds (RFC 6298's estimator)."""
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar += (abs(self.srtt - rtt) - self.rttvar) / 4
            self.srtt += (rtt - self.srtt) / 8

    def wait(self, ceiling: float) -> float:
        """How long a connection to this host may take before it counts as lost."""
        if self.srtt is None:
            return ceiling
        return min(ceiling, max(_MIN_TIMEOUT, self.srtt + 4 * self.rttvar))

    def next_port(self) -> tuple[int, int] | None:
        if self.retry:
            return self.retry.popleft()
        port = next(self.ports, None)
        if port is None:
            return None
        self.scanned += 1
        return port, 0


class _Pending:
    """A connection in progress: when it gives up, and what it is."""

    __slots__ = ("deadline", "live", "port", "scan", "sock", "started", "tries")

    def __lt__(self, other: _Pending) -> bool:  # the heap of deadlines
        return self.deadline < other.deadline

    def __init__(
        self, deadline: float, sock: socket.socket, scan: HostScan, port: int, tries: int
    ) -> None:
        self.deadline = deadline
        self.sock = sock
        self.scan = scan
        self.port = port
        self.tries = tries
        self.started = time.perf_counter()
        self.live = True


class Sweep:
    """Starts and settles connections for every :class:`HostScan` added (see the module doc)."""

    def __init__(
        self,
        budget: int,
        per_host: int,
        timeout: float,
        retries: int,
        *,
        rate: float = 0.0,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.budget = max(1, budget)
        self.free = self.budget
        self.per_host = max(1, per_host)
        self.timeout = timeout
        self.retries = retries
        self.bucket = TokenBucket(rate, burst=max(1, int(rate // 20))) if rate > 0 else None
        self.hosts: deque[HostScan] = deque()
        self.pending: list[_Pending] = []  # a heap by deadline
        self.live = 0  # entries of ``pending`` still connecting
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._notice = on_notice
        self._paid_until: float | None = None  # a rate slot reserved and due then
        self._spare: dict[int, socket.socket] = {}  # a refused socket, ready for the next port
        self.closed = False

    # -- what the prober calls ------------------------------------------------

    def add(self, scan: HostScan) -> None:
        """Start sweeping ``scan``'s ports."""
        scan.queued = True
        self.hosts.append(scan)
        self._kick()

    def release(self, scan: HostScan) -> None:
        """An open port of ``scan`` is identified and its socket closed: free its slot."""
        scan.in_flight -= 1
        self.free += 1
        self._kick()

    def drop(self, scan: HostScan) -> None:
        """Stop ``scan`` (cancelled): close what it still has connecting."""
        scan.finished = True
        scan.ports = iter(())
        scan.retry.clear()
        if scan.connecting:  # only when cancelled mid-sweep: a finished host has none
            for entry in self.pending:
                if entry.live and entry.scan is scan:
                    self._settle(entry)
                    entry.sock.close()
                    scan.in_flight -= 1
                    self.free += 1
        while not scan.opened.empty():  # open ports no one will identify now
            opened = scan.opened.get_nowait()
            if opened is not None:
                abort(opened.sock)
                scan.in_flight -= 1
                self.free += 1
        if scan.queued:
            scan.queued = False
            self.hosts.remove(scan)

    def close(self) -> None:
        """Close every connection in progress (the probe is closing)."""
        self.closed = True
        for entry in self.pending:
            if entry.live:
                self._settle(entry)
                entry.sock.close()
        self.pending.clear()
        for sock in self._spare.values():
            sock.close()
        self._spare.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- starting connections ---------------------------------------------------

    def _kick(self) -> None:
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self.loop.call_soon(self._pump)

    def _pump(self) -> None:
        self._scheduled = False
        hosts = self.hosts
        started = 0
        blocked = 0  # hosts in a row that could not start a port
        while hosts and self.free > 0 and started < _TURN and blocked < len(hosts):
            scan = hosts[0]
            room = min(self.per_host - scan.in_flight, self.free, _RUN)
            if room <= 0:
                hosts.rotate(-1)
                blocked += 1
                continue
            blocked = 0
            count, state = self._run(scan, room)
            started += count
            if state is _Turn.EXHAUSTED:
                hosts.popleft()
                scan.queued = False
                self._maybe_finish(scan)
            elif state is _Turn.PAUSED:
                return  # a timer kicks the pump again
            else:
                hosts.rotate(-1)
        if hosts and self.free > 0 and started >= _TURN:
            self._kick()  # more to do: after the callbacks that are waiting

    def _run(self, scan: HostScan, room: int) -> tuple[int, _Turn]:
        """Start up to ``room`` connections to ``scan``'s next ports (see :meth:`_run_plain`)."""
        if scan.retry or self.bucket is not None:
            return self._run_general(scan, room)
        return self._run_plain(scan, room)

    def _run_plain(self, scan: HostScan, room: int) -> tuple[int, _Turn]:
        """:meth:`_run_general` for the common case, no retries due and no rate: the
        hot loop of a sweep, with everything it touches in local names."""
        family, addr = scan.family, scan.addr
        sock = self._spare.pop(family, None) or self._socket(family)
        if sock is None:
            return 0, _Turn.PAUSED
        connect = sock.connect_ex
        keep_all, closed_ports = scan.keep_all, scan.closed_ports
        started = refused = 0
        state = _Turn.MORE
        for port in itertools.islice(scan.ports, room):
            started += 1
            target = (addr, port)
            err = connect(target)
            if err == _ABORTED:
                err = connect(target)
            if err == _IN_PROGRESS_ERR:  # how it ended, if it has (see the module doc)
                err = connect(target)
            if err == _REFUSED:
                refused += 1
                if keep_all:
                    closed_ports.append(port)
                continue
            if refused and scan.srtt is None:
                scan.sample(0.0)  # this run's refusals came first: time this port by them
            ok = self._not_refused(scan, sock, port, 0, err)
            if not ok:
                scan.retry.appendleft((port, 0))
            nxt = self._spare.pop(family, None) or self._socket(family)
            if not ok or nxt is None:
                if nxt is not None:
                    self._spare[family] = nxt
                state = _Turn.PAUSED
                break
            sock = nxt
            connect = sock.connect_ex
        else:
            if started < room:
                state = _Turn.EXHAUSTED
            self._spare[family] = sock
        scan.scanned += started
        scan.closed += refused
        if refused:
            scan.sample(0.0)  # refused within connect(): the host answers at once
        return started, state

    def _run_general(self, scan: HostScan, room: int) -> tuple[int, _Turn]:
        """Start up to ``room`` connections to ``scan``'s next ports.

        The common case stays in this loop: a refused port costs two connects
        (see the module doc), and its socket serves the next port, which spares
        a socket() and a close() per port. (A socket whose refusal was already
        read answers its next ``connect`` with ECONNABORTED only, resetting it
        at no packet's cost: it is then asked again.)
        """
        retry, ports, family, addr = scan.retry, scan.ports, scan.family, scan.addr
        spare = self._spare.pop(family, None)
        closed = started = 0
        state = _Turn.MORE
        try:
            for _ in range(room):
                if retry:
                    port, tries = retry.popleft()
                else:
                    nxt = next(ports, None)
                    if nxt is None:
                        state = _Turn.EXHAUSTED
                        break
                    port, tries = nxt, 0
                    scan.scanned += 1
                if self.bucket is not None and not self._pay():
                    retry.appendleft((port, tries))
                    state = _Turn.PAUSED
                    break
                if spare is None:
                    spare = self._socket(family)
                    if spare is None:
                        retry.appendleft((port, tries))
                        state = _Turn.PAUSED
                        break
                sock = spare
                err = sock.connect_ex((addr, port))
                if err == _ABORTED:  # the socket's last attempt was refused: reset, try again
                    err = sock.connect_ex((addr, port))
                started += 1
                if err == errno.EINPROGRESS:  # loopback and a near LAN have usually settled
                    err = sock.connect_ex((addr, port))
                if err == _REFUSED:
                    closed += 1
                    if scan.keep_all:
                        scan.closed_ports.append(port)
                    continue
                spare = None
                if closed and scan.srtt is None:
                    scan.sample(0.0)
                if not self._not_refused(scan, sock, port, tries, err):
                    retry.appendleft((port, tries))
                    state = _Turn.PAUSED
                    break
        finally:
            scan.closed += closed
            if closed:
                scan.sample(0.0)
            if spare is not None:
                old = self._spare.get(family)
                if old is not None:
                    old.close()
                self._spare[family] = spare
        return started, state

    def _pay(self) -> bool:
        """Whether the rate allows a connection now (else the pump is kicked when it does)."""
        assert self.bucket is not None
        now = self.loop.time()
        if self._paid_until is not None:
            if now < self._paid_until:
                return False  # woken early by something else: the slot is not due yet
            self._paid_until = None
            return True
        wait = self.bucket.reserve()
        if wait <= 0:
            return True
        self._paid_until = now + wait
        self.loop.call_later(wait, self._kick)
        return False

    def _socket(self, family: int) -> socket.socket | None:
        """A new non-blocking socket; ``None`` (and a pause) when the process has none left.

        It is bound to a local port of its own, named explicitly: the kernel
        then keeps that port across the socket's refused attempts instead of
        choosing an ephemeral port for every ``connect``.
        """
        try:
            sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        except OSError as exc:
            if exc.errno not in _NO_FD:
                raise
            self._shrink(exc)
            self.loop.call_later(_PAUSE, self._kick)
            return None
        _pin_local_port(sock, family)
        return sock

    def _not_refused(
        self, scan: HostScan, sock: socket.socket, port: int, tries: int, err: int
    ) -> bool:
        """A connection in progress (watched), or one that failed otherwise.

        Returns False when the system is out of local ports (the caller pauses).
        """
        if err in _IN_PROGRESS:
            wait = scan.wait(self.timeout)
            entry = _Pending(self.loop.time() + wait, sock, scan, port, tries)
            scan.in_flight += 1
            scan.connecting += 1
            self.free -= 1
            self.live += 1
            self.loop.add_writer(sock.fileno(), self._writable, entry)
            heapq.heappush(self.pending, entry)
            if self._timer is None:
                self._timer = self.loop.call_later(max(_TICK, min(0.1, wait)), self._expire)
            return True
        if err in _ACCEPTED:  # accepted and already reset by the service: open
            scan.sample(0.0)
            scan.in_flight += 1
            self.free -= 1
            scan.opened.put_nowait(Opened(sock, port, 0.0))
            return True
        sock.close()
        if err in _BUSY:
            self.loop.call_later(_PAUSE, self._kick)
            return False
        self._failed(scan, port, tries, err)
        return True

    def _shrink(self, exc: OSError) -> None:
        """The process ran out of descriptors: keep the budget to what is open now."""
        in_use = self.budget - self.free
        if in_use >= 1 and in_use < self.budget:
            self.free -= self.budget - in_use
            if self._notice is not None:
                self._notice(
                    f"out of file descriptors ({exc.strerror}): "
                    f"{in_use} connections at once from now on"
                )
            self.budget = in_use

    # -- settling connections -----------------------------------------------------

    def _settle(self, entry: _Pending) -> None:
        """``entry`` stops connecting (its socket stays open: the caller decides)."""
        entry.live = False
        self.live -= 1
        entry.scan.connecting -= 1
        self.loop.remove_writer(entry.sock.fileno())

    def _writable(self, entry: _Pending) -> None:
        if not entry.live:
            return
        self._settle(entry)
        self._answered(entry, entry.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
        self._maybe_finish(entry.scan)
        self._kick()

    def _answered(self, entry: _Pending, err: int) -> None:
        """``entry``'s connection settled (accepted, refused or failed) with ``err``."""
        sock, scan = entry.sock, entry.scan
        seconds = time.perf_counter() - entry.started
        if err in _ACCEPTED or err == _REFUSED:
            scan.sample(seconds)
        if err in _ACCEPTED:
            ms = round(seconds * 1000, 2)
            scan.opened.put_nowait(Opened(sock, entry.port, ms))  # the prober releases it
        else:
            sock.close()
            scan.in_flight -= 1
            self.free += 1
            if err == _REFUSED:
                scan.closed += 1
                if scan.keep_all:
                    scan.closed_ports.append(entry.port)
            else:
                self._failed(scan, entry.port, entry.tries, err)

    def _failed(self, scan: HostScan, port: int, tries: int, err: int) -> None:
        """No answer (timed out) or no route: try again, or count the port filtered."""
        if err in _UNREACHABLE and scan.unreachable is None:
            scan.unreachable = os.strerror(err)
        if tries < self.retries and err not in _UNREACHABLE:
            scan.retry.append((port, tries + 1))
            if not scan.queued:
                scan.queued = True
                self.hosts.append(scan)
            return
        scan.filtered += 1
        if scan.keep_all:
            scan.filtered_ports.append(port)

    def _expire(self) -> None:
        """Time out the connections whose deadline passed (one timer for all of them).

        A connection is asked once more before it is given up: the loop may not
        have run its write callback yet (a busy turn), and an answer that came
        in time is not a timeout.
        """
        self._timer = None
        now = self.loop.time()
        pending = self.pending
        expired = False
        while pending and (not pending[0].live or pending[0].deadline <= now):
            entry = heapq.heappop(pending)
            if not entry.live:
                continue
            self._settle(entry)
            err = _settled(entry.sock)
            if err is not None:
                self._answered(entry, err)
            else:
                entry.sock.close()
                entry.scan.in_flight -= 1
                self.free += 1
                self._failed(entry.scan, entry.port, entry.tries, errno.ETIMEDOUT)
            self._maybe_finish(entry.scan)
            expired = True
        if len(pending) > 4 * self.budget:  # settled entries behind live ones: compact
            self.pending = [e for e in pending if e.live]
            heapq.heapify(self.pending)
        if self.pending:
            soonest = self.pending[0].deadline - now
            self._timer = self.loop.call_later(max(_TICK, min(0.1, soonest)), self._expire)
        if expired:
            self._kick()

    def _maybe_finish(self, scan: HostScan) -> None:
        if scan.finished or scan.connecting or scan.retry or scan.queued:
            return
        scan.finished = True
        scan.opened.put_nowait(None)

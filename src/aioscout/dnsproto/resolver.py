"""A fast stub resolver: a few UDP sockets, thousands of queries in flight.

Why it looks like this: a coroutine per query through a library resolver
costs a socket, a task and a timer each; massdns-class throughput needs none
of that. Each query is a future in a dict keyed by its random 16-bit ID (unique
among the queries in flight on its socket); ``datagram_received`` matches a
reply by ID, source address and question and resolves the future. Timeouts
are constant, so pending queries sit in a FIFO and one periodic sweep expires
them (no timer per query). A timed-out or failed query is retried on another
resolver; a truncated reply is retried over TCP.

Resolvers are health-checked (:meth:`FastResolver.check`): one that answers
NXDOMAIN for a name known to exist, or answers a name that cannot exist, is
dropped with a warning; one that keeps timing out is backed off. A random
canary name is also sent to each resolver every few thousand queries, so a
resolver that starts hijacking NXDOMAIN mid-run is dropped too. The brute
force's hot path, many queries in one lane, is :mod:`aioscout.dnsproto.lane`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

from .._exceptions import ResolverError
from .servers import parse_resolver
from .wire import (
    RCODES,
    Message,
    TooLarge,
    WireError,
    build_query,
    build_question,
    parse_header,
    parse_response,
    query_for,
    random_label,
)

__all__ = [
    "NX_REPLY",
    "RECV_SIZE",
    "FastResolver",
    "Reply",
    "ResolveError",
    "Upstream",
    "match_reply",
    "parse_resolver",
]

log = logging.getLogger("aioscout")

NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
_CANARY_EVERY = 5000
_DEAD_AFTER = 25  # timeouts in a row with no answer in between
_SOCKET_BUFFER = 8 << 20
_CONNECTED_MAX = 16  # up to this many resolvers, each gets its own connected sockets
RECV_SIZE = 4096  # more than the EDNS payload size queries advertise (1,232)


class ResolveError(Exception):
    """A name could not be resolved: ``kind`` is ``timeout``, ``protocol`` or ``too_large``."""

    def __init__(self, kind: str, detail: str, attempts: int, resolver: str | None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.attempts = attempts
        self.resolver = resolver


@dataclass(slots=True)
class Reply:
    """The final reply for one question, and who gave it after how many attempts."""

    rcode: int
    answers: list[tuple[str, int, int, str]]
    resolver: str
    attempts: int


@dataclass(slots=True, eq=False)
class Upstream:
    """One resolver: address, token bucket, health."""

    host: str
    port: int
    rate: float = 0.0
    label: str = ""
    tokens: float = 0.0
    stamp: float = 0.0
    timeouts_in_row: int = 0
    backoff_until: float = 0.0
    backoff: float = 0.5
    dropped: bool = False
    sent: int = 0
    answered: int = 0
    timeouts: int = 0
    why: str = ""  # why it was dropped
    warned: bool = False  # backed off once already (warned then)
    strikes: int = 0  # disagreements with answers other resolvers confirmed
    invented: int = 0  # names it alone answered in disputes no trial settled
    socks: list[_Socket] = field(default_factory=list)  # connected to this resolver
    sock_rr: int = 0

    def __post_init__(self) -> None:
        self.label = (
            f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        )
        self.tokens = max(1.0, self.rate)

    def take(self, now: float) -> float:
        """Spend a token; returns 0 or the seconds to wait for one."""
        if self.rate <= 0:
            return 0.0
        self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


# A lane's reply for a plain NXDOMAIN when it does not only count it (always this object).
NX_REPLY = Message(0, 0x8183, NXDOMAIN, "", 0, [])


class _Pending:
    __slots__ = ("deadline", "fut", "qid", "qname", "qtype", "sock", "up")

    def __init__(
        self,
        fut: asyncio.Future[Message | str | None],
        qid: int,
        qname: str,
        qtype: int,
        up: Upstream,
        sock: _Socket,
        deadline: float,
    ) -> None:
        self.fut = fut
        self.qid = qid
        self.qname = qname
        self.qtype = qtype
        self.up = up
        self.sock = sock
        self.deadline = deadline


def match_reply(data: bytes, qname: str, qtype: int) -> Message | str | None:
    """The reply in ``data`` if it answers (``qname``, ``qtype``): parsed, or an error
    string for a broken one; ``None`` when it answers another question (shared with the
    query lane)."""
    try:
        msg = parse_response(data)
    except TooLarge as exc:
        return f"too_large: {exc}"
    except WireError as err:
        try:
            _qid, _flags, got, got_type, _end = parse_header(data)
        except WireError:
            return f"protocol: {err}"  # right ID and source, unreadable question: broken
        return f"protocol: {err}" if got == qname and got_type == qtype else None
    return msg if msg.qname == qname and msg.qtype == qtype else None


class _Socket(asyncio.DatagramProtocol):
    """One UDP socket and the queries in flight on it."""

    def __init__(self) -> None:
        self.pending: dict[int, _Pending] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.ignored = 0
        self.connected = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if len(data) < 12:
            self.ignored += 1
            return
        p = self.pending.get((data[0] << 8) | data[1])
        if p is None or (not self.connected and (addr[0] != p.up.host or addr[1] != p.up.port)):
            self.ignored += 1  # unknown ID or spoofed source: keep waiting for the real one
            return
        result = match_reply(data, p.qname, p.qtype)
        if result is None:
            self.ignored += 1  # an answer to another question: keep waiting
            return
        del self.pending[p.qid]
        if not p.fut.done():
            p.fut.set_result(result)

    def error_received(self, exc: Exception) -> None:
        return  # ICMP errors: the query times out and is retried elsewhere


@dataclass(slots=True)
class _Stats:
    sent: int = 0
    timeouts: int = 0
    tcp: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class FastResolver:
    """A stub resolver over a few UDP sockets with thousands of queries in flight.

    Example::

        async with FastResolver(["127.0.0.1:5353"]) as res:
            reply = await res.resolve("www.lab.test", 1)

    Args:
        resolvers: ``"ip[:port]"`` of each resolver.
        timeout: seconds one attempt waits for its reply.
        retries: further attempts after the first, each on another resolver where possible;
            a timeout on a resolver that is otherwise answering (lossy, not dead) earns one
            more attempt, up to twice ``retries + 1`` in all.
        rate: queries per second per resolver (0: unlimited).
        sockets: UDP sockets to spread the queries over.
    """

    def __init__(
        self,
        resolvers: Sequence[str],
        *,
        timeout: float = 1.0,
        retries: int = 5,
        rate: float = 0.0,
        sockets: int = 2,
    ) -> None:
        if not resolvers:
            raise ValueError("FastResolver needs at least one resolver address")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.upstreams = [Upstream(*parse_resolver(r), rate=rate) for r in resolvers]
        self.timeout = timeout
        self.retries = max(0, retries)
        self._nsockets = max(1, sockets)
        self._socks: list[_Socket] = []
        self._queue: collections.deque[_Pending] = collections.deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._rr = 0
        self._sock_rr = 0
        self._rng = random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._canary_lock = asyncio.Lock()
        self.dropped: set[str] = set()  # the labels of the resolvers dropped
        self.drops = 0  # resolvers dropped so far (a change tells waiting checks to look again)
        self.drop_listeners: list[Callable[[], None]] = []  # called after each drop
        self.canary_every = _CANARY_EVERY  # queries to a resolver between two canaries
        self.stats = _Stats()

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        """Open the UDP sockets (inside the running loop)."""
        loop = self._loop = asyncio.get_running_loop()
        for up, sock in self.open_sockets():
            _, proto = await loop.create_datagram_endpoint(_Socket, sock=sock)
            self._socks.append(proto)
            if up is not None:
                proto.connected = True
                up.socks.append(proto)

    def open_sockets(self) -> Iterator[tuple[Upstream | None, socket.socket]]:
        """New non-blocking UDP sockets with large buffers, ``sockets`` per resolver.

        With few resolvers each gets its own connected sockets (paired with it
        here): the kernel then filters foreign sources and a send skips address
        conversion. With many, ``sockets`` unconnected ones are shared (``None``).
        """
        per_upstream = len(self.upstreams) <= _CONNECTED_MAX
        targets: list[Upstream | None] = list(self.upstreams) if per_upstream else [None]
        for up in targets:
            v6 = ":" in (up or self.upstreams[0]).host
            for _ in range(self._nsockets):
                sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
                for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, opt, _SOCKET_BUFFER)
                sock.bind(("::" if v6 else "0.0.0.0", 0))
                if up is not None:
                    sock.connect((up.host, up.port))
                sock.setblocking(False)
                yield up, sock

    async def aclose(self) -> None:
        """Fail what is in flight and close the sockets."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for s in self._socks:
            for p in s.pending.values():
                if not p.fut.done():
                    p.fut.set_result(None)
            s.pending.clear()
            if s.transport is not None:
                s.transport.close()
        self._socks.clear()
        self._queue.clear()

    async def __aenter__(self) -> FastResolver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- health -----------------------------------------------------------

    @property
    def active(self) -> list[Upstream]:
        """The resolvers not dropped."""
        return [u for u in self.upstreams if not u.dropped]

    def drop(self, up: Upstream, why: str) -> None:
        """Stop using a resolver, with a warning."""
        if not up.dropped:
            up.dropped = True
            up.why = why
            self.drops += 1
            self.dropped.add(up.label)
            log.warning("dropping resolver %s: %s", up.label, why)
            for listener in self.drop_listeners:
                listener()

    def upstream(self, label: str) -> Upstream | None:
        """The resolver of a reply's ``resolver`` label (``None`` for another's)."""
        for up in self.upstreams:
            if up.label == label:
                return up
        return None

    async def check(self, existing: Sequence[tuple[str, int]] = ()) -> None:
        """Check every resolver before a run.

        ``existing`` lists questions known to have an answer (the domain's SOA
        or NS, a name the user gives). A resolver is dropped when it answers
        NXDOMAIN to one of those, answers a random name under ``.invalid``
        (which cannot exist), or gives no usable answer at all (silent, or only
        REFUSED/SERVFAIL). When none is left, :class:`ResolverError` says why for each.
        """
        unusable: dict[Upstream, str] = {}
        async with asyncio.TaskGroup() as tg:
            for up in self.upstreams:
                tg.create_task(self._check_one(up, existing, unusable))
        if len(unusable) < len(self.active):
            for up, why in unusable.items():
                self.drop(up, why)
        else:
            whys = [f"{u.label} {u.why or unusable.get(u, '')}" for u in self.upstreams]
            raise ResolverError("no usable resolver: " + "; ".join(whys))

    async def _check_one(
        self, up: Upstream, existing: Sequence[tuple[str, int]], unusable: dict[Upstream, str]
    ) -> None:
        replies: list[Message | str | None] = []
        for name, qtype in existing:
            res = await self._attempt_on(up, name, qtype, tries=3)
            replies.append(res)
            if isinstance(res, Message) and res.rcode == NXDOMAIN:
                self.drop(up, f"NXDOMAIN for {name}, which exists")
                return
        replies.append(await self.canary(up))
        if up.dropped or any(
            isinstance(r, str) or (r is not None and r.rcode in (NOERROR, NXDOMAIN))
            for r in replies
        ):
            return  # it answers (broken replies become the names' error records)
        codes = sorted(
            {RCODES.get(r.rcode, str(r.rcode)) for r in replies if isinstance(r, Message)}
        )
        unusable[up] = (
            f"refuses every query ({', '.join(codes)})"
            if codes
            else f"no answer to {3 * len(replies)} queries"
        )

    async def canary(self, up: Upstream) -> Message | str | None:
        """Ask ``up`` a name that cannot exist: one that answers it is dropped."""
        name = f"{random_label(14)}.{random_label(6)}.invalid"
        res = await self._attempt_on(up, name, 1, tries=3)
        if isinstance(res, Message) and res.rcode == NOERROR and res.answers:
            self.drop(up, f"answers {name}, which cannot exist (hijacked NXDOMAIN)")
        elif res is None:
            self._on_timeout(up)
        return res

    async def _attempt_on(
        self, up: Upstream, name: str, qtype: int, tries: int
    ) -> Message | str | None:
        """A reply, else the last broken reply's error string, else ``None`` (silence)."""
        broken: str | None = None
        for _ in range(tries):
            res = await self._send(up, name, qtype)
            if isinstance(res, Message):
                return res
            broken = res or broken
        return broken

    async def ask(self, up: Upstream, name: str, qtype: int, *, tries: int = 3) -> Message | None:
        """Ask one given resolver (up to ``tries`` UDP attempts, TCP after a truncated
        reply): its reply, or ``None`` when it gave no usable one."""
        name = name.rstrip(".").lower()
        for _ in range(tries):
            res = await self._send(up, name, qtype)
            if isinstance(res, Message) and res.truncated:
                res = await self._tcp(up, name, qtype)
            if isinstance(res, Message):
                return res
            if res is None:
                self._on_timeout(up)
        return None

    def _on_timeout(self, up: Upstream) -> None:
        up.timeouts += 1
        up.timeouts_in_row += 1
        self.stats.timeouts += 1
        if up.timeouts_in_row >= _DEAD_AFTER and self._loop is not None:
            if up.backoff == 0.5 and not up.warned:
                up.warned = True
                log.warning(
                    "resolver %s: %d time-outs in a row; backing off (asked again later)",
                    up.label,
                    up.timeouts_in_row,
                )
            up.backoff_until = self._loop.time() + up.backoff
            up.backoff = min(up.backoff * 2, 30.0)
            up.timeouts_in_row = 0

    def _pick(self, avoid: Upstream | None) -> Upstream:
        ups = self.upstreams
        now = self._loop.time() if self._loop else 0.0
        n = len(ups)
        fallback: Upstream | None = None
        for k in range(n):
            u = ups[(self._rr + k) % n]
            if u.dropped:
                continue
            if u.backoff_until > now or (u is avoid and n > 1):
                if fallback is None or u.backoff_until < fallback.backoff_until:
                    fallback = u
                continue
            self._rr = (self._rr + k + 1) % n
            return u
        if fallback is None:
            raise ResolveError("dns", "no usable resolver left", 0, None)
        return fallback

    # -- the hot path -----------------------------------------------------

    def _sweep(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        q = self._queue
        while q and q[0].deadline <= now:
            p = q.popleft()
            if p.sock.pending.get(p.qid) is not p:
                continue  # answered (or forgotten) already
            del p.sock.pending[p.qid]
            if not p.fut.done():
                p.fut.set_result(None)
        self._sweeper = (
            self._loop.call_later(min(0.05, self.timeout / 4), self._sweep) if q else None
        )

    def _launch(
        self,
        loop: asyncio.AbstractEventLoop,
        up: Upstream,
        name: str,
        qtype: int,
        fut: asyncio.Future[Message | str | None],
    ) -> _Pending:
        if up.socks:
            sock = up.socks[up.sock_rr]
            up.sock_rr = (up.sock_rr + 1) % len(up.socks)
        else:
            sock = self._socks[self._sock_rr]
            self._sock_rr = (self._sock_rr + 1) % len(self._socks)
        pending = sock.pending
        qid = self._rng.getrandbits(16)
        while qid in pending:
            qid = self._rng.getrandbits(16)
        p = _Pending(fut, qid, name, qtype, up, sock, loop.time() + self.timeout)
        pending[qid] = p
        self._queue.append(p)
        if self._sweeper is None:
            self._sweeper = loop.call_later(min(0.05, self.timeout / 4), self._sweep)
        assert sock.transport is not None
        up.sent += 1
        self.stats.sent += 1
        query = query_for(qid, build_question(name, qtype))
        if sock.connected:
            sock.transport.sendto(query)
        else:
            sock.transport.sendto(query, (up.host, up.port))
        return p

    async def _send(self, up: Upstream, name: str, qtype: int) -> Message | str | None:
        """One UDP attempt: the reply, an error string, or ``None`` on timeout."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("FastResolver.start() was not awaited")
        wait = up.take(loop.time())
        while wait > 0:
            await asyncio.sleep(wait)
            wait = up.take(loop.time())
        fut: asyncio.Future[Message | str | None] = loop.create_future()
        p = self._launch(loop, up, name, qtype, fut)
        pending, qid = p.sock.pending, p.qid
        try:
            res = await fut
        finally:
            if not fut.done():  # cancelled: forget the query
                pending.pop(qid, None)
        if isinstance(res, Message):
            up.answered += 1
            up.timeouts_in_row = 0
            up.backoff = 0.5
        return res

    async def _tcp(self, up: Upstream, name: str, qtype: int) -> Message | str | None:
        self.stats.tcp += 1
        qid = self._rng.getrandbits(16)
        query = build_query(qid, name, qtype)
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout * 2):
                reader, writer = await asyncio.open_connection(up.host, up.port)
                writer.write(len(query).to_bytes(2, "big") + query)
                await writer.drain()
                size = int.from_bytes(await reader.readexactly(2), "big")
                data = await reader.readexactly(size)
        except TimeoutError:
            return None
        except (OSError, asyncio.IncompleteReadError) as exc:
            return f"protocol: TCP fallback failed: {exc!r}"
        finally:
            if writer is not None:
                writer.close()
        try:
            msg = parse_response(data)
        except TooLarge as err:
            return f"too_large: {err}"
        except WireError as fault:
            return f"protocol: {fault}"
        if msg.qid != qid or msg.qname != name or msg.qtype != qtype:
            return "protocol: TCP reply does not match its query"
        return msg

    async def resolve(self, name: str, qtype: int) -> Reply:
        """Resolve one question; retries on other resolvers, TCP after a truncated reply.

        Returns the final :class:`Reply` (any rcode). Raises :class:`ResolveError`
        when every attempt timed out or got a broken reply.
        """
        name = name.rstrip(".").lower()
        error = "timeout: no reply"
        up: Upstream | None = None
        servfails = 0
        last_servfail: Reply | None = None
        budget = self.retries + 1
        attempt = 0
        while attempt < budget:
            attempt += 1
            up = self._pick(up)
            if up.sent % self.canary_every == self.canary_every - 1:
                async with self._canary_lock:
                    await self.canary(up)
                if up.dropped:
                    continue
            res = await self._send(up, name, qtype)
            if isinstance(res, Message) and res.truncated:
                res = await self._tcp(up, name, qtype)
            if res is None:
                self._on_timeout(up)
                error = "timeout: no reply"
                if up.answered and up.timeouts_in_row < _DEAD_AFTER:
                    # A live but lossy resolver: a lost datagram is not a verdict on the name.
                    budget = min(budget + 1, 2 * (self.retries + 1))
                continue
            if isinstance(res, str):
                error = res
                continue
            if res.rcode in (SERVFAIL, REFUSED) and servfails < 2 and len(self.active) > 1:
                servfails += 1
                last_servfail = Reply(res.rcode, res.answers, up.label, attempt)
                continue
            return Reply(res.rcode, res.answers, up.label, attempt)
        if last_servfail is not None:
            last_servfail.attempts = attempt
            return last_servfail
        kind, _, detail = error.partition(": ")
        raise ResolveError(kind, detail, attempt, up.label if up else None)

"""The brute force's hot path: many queries of one type sent and settled in batches.

See :class:`QueryLane`. Resolver health (answers, time-outs, back-off, the
periodic canary) stays on :class:`~aioscout.dnsproto.resolver.FastResolver`'s
:class:`~aioscout.dnsproto.resolver.Upstream` objects.
"""

from __future__ import annotations

import asyncio
import collections
import random
import socket
from collections.abc import Callable, Sequence
from typing import cast

from .resolver import NX_REPLY, RECV_SIZE, FastResolver, ResolveError, Upstream, match_reply
from .wire import (
    _LENGTH_BYTE,
    _OPT,
    _RD_EDNS_HEAD,
    Message,
    build_question,
    encode_name,
    is_plain_nxdomain,
)

__all__ = ["LaneBatch", "LaneReply", "QueryLane"]

# One query of a lane in flight: (item, question, resolver, socket, ID, its run), where the
# run of queries sent together is [queries not settled yet, time sent].
_Entry = tuple[object, bytes, Upstream, "_LaneSocket", int, list[float]]
# What a lane reports for an item that was not a plain NXDOMAIN:
# (item, reply or error string or None for a time-out, resolver label, seconds taken).
LaneReply = tuple[object, Message | str | None, str, float]
LaneBatch = Callable[[list[object], list[LaneReply]], None]
_LANE_READS = 512  # datagrams read per wake-up before other callbacks get a turn


class _LaneSocket:
    __slots__ = ("connected", "pending", "raw")

    def __init__(self, raw: socket.socket, connected: bool) -> None:
        self.raw = raw
        self.connected = connected
        self.pending: dict[int, _Entry] = {}


class QueryLane:
    """Many queries of one type, sent and settled in batches: the brute-force hot path.

    Why: a future, a callback object and a transport hop per query cost more
    than the query itself once thousands are in flight. A lane owns its own
    non-blocking UDP sockets, reads them itself (every datagram waiting, per
    wake-up) and reports what settled in one call: ``on_batch(nxdomain,
    replies)``, where ``nxdomain`` lists the items answered by a plain
    NXDOMAIN (the bulk of a brute force; with ``count_nxdomain=False`` those
    come as replies, :data:`NX_REPLY`, instead) and ``replies`` holds ``(item,
    outcome, resolver label, seconds taken)`` for everything else: a parsed
    reply, an error string (``"protocol: ..."``, ``"too_large: ..."``) or
    ``None`` when the attempt timed out.

    Every item :meth:`start` accepts is reported exactly once, at the latest
    when its attempt times out (one sweep of a FIFO of sent batches, no timer
    per query). Replies are matched by ID, source (a connected socket, or the
    address checked) and question, as on :class:`FastResolver`'s own sockets;
    resolver health (answers, time-outs, back-off, the periodic canary) is
    kept on the same :class:`Upstream` objects.

    With ``second_opinion``, each item's fourth field is a resolver *not* to
    ask (the one whose answer is being confirmed); an item no other resolver
    can take ends the run of sends, as an unusable resolver does.
    """

    def __init__(
        self,
        resolver: FastResolver,
        qtype: int,
        on_batch: LaneBatch,
        *,
        count_nxdomain: bool = True,
        second_opinion: bool = False,
    ) -> None:
        self._resolver = resolver
        self._count_nx = count_nxdomain
        self._second = second_opinion
        self._qtype = qtype
        self._on_batch = on_batch
        self._socks: list[_LaneSocket] = []
        self._by_up: dict[Upstream, list[_LaneSocket]] = {}
        self._rr: dict[Upstream, int] = {}
        self._sent: collections.deque[tuple[float, list[float], list[_Entry]]] = collections.deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._canaries: set[asyncio.Task[Message | str | None]] = set()
        self._loop = asyncio.get_running_loop()
        self._rng = random.Random()
        self._tail = build_question("x", qtype)[3:]  # the type and class after the name
        for up, raw in resolver.open_sockets():
            s = _LaneSocket(raw, up is not None)
            self._loop.add_reader(raw.fileno(), self._readable, s)
            self._socks.append(s)
            if up is not None:
                self._by_up.setdefault(up, []).append(s)
                self._rr[up] = 0
        self._shared = [] if self._by_up else self._socks
        self._shared_rr = 0

    def start(self, items: Sequence[tuple[object, ...]]) -> tuple[int, float]:
        """Send one query for the name (third field) of each item, in order.

        Returns how many were sent and, when fewer than all, the seconds to wait
        before the rest can go (a resolver's rate limit or a full send buffer),
        or 0.0 when the rest cannot take the lane (no usable resolver, a name
        that cannot be encoded): the caller resolves those another way.
        """
        res = self._resolver
        loop = self._loop
        now = loop.time()
        ups = res.upstreams
        second = self._second
        single = ups[0] if len(ups) == 1 and not second else None
        entries: list[_Entry] = []
        run = [0.0, now]
        tail = self._tail
        rng = self._rng
        sent = 0
        wait = 0.0
        every = res.canary_every
        last: tuple[str | None, bytes] = (None, b"")  # the last parent, its wire form + tail
        for item in items:
            up = single
            if up is None or up.dropped or up.backoff_until > now:
                avoid: Upstream | None = item[3] if second else None  # type: ignore[assignment]
                try:
                    up = res._pick(avoid)
                except ResolveError:
                    break
                if up is avoid:
                    break  # no other resolver to ask
            if up.rate > 0:
                wait = up.take(now)
                if wait:
                    break
            socks = self._by_up.get(up)
            if socks is not None:
                rr = self._rr[up]
                s = socks[rr]
                self._rr[up] = (rr + 1) % len(socks)
            else:
                s = self._shared[self._shared_rr]
                self._shared_rr = (self._shared_rr + 1) % len(self._shared)
            pending = s.pending
            qid = rng.getrandbits(16)
            while qid in pending:
                qid = rng.getrandbits(16)
            name: str = item[2]  # type: ignore[assignment]
            # A brute force asks word after word under the same parent: only the
            # first label is new (encode_name's own checks otherwise).
            label, _, parent = name.partition(".")
            n = len(label)
            if parent == last[0] and 0 < n < 64 and n + len(last[1]) <= 258 and label.isascii():
                question = _LENGTH_BYTE[n] + label.encode() + last[1]
            else:
                try:
                    question = encode_name(name) + tail
                except ValueError:
                    break
                ok = 0 < n < 64 and label.isascii()
                last = (parent, question[n + 1 :]) if ok else (None, b"")
            entry = (item, question, up, s, qid, run)
            try:
                if s.connected:
                    s.raw.send(qid.to_bytes(2, "big") + _RD_EDNS_HEAD + question + _OPT)
                else:
                    s.raw.sendto(
                        qid.to_bytes(2, "big") + _RD_EDNS_HEAD + question + _OPT, (up.host, up.port)
                    )
            except (BlockingIOError, InterruptedError):
                wait = 0.002  # the send buffer is full: let the kernel drain it
                break
            except OSError:
                pass  # as a transport does: the attempt times out and is reported so
            pending[qid] = entry
            entries.append(entry)
            sent += 1
            up.sent += 1
            if up.sent % every == 0:
                self._canary(up)
        if entries:
            res.stats.sent += sent
            run[0] = sent
            self._sent.append((now + res.timeout, run, entries))
            if self._sweeper is None:
                self._sweeper = loop.call_later(min(0.05, res.timeout / 4), self._sweep)
        return sent, wait

    def _canary(self, up: Upstream) -> None:
        """Ask a name that cannot exist now and then: a resolver that starts lying is dropped."""
        task = self._loop.create_task(self._resolver.canary(up))
        self._canaries.add(task)
        task.add_done_callback(self._canaries.discard)

    def _readable(self, s: _LaneSocket) -> None:
        recv = s.raw.recv if s.connected else None
        recvfrom = s.raw.recvfrom
        pending = s.pending
        nx: list[object] = []
        replies: list[LaneReply] = []
        now = self._loop.time()
        answered: dict[Upstream, int] = {}
        count_nx = self._count_nx
        for _ in range(_LANE_READS):
            try:
                if recv is not None:
                    data = recv(RECV_SIZE)
                else:
                    data, addr = recvfrom(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # an ICMP error on a connected socket: the query times out
            if len(data) < 12:
                continue
            entry = pending.get((data[0] << 8) | data[1])
            if entry is None:
                continue
            up = entry[2]
            if recv is None and (addr[0] != up.host or addr[1] != up.port):
                continue  # spoofed source: keep waiting for the real one
            if is_plain_nxdomain(data, entry[1]):
                del pending[entry[4]]
                entry[5][0] -= 1
                if count_nx:
                    nx.append(entry[0])
                else:
                    replies.append((entry[0], NX_REPLY, up.label, now - entry[5][1]))
                answered[up] = answered.get(up, 0) + 1
                continue
            name = cast(tuple[object, object, str], entry[0])[2].rstrip(".").lower()
            outcome = match_reply(data, name, self._qtype)
            if outcome is None:
                continue  # an answer to another question: keep waiting
            if isinstance(outcome, Message):
                answered[up] = answered.get(up, 0) + 1
            del pending[entry[4]]
            entry[5][0] -= 1
            replies.append((entry[0], outcome, up.label, now - entry[5][1]))
        for up, n in answered.items():
            up.answered += n
            up.timeouts_in_row = 0
            up.backoff = 0.5
        if nx or replies:
            self._on_batch(nx, replies)

    def _sweep(self) -> None:
        res = self._resolver
        now = self._loop.time()
        q = self._sent
        timed_out: list[LaneReply] = []
        while q:
            deadline, run, entries = q[0]
            if run[0] and deadline > now:
                break
            q.popleft()  # all settled, or its queries' time is up
            if not run[0]:
                continue
            for item, _question, up, s, qid, _run in entries:
                # Still this run's query? (Compared by its run list: a compiled build
                # boxes a tuple anew each time it is stored, so the entry's own
                # identity does not survive the pending dict.)
                kept = s.pending.get(qid)
                if kept is not None and kept[5] is run:
                    del s.pending[qid]
                    res._on_timeout(up)
                    timed_out.append((item, None, up.label, now - run[1]))
        self._sweeper = (
            self._loop.call_later(min(0.05, res.timeout / 4), self._sweep) if q else None
        )
        if timed_out:
            self._on_batch([], timed_out)

    def close(self) -> None:
        """Stop reading and close the sockets (what is in flight is forgotten)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for task in self._canaries:
            task.cancel()
        for s in self._socks:
            self._loop.remove_reader(s.raw.fileno())
            s.raw.close()
            s.pending.clear()
        self._socks.clear()
        self._sent.clear()

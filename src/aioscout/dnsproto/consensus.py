"""Confirming found answers across resolvers, and catching the resolvers that lie.

Why: a resolver can lie for only part of the names (rewrite the addresses of
some, invent addresses for some names that do not exist). One canary name
misses it, and asking every resolver every name doubles a brute force. Most
names of a brute force do not exist, so only what a resolver says *exists* is
checked, and the checks double as evidence against the resolvers:

1. A found answer is reported only when a second resolver, not caught lying,
   agrees with it: a record of the asked type in common, or the same CNAME
   (answers that rotate or differ per resolver, as a CDN's do, share those
   after one more question to each). What is reported is the records both gave.
2. When the two disagree, another resolver breaks the tie: the answer two agree
   on stands, and a resolver that disagrees with confirmed answers twice is dropped.
3. With no third resolver, a trial asks every resolver the same random names
   under the name's parent, names that do not exist: an honest resolver answers
   them all alike (NXDOMAIN, or a wildcard's answer for each); one that lies for
   part of the names answers some and not others, and is dropped. With a referee
   (trusted resolvers), the referee's answers are the truth. A trial also
   screens every domain before a run, so a liar is usually gone before it lies.
4. Between two resolvers that no trial tells apart, the one answering names the
   other says do not exist is taken for the liar after three such names (inventing
   answers is the lie resolvers tell; hiding names only costs recall).
5. A name still in dispute waits a moment for another dispute to convict a liar,
   then, if none did, is not reported (an error record says why).

NXDOMAIN answers are not re-checked: a liar that hides existing names costs
recall, never an invented or poisoned record.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .resolver import FastResolver, Reply, ResolveError, Upstream
from .wire import Message, random_label

__all__ = ["Verifier", "agree", "records_of"]

NXDOMAIN = 3
_CNAME = 5
_TRIAL_NAMES = 16  # random names per resolver in a trial over a dispute
_SCREEN_NAMES = 32  # random names per resolver and domain before a run
_SCREEN_DOMAINS = 4
_JURY = 5  # resolvers asked about one disputed name at most (a majority without asking all)
_MAX_TRIALS = 64  # trials over disputes per run
_ASKS = 3  # rounds of tries (FastResolver.ask) for a resolver that gives no usable reply
_INVENTED = 3  # names a resolver alone answers, in disputes no trial settles, before a drop
_VERDICT_WAIT = 2.0  # seconds a dispute no trial settles waits for another to convict a liar
_STRIKES = 2  # disagreements with confirmed answers before a resolver is dropped

_Answer = tuple[str, int, int, str]


def records_of(answers: Iterable[_Answer]) -> set[tuple[int, str]]:
    """An answer's records as ``(type, data)`` pairs, the form :func:`agree` compares."""
    return {(rtype, data.lower()) for _owner, rtype, _ttl, data in answers}


def agree(a: set[tuple[int, str]], b: set[tuple[int, str]], qtype: int) -> bool:
    """Whether two answers (as ``(type, data)`` sets) agree: both empty, or a record of
    ``qtype`` in common, or a CNAME in common."""
    if not a or not b:
        return not a and not b
    return any(t in (qtype, _CNAME) for t, _d in a & b)


@dataclass(slots=True)
class _View:
    """What one resolver said about the name (accumulated over its answers)."""

    rcode: int
    answers: list[_Answer] = field(default_factory=list)
    records: set[tuple[int, str]] = field(default_factory=set)

    def add(self, answers: Iterable[_Answer]) -> None:
        for a in answers:
            key = (a[1], a[3].lower())
            if key not in self.records:
                self.records.add(key)
                self.answers.append(a)


def _view(rcode: int, answers: Iterable[_Answer]) -> _View:
    v = _View(rcode)
    v.add(answers)
    return v


def _class(msg: Message | Reply | None) -> str | None:
    """``present``, ``absent`` or ``None`` (no usable reply) for a random name."""
    if msg is None or msg.rcode not in (0, NXDOMAIN):
        return None
    return "present" if msg.answers else "absent"


class Verifier:
    """Confirms found answers across a :class:`FastResolver`'s resolvers; drops liars.

    Example::

        verifier = Verifier(resolver)
        await verifier.screen(["example.com"])
        reply = await verifier.confirm("www.example.com", 1, first_reply)

    Args:
        resolver: the resolvers of the run (dropped ones are skipped).
        referee: trusted resolvers whose word is the truth in trials (optional).
    """

    def __init__(self, resolver: FastResolver, *, referee: FastResolver | None = None) -> None:
        self._res = resolver
        self._referee = referee
        self._lock = asyncio.Lock()
        self._trials = 0  # trials started
        self._held = 0  # trials ended
        self._rr = 0
        self._rng = random.Random()
        self._dropped = asyncio.Event()  # set (and replaced) when a resolver is dropped
        resolver.drop_listeners.append(self._on_drop)
        self.confirmed = 0
        self.disputed = 0

    @property
    def applies(self) -> bool:
        """Whether found answers need a second resolver (several resolvers, no referee)."""
        return self._referee is None and len(self._res.upstreams) > 1

    @property
    def has_second(self) -> bool:
        """Whether a second resolver is left to ask (when :attr:`applies`); with one left,
        its own answers stand."""
        return len(self._res.upstreams) - len(self._res.dropped) > 1

    # -- confirming one answer ----------------------------------------------

    async def confirm(
        self, name: str, qtype: int, reply: Reply, *, sample: bool = False
    ) -> Reply | None:
        """``reply`` (answers for ``name``) confirmed by a second resolver, or ``None``.

        The result holds the records both resolvers gave, or the rcode two
        resolvers agree on when they agree that the name has no records; ``None``
        while the resolvers still disagree. With ``sample`` (a wildcard check's
        random name), the first answer is returned as it was, and answers that
        differ are accepted when no resolver says the name does not exist (a
        rotating wildcard): only whether such names exist matters there.
        """
        res = self._res
        views: dict[Upstream, _View] = {}
        silent: collections.Counter[Upstream] = collections.Counter()
        first = res.upstream(reply.resolver)
        if first is not None:
            views[first] = _view(reply.rcode, reply.answers)
        asked = 0
        again = waited = False
        drops = res.drops
        while True:
            active = res.active
            live = {u: v for u, v in views.items() if not u.dropped}
            pair = self._agreeing(live, qtype)
            if pair is not None:
                self._strike(live, pair, qtype, name)
                self.confirmed += 1
                return self._result(reply, first, pair, live, asked, not sample)
            if len(active) == 1 and active[0] in live:
                only = live[active[0]]
                return Reply(only.rcode, only.answers, active[0].label, reply.attempts + asked)
            unasked = (
                [u for u in active if u not in live and silent[u] < _ASKS]
                if len(views) + len(silent) < _JURY
                else []
            )
            if unasked:
                up = unasked[self._rr % len(unasked)]
                self._rr += 1
                asked += 1
                msg = await res.ask(up, name, qtype)
                if msg is None or _class(msg) is None:
                    silent[up] += 1  # lost or refused: ask again (a lossy resolver is no liar)
                else:
                    views[up] = _view(msg.rcode, msg.answers)
                continue
            if not again and sum(1 for v in live.values() if v.answers) >= 2:
                again = True  # rotating answers: one more look at each before a dispute
                for up, v in live.items():
                    if v.answers:
                        asked += 1
                        msg = await res.ask(up, name, qtype)
                        if msg is not None and msg.rcode == 0:
                            v.add(msg.answers)
                continue
            if sample and first in live and all(v.answers for v in live.values()):
                return reply
            if len(live) >= 2 and await self._trial_over(name, qtype, list(live)):
                continue
            if self._invented(live, name):
                continue
            if not waited and len(live) >= 2:
                waited = True  # another dispute may convict a liar soon: then look again
                if await self._verdict(drops):
                    continue
            self.disputed += 1
            return None

    def _agreeing(
        self, live: dict[Upstream, _View], qtype: int
    ) -> tuple[Upstream, Upstream] | None:
        ups = list(live)
        for i, a in enumerate(ups):
            for b in ups[i + 1 :]:
                if agree(live[a].records, live[b].records, qtype):
                    return a, b
        return None

    def _strike(
        self, live: dict[Upstream, _View], pair: tuple[Upstream, Upstream], qtype: int, name: str
    ) -> None:
        truth = live[pair[0]].records
        for up, v in live.items():
            if up in pair or agree(v.records, truth, qtype):
                continue
            self.judge(up, False, name)

    async def _verdict(self, drops: int) -> bool:
        """Wait (at most ``_VERDICT_WAIT`` s) for a resolver to be dropped since ``drops``."""
        if self._res.drops == drops:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_VERDICT_WAIT):
                    await self._dropped.wait()
        return self._res.drops != drops

    def _on_drop(self) -> None:
        self._dropped.set()
        self._dropped = asyncio.Event()

    def _invented(self, live: dict[Upstream, _View], name: str) -> bool:
        """After a trial that told nothing, between two resolvers: the one answering a name
        the other says does not exist is counted as inventing it (inventing answers is
        the lie resolvers tell); once it has three such names and the other none, it is
        dropped. Whether a resolver was dropped."""
        if self._referee is not None or len(live) != 2:
            return False
        (a, va), (b, vb) = live.items()
        if bool(va.answers) == bool(vb.answers):
            return False
        liar, other = (a, b) if va.answers else (b, a)
        liar.invented += 1
        if liar.invented < _INVENTED or other.invented:
            return False
        self._res.drop(
            liar,
            f"answered {liar.invented} names that {other.label} says do not exist"
            f" (last {name}): it invents answers for part of the names",
        )
        return True

    def judge(self, up: Upstream, agreed: bool, name: str) -> None:
        """Count a disagreement of ``up`` with a confirmed answer (for ``name``); two drop it."""
        if agreed:
            return
        up.strikes += 1
        if up.strikes >= _STRIKES and (self._referee is not None or len(self._res.active) > 1):
            self._res.drop(
                up,
                f"its answers disagreed with confirmed ones {up.strikes} times"
                f" (last for {name}): it lies for part of the names",
            )

    @staticmethod
    def _result(
        reply: Reply,
        first: Upstream | None,
        pair: tuple[Upstream, Upstream],
        live: dict[Upstream, _View],
        asked: int,
        merge: bool,
    ) -> Reply:
        a, b = (pair[1], pair[0]) if pair[1] is first else pair
        va, vb = live[a], live[b]
        attempts = reply.attempts + asked
        if not va.answers:
            return Reply(va.rcode, [], a.label, attempts)
        if not merge and a is first:
            return reply
        common = va.records & vb.records
        kept = [x for x in va.answers if (x[1], x[3].lower()) in common]
        return Reply(0, kept if merge else va.answers, a.label, attempts)

    # -- trials: random names that do not exist -----------------------------

    async def screen(self, domains: Sequence[str], qtype: int = 1) -> None:
        """Before a run: a trial under each domain (the first few), where there is a
        second resolver or a referee to compare with."""
        for domain in list(domains)[:_SCREEN_DOMAINS]:
            if len(self._res.active) < 2 and self._referee is None:
                return
            await self._trial(domain, qtype, _SCREEN_NAMES, self._res.drops)

    async def _trial_over(self, name: str, qtype: int, parties: list[Upstream]) -> bool:
        """A trial under ``name``'s parent after a dispute between ``parties`` (and a few
        other resolvers, for a majority); whether a resolver was dropped."""
        level = name.partition(".")[2] or name
        others = [u for u in self._res.active if u not in parties]
        jury = parties + self._rng.sample(others, max(0, min(len(others), _JURY - len(parties))))
        return await self._trial(level, qtype, _TRIAL_NAMES, self._res.drops, jury, self._held)

    async def _trial(
        self,
        level: str,
        qtype: int,
        count: int,
        drops: int,
        jury: Sequence[Upstream] | None = None,
        held: int | None = None,
    ) -> bool:
        """Every resolver of ``jury`` (default: every active one) asked ``count`` random
        names under ``level``; those the answers convict are dropped. Whether any was.

        With ``held`` (the trials held so far when the caller asked): none is held
        when another ended meanwhile; disputes waiting together share its verdict.
        """
        res = self._res
        async with self._lock:
            if res.drops != drops:
                return True  # a resolver was dropped meanwhile: look at the dispute again
            if self._trials >= _MAX_TRIALS + _SCREEN_DOMAINS or (
                held is not None and held != self._held
            ):
                return False
            self._trials += 1
            ups = [u for u in jury if not u.dropped] if jury is not None else res.active
            names = [f"{random_label(16)}.{level}" for _ in range(count)]
            table: dict[Upstream, list[str | None]] = {u: [None] * count for u in ups}
            truth: list[str | None] = [None] * count

            async def ask(up: Upstream, i: int) -> None:
                table[up][i] = _class(await res.ask(up, names[i], qtype, tries=2))

            async def refer(i: int) -> None:
                assert self._referee is not None
                try:
                    truth[i] = _class(await self._referee.resolve(names[i], qtype))
                except ResolveError:
                    truth[i] = None

            async with asyncio.TaskGroup() as tg:
                for i in range(count):
                    for up in ups:
                        tg.create_task(ask(up, i))
                    if self._referee is not None:
                        tg.create_task(refer(i))
            for up, why in self._liars(level, table, truth).items():
                res.drop(up, why)
            self._held += 1
            return res.drops != drops

    def _liars(
        self, level: str, table: dict[Upstream, list[str | None]], truth: list[str | None]
    ) -> dict[Upstream, str]:
        """The resolvers a trial's answers convict, with the reason for each."""
        ups = list(table)
        count = len(truth)
        marks: collections.Counter[Upstream] = collections.Counter()
        for i in range(count):
            votes = {u: table[u][i] for u in ups if table[u][i] is not None}
            right = truth[i]
            if right is None and self._referee is None and len(votes) >= 3:
                tally = collections.Counter(votes.values()).most_common()
                if len(tally) == 1 or tally[0][1] > tally[1][1]:
                    right = tally[0][0]
            if right is not None:
                marks.update(u for u, c in votes.items() if c != right)
        who = "the trusted resolver" if self._referee is not None else "the other resolvers"
        need = 1 if self._referee is not None else 2
        out = {
            u: f"disagreed with {who} on {m} of {count} random names under {level}"
            for u, m in marks.items()
            if m >= need
        }
        if not out and self._referee is None:
            seen = {u: {c for c in table[u] if c is not None} for u in ups}
            steady = [u for u in ups if len(seen[u]) == 1]
            for u in ups:
                if len(seen[u]) < 2 or not steady:
                    continue
                said = table[u]
                if any(
                    said[i] is not None and table[s][i] not in (None, said[i])
                    for s in steady
                    for i in range(count)
                ):
                    n = sum(1 for c in said if c == "present")
                    out[u] = (
                        f"answered {n} of {count} random names under {level} that the"
                        " others say do not exist, and not the rest: it lies for part of the names"
                    )
        if self._referee is None and len(out) >= len(ups):
            return {}  # every resolver convicted: nothing to tell them apart by
        return out

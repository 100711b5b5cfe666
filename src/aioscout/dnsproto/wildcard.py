"""Wildcard detection: tell names that exist from names a wildcard invents.

The algorithm (after puredns, made robust to rotating wildcards):

1. A found name ``w.a.example.com`` (brute-forced under ``example.com``) is
   checked at every parent level up to that domain: ``a.example.com``, then
   ``example.com``. A wildcard ``*.example.com`` answers names several labels
   deep, so every level matters, not only the direct parent.
2. For each level, ``checks`` random labels (``<random>.<level>``) are
   resolved; the union of their full answer sets (A/AAAA data and CNAME
   targets) is the level's wildcard pool. No answer at all: no wildcard there.
   A level is computed once per (level, type) and shared: concurrent callers
   await the same in-flight computation, so 10,000 names under one parent
   cost one check.
3. A name whose answer set is a subset of a level's pool is a wildcard match.
   A name whose answers are disjoint from a static pool (every sample gave the
   same answer) is real. Otherwise the level rotates or only partly overlaps:
   the pool is grown with more random samples (bounded per level and per
   name) until the name's set fits inside it, and the name itself is asked
   once more: a name whose answer changes between two queries under a rotating
   wildcard is a match, a stable one outside the pool is real. A name still
   partly overlapping the pool after all that is treated as a match, since
   sharing addresses with a wildcard is the stronger evidence.

Real names beside a wildcard (``api.example.com`` next to ``*.example.com``)
are kept because their answers are not inside the wildcard's pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from .wire import random_label

__all__ = ["WildcardFilter", "answer_set", "levels_of"]

# (name, qtype) -> (rcode, answers as (owner, type, ttl, data)); raises on failure.
ResolveFn = Callable[[str, int], Awaitable[tuple[int, list[tuple[str, int, int, str]]]]]

_EXTRA_PER_NAME = 8
_MAX_SAMPLES = 64


def answer_set(answers: Iterable[tuple[str, int, int, str]]) -> frozenset[str]:
    """The comparable form of an answer: every record's data (addresses, CNAME targets)."""
    return frozenset(data.lower() for _owner, _t, _ttl, data in answers)


def levels_of(name: str, apex: str) -> list[str]:
    """The parent levels of ``name`` from the nearest up to ``apex`` inclusive."""
    out = []
    rest = name.partition(".")[2]
    while rest and (rest == apex or rest.endswith("." + apex)):
        out.append(rest)
        if rest == apex:
            break
        rest = rest.partition(".")[2]
    return out


@dataclass(slots=True)
class _Level:
    pool: set[str] = field(default_factory=set)
    samples: list[frozenset[str]] = field(default_factory=list)

    @property
    def wildcard(self) -> bool:
        return bool(self.pool)

    @property
    def rotating(self) -> bool:
        return len({s for s in self.samples if s}) > 1


class WildcardFilter:
    """Decides whether a found name is a wildcard match; caches per level.

    Args:
        resolve: resolves ``(name, qtype)`` to ``(rcode, answers)``; may raise on failure.
        checks: random labels sampled per level at first (several, to catch rotation).
    """

    def __init__(self, resolve: ResolveFn, *, checks: int = 3) -> None:
        self._resolve = resolve
        self.checks = max(1, checks)
        self._levels: dict[tuple[str, int], asyncio.Future[_Level | None]] = {}
        self.queries = 0

    async def _sample(self, level: str, qtype: int) -> frozenset[str]:
        self.queries += 1
        try:
            _rcode, answers = await self._resolve(f"{random_label(16)}.{level}", qtype)
        except Exception:  # a failed sample says nothing; the other samples decide
            return frozenset()
        return answer_set(answers)

    async def _level(self, level: str, qtype: int) -> _Level:
        key = (level, qtype)
        fut = self._levels.get(key)
        if fut is not None and fut.done():
            cached = fut.result()
            if cached is not None:
                return cached
        while fut is not None:
            done = await asyncio.shield(fut)
            if done is not None:
                return done
            fut = self._levels.get(key)  # the first caller gave up: compute it here
        fut = asyncio.get_running_loop().create_future()
        self._levels[key] = fut
        try:
            data = _Level()
            for _ in range(self.checks):
                got = await self._sample(level, qtype)
                data.samples.append(got)
                data.pool |= got
        except BaseException:
            del self._levels[key]
            fut.set_result(None)
            raise
        fut.set_result(data)
        return data

    def decided(
        self, name: str, answers: Iterable[tuple[str, int, int, str]], qtype: int, apex: str
    ) -> bool | None:
        """:meth:`is_wildcard`'s verdict when the cached levels settle it without a query.

        ``None`` when a level is not sampled yet, or rotates or partly overlaps
        the answers (then :meth:`is_wildcard` must ask more).
        """
        found = answer_set(answers)
        if not found:
            return False
        for level in levels_of(name, apex):
            fut = self._levels.get((level, qtype))
            if fut is None or not fut.done():
                return None
            data = fut.result()
            if data is None:
                return None
            if data.wildcard:
                if found <= data.pool:
                    return True
                if data.rotating or found & data.pool:
                    return None
        return False

    async def is_wildcard(
        self, name: str, answers: Iterable[tuple[str, int, int, str]], qtype: int, apex: str
    ) -> bool:
        """Whether ``name``, found with ``answers`` for ``qtype``, is a wildcard match."""
        found = answer_set(answers)
        if not found:
            return False
        for level in levels_of(name, apex):
            data = await self._level(level, qtype)
            if data.wildcard and await self._matches(name, found, qtype, level, data):
                return True
        return False

    async def _matches(
        self, name: str, found: frozenset[str], qtype: int, level: str, data: _Level
    ) -> bool:
        if found <= data.pool:
            return True
        if not data.rotating and not (found & data.pool):
            return False
        for _ in range(_EXTRA_PER_NAME):
            if len(data.samples) >= _MAX_SAMPLES:
                break
            got = await self._sample(level, qtype)
            data.samples.append(got)
            data.pool |= got
            if found <= data.pool:
                return True
        try:
            self.queries += 1
            _rcode, again = await self._resolve(name, qtype)
        except Exception:  # no second look: decide on what is known
            again = None
        if again is not None:
            second = answer_set(again)
            if second != found and (data.rotating or second & data.pool or found & data.pool):
                data.pool |= found | second
                return True
        return bool(found & data.pool)

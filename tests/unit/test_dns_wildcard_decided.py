"""WildcardFilter.decided: the verdict without a query, only when cached levels settle it."""

from __future__ import annotations

import itertools

from aioscout.dnsproto.wildcard import WildcardFilter

A = 1


def _ans(name: str, *ips: str) -> list[tuple[str, int, int, str]]:
    return [(name, A, 60, ip) for ip in ips]


class Zone:
    """``*.wild.test`` answers 10.0.0.1; ``*.rot.test`` rotates over three addresses."""

    def __init__(self) -> None:
        self.queries = 0
        self._rot = itertools.cycle(["10.9.0.1", "10.9.0.2", "10.9.0.3"])

    async def resolve(self, name: str, qtype: int) -> tuple[int, list[tuple[str, int, int, str]]]:
        self.queries += 1
        if name.endswith(".wild.test"):
            return 0, _ans(name, "10.0.0.1")
        if name.endswith(".rot.test"):
            return 0, _ans(name, next(self._rot))
        return 3, []


async def test_undecided_until_the_level_is_sampled_then_decided_without_queries() -> None:
    zone = Zone()
    wf = WildcardFilter(zone.resolve, checks=2)
    assert wf.decided("a.wild.test", _ans("a.wild.test", "10.0.0.1"), A, "wild.test") is None
    assert await wf.is_wildcard("a.wild.test", _ans("a.wild.test", "10.0.0.1"), A, "wild.test")
    before = zone.queries
    assert wf.decided("b.wild.test", _ans("b.wild.test", "10.0.0.1"), A, "wild.test") is True
    assert wf.decided("api.wild.test", _ans("api.wild.test", "10.5.5.5"), A, "wild.test") is False
    assert zone.queries == before
    assert not await wf.is_wildcard(
        "x.plain.test", _ans("x.plain.test", "10.1.1.1"), A, "plain.test"
    )
    assert wf.decided("y.plain.test", _ans("y.plain.test", "10.1.1.2"), A, "plain.test") is False


async def test_rotating_or_overlapping_levels_are_left_to_is_wildcard() -> None:
    zone = Zone()
    wf = WildcardFilter(zone.resolve, checks=2)
    await wf.is_wildcard("a.rot.test", _ans("a.rot.test", "10.9.0.1"), A, "rot.test")
    assert wf.decided("b.rot.test", _ans("b.rot.test", "10.7.7.7"), A, "rot.test") is None
    assert wf.decided("c.wild.test", [], A, "wild.test") is False

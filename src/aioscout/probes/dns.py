"""The DNS probe: brute force (word × domain) and bulk resolution of names.

It resolves through :class:`aioscout.dnsproto.resolver.FastResolver` when
resolvers are given (health-checked before the run), through dnspython's
async resolver otherwise; filters wildcard matches with
:class:`aioscout.dnsproto.wildcard.WildcardFilter`. With several resolvers,
a found name is reported only once a second resolver confirms its answer
(:class:`aioscout.dnsproto.consensus.Verifier`, which also drops resolvers
caught lying); with trusted resolvers, every found name is re-resolved there
before it is reported (the strict mode).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, cast

from .._config import DnsOptions
from .._exceptions import ConfigError, InvalidTarget, ResolverError
from .._models import DnsAnswer, DnsResult, ErrorInfo, ErrorKind, Record
from ..dnsproto.consensus import Verifier, agree, records_of
from ..dnsproto.lane import LaneReply, QueryLane
from ..dnsproto.resolver import FastResolver, Reply, ResolveError, Upstream
from ..dnsproto.servers import check_resolvers
from ..dnsproto.wildcard import WildcardFilter
from ..dnsproto.wire import RCODES, Message, type_code, type_name

if TYPE_CHECKING:
    from ..engine.protocols import Settle

__all__ = ["DnsProbe", "check_resolvers_answer"]

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NAME = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9_-]{1,63}(?<!-))*")
_KINDS = {
    "timeout": ErrorKind.TIMEOUT,
    "protocol": ErrorKind.PROTOCOL,
    "too_large": ErrorKind.TOO_LARGE,
    "dns": ErrorKind.DNS,
}


_Answer = tuple[str, int, int, str]
_PREFETCH_MAX = 65_536  # replies held for probe() after a fast attempt found answers
_NXDOMAIN_ERROR = ErrorInfo(ErrorKind.DNS, "NXDOMAIN")
# What _settled returns for a found name held for a second resolver's opinion.
_HELD = DnsResult(input="", name="")
log = logging.getLogger("aioscout")


class _Resolver(Protocol):
    async def resolve(self, name: str, qtype: int) -> Reply: ...


def _normalise(text: str, what: str) -> str:
    if len(text) <= 253 and _NAME.fullmatch(text):
        return text  # already a normal name: the bulk of a wordlist
    name = text.strip().rstrip(".").lower()
    if not name:
        raise InvalidTarget(f"empty {what}")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidTarget(f"not a valid {what}: {text!r}") from exc
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise InvalidTarget(f"not a valid {what}: {text!r}")
    return name


class _SystemResolver:
    """The system's resolver through dnspython (no fast path; never used in tests)."""

    def __init__(self, timeout: float) -> None:
        import dns.asyncresolver

        self._res = dns.asyncresolver.Resolver()
        self._res.lifetime = timeout * 3
        self._res.timeout = timeout

    async def resolve(self, name: str, qtype: int) -> Reply:
        import dns.exception
        import dns.rdatatype
        import dns.resolver

        try:
            rdtype = dns.rdatatype.RdataType.make(qtype)
            ans = await self._res.resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return Reply(3, [], "system", 1)
        except dns.resolver.NoNameservers:
            return Reply(2, [], "system", 1)
        except dns.exception.Timeout as exc:
            raise ResolveError("timeout", str(exc), 1, "system") from exc
        except dns.exception.DNSException as err:
            raise ResolveError("protocol", str(err), 1, "system") from err
        answers = [
            (rrset.name.to_text().rstrip(".").lower(), int(rrset.rdtype), rrset.ttl, rd.to_text())
            for rrset in ans.response.answer
            for rd in rrset
        ]
        return Reply(ans.response.rcode(), answers, "system", 1)


class DnsProbe:
    """Resolves names; with ``domains``, each input line is a word tried under each domain.

    Example::

        probe = DnsProbe(DnsOptions(resolvers=("127.0.0.1:5353",)), domains=["lab.test"])
        await probe.start()
        for target in probe.expand("www"):
            record = await probe.probe("www", target)

    Records are :class:`aioscout.DnsResult`. A wildcard match gets ``wildcard=True``
    and is not "found" (see :meth:`is_found`) unless ``keep_wildcards``.
    """

    def __init__(self, options: DnsOptions, *, domains: Sequence[str] = ()) -> None:
        self.options = options
        try:
            self.qtypes = [type_code(t) for t in options.types] or [1]
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        try:
            self.domains = [_normalise(d, "domain") for d in domains]
        except InvalidTarget as err:
            raise ConfigError(str(err)) from err
        check_resolvers(options.resolvers)
        check_resolvers(options.trusted_resolvers)
        self._resolver: _Resolver | None = None
        self._fast: FastResolver | None = None
        self._trusted: FastResolver | None = None
        self._wildcards: WildcardFilter | None = None
        self._verifier: Verifier | None = None
        self._prefetched: dict[str, Reply] = {}
        self._second: QueryLane | None = None  # asks found names of the lane a second resolver
        self._asking: list[tuple[tuple[int, str, str], Reply, float]] = []

    # -- the Probe protocol ---------------------------------------------------

    def expand(self, line: str) -> Iterable[str]:
        """The names to resolve for one input line (a word × every domain, or the name).

        Mostly a list, not a generator: this runs once per input line.
        """
        if not self.domains:
            return (_normalise(line, "name"),)
        word = _normalise(line, "word")
        if len(self.domains) == 1:
            name = f"{word}.{self.domains[0]}"
            if len(name) <= 253:
                return (name,)
        names = [f"{word}.{domain}" for domain in self.domains]
        if max(map(len, names)) > 253:
            return self._expand_long(names)
        return names

    @staticmethod
    def _expand_long(names: list[str]) -> Iterator[str]:
        """The names up to the first that is too long, then the error for that one."""
        for name in names:
            if len(name) > 253:
                raise InvalidTarget(f"{name!r} is longer than 253 characters")
            yield name

    def host_of(self, target: str) -> str:
        """Every name is its own host (names do not share a per-host cap)."""
        return target

    def identity(self, target: str) -> str:
        """A name is its identity."""
        return target

    def failed(self, line: str, target: str | None, error: ErrorInfo) -> DnsResult:
        """The record for a name the engine gave up on."""
        return DnsResult(input=line, name=target or line.strip(), error=error)

    def is_found(self, record: Record) -> bool:
        """Whether a record is a name that exists (what ``--only-found`` prints)."""
        return (
            isinstance(record, DnsResult)
            and record.error is None
            and bool(record.answers)
            and (self.options.keep_wildcards or not record.wildcard)
        )

    def own_filter(self) -> Callable[[Record], bool] | None:
        """With ``only_found``, :meth:`is_found`: the engine writes only names that exist.

        The engine applies it wherever this probe runs (``protocols.OwnFilter``),
        so the lane settles every plain NXDOMAIN (the bulk of a brute force) as
        only counted, without a record.
        """
        return self.is_found if self.options.only_found else None

    def open_lane(self, settle: Settle) -> QueryLane | None:
        """The engine's fast path: queries sent in bulk, settled in batches (see engine._stream).

        An item is settled with its record when one reply settles it (NXDOMAIN,
        the bulk of a brute force, or answers whose wildcard levels are known
        already), or with ``None`` when it needs :meth:`probe` (a wildcard level
        to sample, or the attempt timed out, failed or was truncated); a reply
        with answers is then kept so that :meth:`probe` does not ask again.
        ``None`` when the lane does not apply (trusted resolvers, several
        record types, the system's resolver).
        """
        fast = self._fast
        if fast is None or self._trusted is not None or len(self.qtypes) != 1:
            return None
        batch = functools.partial(self._lane_batch, settle)
        if self._verifier is not None and self._verifier.applies:
            if self._second is not None:
                self._second.close()
            second = functools.partial(self._second_batch, settle)
            self._second = QueryLane(
                fast, self.qtypes[0], second, count_nxdomain=False, second_opinion=True
            )
        return QueryLane(fast, self.qtypes[0], batch, count_nxdomain=self.options.only_found)

    def _lane_batch(self, settle: Settle, nxdomain: list[object], replies: list[LaneReply]) -> None:
        """One batch from the lane: the records (or ``None`` for :meth:`probe`) to settle.

        A found name waiting for a second opinion is not settled yet: its
        question goes to another resolver through the second lane.
        """
        items = cast(list[tuple[int, str, str]], nxdomain)
        done: list[tuple[tuple[int, str, str], Record | None]] = []
        counted: tuple[str | None, list[int]] | None = None
        if items:  # only counted (see own_filter): the numbers travel, not a record each
            counted = (str(ErrorKind.DNS), [item[0] for item in items])
        for raw, res, label, took in replies:
            item = cast(tuple[int, str, str], raw)
            record = self._settled(item, res, label, took)
            if record is not _HELD:
                done.append((item, record))
        if self._asking:
            self._ask_second(done)
        settle(done, counted)

    def _ask_second(self, done: list[tuple[tuple[int, str, str], Record | None]]) -> None:
        """Send the found names of a batch to a second resolver (the second lane); those
        it cannot take go to :meth:`probe`, which confirms them its own way."""
        asking, self._asking = self._asking, []
        assert self._fast is not None
        by_label = {u.label: u for u in self._fast.upstreams}
        sent = 0
        if self._second is not None:
            sent, _wait = self._second.start(
                [(*item, by_label.get(reply.resolver), reply, took) for item, reply, took in asking]
            )
        for item, reply, _took in asking[sent:]:
            self._hold(item[2], reply)
            done.append((item, None))

    def _second_batch(
        self, settle: Settle, _nxdomain: list[object], replies: list[LaneReply]
    ) -> None:
        """Second opinions from the second lane: a found name whose answer another resolver
        agrees with is settled with the records both gave; any other goes to :meth:`probe`."""
        done: list[tuple[tuple[int, str, str], Record | None]] = []
        qtype = self.qtypes[0]
        for raw, res, _label, took in replies:
            seq, line, name, _up, first, took_first = cast(
                tuple[int, str, str, Upstream, Reply, float], raw
            )
            item = (seq, line, name)
            if isinstance(res, Message) and res.rcode == 0 and res.answers and not res.truncated:
                mine, theirs = records_of(first.answers), records_of(res.answers)
                if agree(mine, theirs, qtype):
                    both = mine & theirs
                    kept = [a for a in first.answers if (a[1], a[3].lower()) in both]
                    result, _ = self._build(name, [(qtype, Reply(0, kept, first.resolver, 2))])
                    result.input = line
                    result.time_ms = round((took_first + took) * 1000, 3)
                    if self._verifier is not None:
                        self._verifier.confirmed += 1
                    done.append((item, result))
                    continue
            self._hold(name, first)
            done.append((item, None))
        settle(done, None)

    def _hold(self, target: str, reply: Reply) -> None:
        """Keep a reply for :meth:`probe`, which then does not ask again."""
        if len(self._prefetched) >= _PREFETCH_MAX:
            self._prefetched.clear()
        self._prefetched[target] = reply

    def _settled(
        self, item: tuple[int, str, str], res: Message | str | None, label: str, took: float
    ) -> DnsResult | None:
        """The record one lane reply settles, ``None`` when :meth:`probe` must finish it, or
        :data:`_HELD` when a second resolver is to be asked first."""
        if not isinstance(res, Message) or res.truncated:
            return None
        target = item[2]
        if res.rcode == 3 and not res.answers:
            return DnsResult(
                input=item[1],
                name=target,
                rcode="NXDOMAIN",
                resolver=label,
                attempts=1,
                error=_NXDOMAIN_ERROR,
                time_ms=round(took * 1000, 3),
            )
        if res.rcode not in (0, 3):
            return None
        qtype = self.qtypes[0]
        reply = Reply(res.rcode, res.answers, label, 1)
        wildcards = self._wildcards
        verdict = (
            False
            if wildcards is None
            else wildcards.decided(target, res.answers, qtype, self._apex(target))
        )
        if verdict is None:  # a wildcard level to sample first: probe() does it
            self._hold(target, reply)
            return None
        verifier = self._verifier
        if not verdict and verifier is not None and verifier.applies:
            if verifier.has_second:
                self._asking.append((item, reply, took))  # found: a second resolver must agree
                return _HELD
            if self._fast is not None and label in self._fast.dropped:
                self._hold(target, reply)  # from a resolver dropped since: probe() asks again
                return None
        result, _ = self._build(target, [(qtype, reply)])
        result.input = item[1]
        result.wildcard = verdict and result.error is None
        result.time_ms = round(took * 1000, 3)
        return result

    async def start(self) -> None:
        """Open the resolver sockets and health-check the resolvers."""
        o = self.options
        try:
            if o.resolvers:
                self._fast = FastResolver(
                    o.resolvers,
                    timeout=o.query_timeout,
                    retries=o.query_retries,
                    rate=o.per_resolver_rate,
                    sockets=o.sockets,
                )
                await self._fast.start()
                try:
                    await self._fast.check([(d, 6) for d in self.domains])
                except ResolverError as err:
                    if not o.trusted_resolvers:
                        raise
                    for up in self._fast.active:
                        self._fast.drop(up, "no usable answer in the health check")
                    log.warning("%s; the trusted resolvers answer alone", err)
                self._resolver = self._fast
            else:
                self._resolver = _SystemResolver(o.query_timeout)
            if o.trusted_resolvers:
                self._trusted = FastResolver(
                    o.trusted_resolvers, timeout=o.query_timeout, retries=o.query_retries, sockets=1
                )
                await self._trusted.start()
                try:
                    await self._trusted.check([(d, 6) for d in self.domains])
                except ResolverError as err:
                    raise ResolverError(f"--trusted-resolver: {err}") from err
        except ResolverError:
            await self.aclose()
            raise
        except ValueError as exc:
            await self.aclose()
            raise ConfigError(str(exc)) from exc
        if self._fast is not None:
            self._verifier = Verifier(self._fast, referee=self._trusted)
            await self._verifier.screen(self.domains, self.qtypes[0])
        if o.wildcard_checks > 0:
            self._wildcards = WildcardFilter(self._resolve_pair, checks=o.wildcard_checks)

    async def aclose(self) -> None:
        """Close the resolver sockets."""
        if self._second is not None:
            self._second.close()
            self._second = None
        for res in (self._fast, self._trusted):
            if res is not None:
                await res.aclose()
        self._fast = self._trusted = None

    # -- resolving ------------------------------------------------------------

    async def _resolve_pair(
        self, name: str, qtype: int
    ) -> tuple[int, list[tuple[str, int, int, str]]]:
        """A wildcard check's question: through the trusted resolvers when given, else
        confirmed by a second resolver when there are several (a liar's invented
        answers would otherwise make a level look like a wildcard)."""
        resolver = self._trusted or self._primary()
        reply = await resolver.resolve(name, qtype)
        verifier = self._verifier
        if reply.answers and resolver is self._fast and verifier is not None and verifier.applies:
            confirmed = await verifier.confirm(name, qtype, reply, sample=True)
            if confirmed is None:
                return 3, []
            reply = confirmed
        return reply.rcode, reply.answers

    def _primary(self) -> _Resolver:
        """The resolvers names go to: the trusted ones once every other one is dropped."""
        assert self._resolver is not None
        fast = self._fast
        if fast is not None and self._trusted is not None and not fast.active:
            return self._trusted
        return self._resolver

    def _apex(self, name: str) -> str:
        for d in self.domains:
            if name.endswith("." + d):
                return d
        labels = name.split(".")
        return ".".join(labels[-2:]) if len(labels) > 2 else name

    async def _outcomes(
        self, resolver: _Resolver, name: str
    ) -> list[tuple[int, Reply | ResolveError]]:
        """The reply (or failure) for every asked type."""
        outcomes: list[tuple[int, Reply | ResolveError]] = []
        prefetched = self._prefetched.pop(name, None) if resolver is self._fast else None
        for qtype in self.qtypes:
            try:
                outcomes.append((qtype, prefetched or await resolver.resolve(name, qtype)))
            except ResolveError as exc:
                outcomes.append((qtype, exc))
        return outcomes

    async def _lookup(self, resolver: _Resolver, name: str) -> tuple[DnsResult, int]:
        """Resolve every asked type; returns the record and the first type that answered."""
        return self._build(name, await self._outcomes(resolver, name))

    async def _confirmed(
        self, verifier: Verifier, name: str, outcomes: list[tuple[int, Reply | ResolveError]]
    ) -> list[tuple[int, Reply | ResolveError]]:
        """Every answer confirmed by a second resolver; an unconfirmed one becomes an error."""
        out: list[tuple[int, Reply | ResolveError]] = []
        for qtype, reply in outcomes:
            if isinstance(reply, Reply) and reply.answers:
                checked = await verifier.confirm(name, qtype, reply)
                if checked is None:
                    detail = "not confirmed: the resolvers disagree on this name"
                    out.append((qtype, ResolveError("dns", detail, reply.attempts, reply.resolver)))
                    continue
                reply = checked
            out.append((qtype, reply))
        return out

    @staticmethod
    def _build(
        name: str, outcomes: Sequence[tuple[int, Reply | ResolveError]]
    ) -> tuple[DnsResult, int]:
        """The record of a name from the outcome of each asked type; the first type answering."""
        result = DnsResult(input="", name=name)
        seen: set[tuple[str, str, str]] = set()
        first_type = 0
        error: ErrorInfo | None = None
        rcode: int | None = None
        for qtype, reply in outcomes:
            if isinstance(reply, ResolveError):
                result.attempts += reply.attempts
                result.resolver = result.resolver or reply.resolver
                error = error or ErrorInfo(_KINDS.get(reply.kind, ErrorKind.DNS), reply.detail)
                continue
            result.attempts += reply.attempts
            result.resolver = result.resolver or reply.resolver
            if rcode is None or (rcode != 0 and reply.rcode == 0):
                rcode = reply.rcode
            tname = type_name(qtype)
            if any(t == qtype for _o, t, _ttl, _d in reply.answers):
                result.types.append(tname)
            if reply.answers and not first_type:
                first_type = qtype
            for owner, rtype, ttl, data in reply.answers:
                key = (owner, type_name(rtype), data)
                if key in seen:
                    continue
                seen.add(key)
                result.answers.append(DnsAnswer(owner, key[1], ttl, data))
                if rtype == 5 and data not in result.cname_chain:
                    result.cname_chain.append(data)
        result.rcode = RCODES.get(rcode, str(rcode)) if rcode is not None else None
        if not result.answers:
            if rcode is not None and rcode != 0:
                result.error = ErrorInfo(ErrorKind.DNS, result.rcode or "")
            elif error is not None:
                result.error = error
            else:
                result.error = ErrorInfo(ErrorKind.DNS, "no answer (NOERROR without records)")
        return result, first_type

    async def probe(self, line: str, target: str) -> DnsResult:
        """Resolve one name; never raises for DNS trouble (the record carries the error)."""
        if self._resolver is None:
            raise RuntimeError("DnsProbe.start() was not awaited")
        t0 = time.perf_counter()
        resolver = self._primary()
        outcomes = await self._outcomes(resolver, target)
        result, qtype = self._build(target, outcomes)
        await self._mark_wildcard(result, qtype)
        verifier = self._verifier
        if result.error is None and not result.wildcard:
            if self._trusted is not None and resolver is not self._trusted:
                result = await self._trusted_check(target, result)
            elif verifier is not None and verifier.applies:
                checked, qtype = self._build(
                    target, await self._confirmed(verifier, target, outcomes)
                )
                checked.attempts = max(checked.attempts, result.attempts)
                if checked.error is None and checked.answers != result.answers:
                    await self._mark_wildcard(checked, qtype)
                result = checked
        result.input = line
        result.time_ms = round((time.perf_counter() - t0) * 1000, 3)
        return result

    async def _mark_wildcard(self, result: DnsResult, qtype: int) -> None:
        if result.error is None and self._wildcards is not None:
            pairs = [(a.name, type_code(a.type), a.ttl, a.data) for a in result.answers]
            result.wildcard = await self._wildcards.is_wildcard(
                result.name, pairs, qtype, self._apex(result.name)
            )

    async def _trusted_check(self, target: str, result: DnsResult) -> DnsResult:
        """The strict mode: the trusted resolvers' answer replaces a found one; a resolver
        whose answers they contradict is struck (and dropped the second time)."""
        assert self._trusted is not None
        checked, _ = await self._lookup(self._trusted, target)
        checked.attempts += result.attempts
        if checked.error is not None:
            checked.error = ErrorInfo(
                checked.error.kind,
                f"not confirmed by a trusted resolver: {checked.error.detail}",
            )
        fast, verifier = self._fast, self._verifier
        up = fast.upstream(result.resolver or "") if fast is not None else None
        if up is not None and verifier is not None and checked.rcode in ("NOERROR", "NXDOMAIN"):
            mine = {(type_code(a.type), a.data.lower()) for a in result.answers}
            theirs = {(type_code(a.type), a.data.lower()) for a in checked.answers}
            verifier.judge(up, agree(mine, theirs, self.qtypes[0]), target)
        return checked


async def check_resolvers_answer(options: DnsOptions, domains: Sequence[str] = ()) -> None:
    """Raise :class:`aioscout.ConfigError` when no resolver of ``options`` is usable.

    The health check a run starts with, done once by a command that hands its
    run to worker processes (each checks again, quietly when this passed), so
    that a dead resolver list is one clear error instead of failing workers.
    """
    if not options.resolvers:
        return
    names = [_normalise(d, "domain") for d in domains]
    quiet = logging.getLogger("aioscout")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the run's own check names the resolvers it drops
    try:
        for specs in (options.resolvers, options.trusted_resolvers):
            if not specs:
                continue
            fast = FastResolver(specs, timeout=options.query_timeout, retries=0, sockets=1)
            await fast.start()
            trusted = specs is options.trusted_resolvers
            try:
                await fast.check([(d, 6) for d in names])
            except ResolverError as exc:
                if trusted or not options.trusted_resolvers:
                    prefix = "--trusted-resolver: " if trusted else ""
                    raise ResolverError(f"{prefix}{exc}") from exc
            finally:
                await fast.aclose()
    finally:
        quiet.setLevel(level)

"""The lab's DNS data: a zone with ground truth, and the synthetic ``lab.test`` zone.

A :class:`Zone` answers questions itself (:meth:`Zone.lookup`) with records
already in wire form, so the server only frames them. Wildcards follow RFC
4592: a name that does not exist is synthesised from ``*.<closest encloser>``
when that wildcard exists, and a name below an existing node (an empty
non-terminal included) without a wildcard there is NXDOMAIN.

The bulk names of :func:`build_lab_zone` are not stored: label ``i`` is an
affine permutation of ``i`` written in 2-letter syllables, so a label decodes
back to its index and the zone holds 100,000 names in constant memory.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "RCODE_NOERROR",
    "RCODE_NXDOMAIN",
    "RCODE_REFUSED",
    "RCODE_SERVFAIL",
    "RTYPES",
    "LabZone",
    "Lookup",
    "Zone",
    "build_lab_zone",
    "encode_name",
    "lab_wordlist",
]

RTYPES: dict[str, int] = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "PTR": 12,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "ANY": 255,
}
RCODE_NOERROR = 0
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_REFUSED = 5
_CNAME = 5
_MAX_CHAIN = 16

# (owner, rtype, ttl, rdata) with rdata already in wire form (no compression).
WireRR = tuple[str, int, int, bytes]


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def encode_name(name: str) -> bytes:
    """Uncompressed wire form of a domain name (``""`` is the root)."""
    out = bytearray()
    for label in _norm(name).split(".") if name.strip(".") else ():
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad label in {name!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    return bytes(out)


def _rdata(rtype: str, data: str) -> bytes:
    """Wire rdata for the text form of a record of the supported types."""
    if rtype == "A":
        return ipaddress.IPv4Address(data).packed
    if rtype == "AAAA":
        return ipaddress.IPv6Address(data).packed
    if rtype in ("CNAME", "NS", "PTR"):
        return encode_name(data)
    if rtype == "MX":
        pref, host = data.split(None, 1)
        return struct.pack("!H", int(pref)) + encode_name(host)
    if rtype == "TXT":
        raw = data.encode()
        return b"".join(
            bytes([len(c)]) + c for c in (raw[i : i + 255] for i in range(0, len(raw) or 1, 255))
        )
    if rtype == "SOA":
        mname, rname, *nums = data.split()
        return encode_name(mname) + encode_name(rname) + struct.pack("!5I", *map(int, nums))
    raise ValueError(f"unsupported record type {rtype!r}")


@dataclass(slots=True)
class _Wildcard:
    records: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)
    rotate: list[bytes] = field(default_factory=list)
    rotate_size: int = 2
    ttl: int = 60
    counter: int = 0


@dataclass(slots=True)
class Lookup:
    """The zone's answer to one question: rcode, answer and authority records.

    ``rcode`` is ``None`` for a name that never answers (the server stays silent).
    """

    rcode: int | None
    answers: list[WireRR]
    authority: list[WireRR]
    wildcard: bool = False


class Zone:
    """An authoritative zone with ground truth, for the lab DNS server.

    Example::

        zone = Zone("lab.test")
        zone.add("www.lab.test", "A", "127.0.0.10")
        zone.add_wildcard("wild.lab.test", "A", "127.0.1.1")
    """

    def __init__(self, origin: str) -> None:
        self.origin = _norm(origin)
        self._records: dict[str, dict[int, list[tuple[int, bytes]]]] = {}
        self._wildcards: dict[str, _Wildcard] = {}
        self._nodes: set[str] = {self.origin}
        self._servfail: set[str] = set()
        self._silent: set[str] = set()
        self._soa: WireRR = (
            self.origin,
            RTYPES["SOA"],
            60,
            _rdata("SOA", f"ns1.{self.origin} hostmaster.{self.origin} 1 3600 600 86400 60"),
        )
        self._rng = random.Random(0)

    # -- building ---------------------------------------------------------

    def _touch(self, name: str) -> None:
        while name and name not in self._nodes:
            self._nodes.add(name)
            name = name.partition(".")[2]

    def add(self, name: str, rtype: str, data: str, ttl: int = 60) -> None:
        """Add one record; ``data`` is its text form (``"10 mx.lab.test"`` for MX)."""
        name, rtype = _norm(name), rtype.upper()
        if rtype == "SOA" and name == self.origin:
            self._soa = (name, RTYPES["SOA"], ttl, _rdata("SOA", data))
        self._records.setdefault(name, {}).setdefault(RTYPES[rtype], []).append(
            (ttl, _rdata(rtype, data))
        )
        self._touch(name)

    def add_wildcard(
        self,
        parent: str,
        rtype: str = "A",
        data: str | None = None,
        *,
        ttl: int = 60,
        rotate: list[str] | None = None,
        rotate_size: int = 2,
    ) -> None:
        """Answer any name under ``parent`` not otherwise defined.

        With ``rotate``, each query is answered with a different run of
        ``rotate_size`` addresses from that pool (A records).
        """
        parent = _norm(parent)
        wc = self._wildcards.setdefault(parent, _Wildcard(ttl=ttl))
        if rotate:
            wc.rotate = [_rdata("A", ip) for ip in rotate]
            wc.rotate_size = max(1, min(rotate_size, len(rotate)))
        if data is not None:
            wc.records.setdefault(RTYPES[rtype.upper()], []).append(
                (ttl, _rdata(rtype.upper(), data))
            )
        self._touch(parent)

    def add_servfail(self, name: str) -> None:
        """Make ``name`` answer SERVFAIL for every type."""
        self._servfail.add(_norm(name))

    def add_silent(self, name: str) -> None:
        """Make ``name`` never answer (the client times out)."""
        self._silent.add(_norm(name))

    # -- generated names (overridden by LabZone) ---------------------------

    def _generated(self, name: str) -> dict[int, list[tuple[int, bytes]]] | None:
        return None

    def _generated_names(self) -> Iterator[str]:
        return iter(())

    # -- ground truth -----------------------------------------------------

    def existing_names(self) -> Iterator[str]:
        """Every name that exists with at least one record (wildcards excluded)."""
        yield from self._records
        yield from self._generated_names()

    def exists(self, name: str) -> bool:
        """Whether ``name`` has records of its own (not synthesised by a wildcard)."""
        name = _norm(name)
        return name in self._records or self._generated(name) is not None

    def wildcard_parents(self) -> list[str]:
        """The parents that carry a wildcard (``wild.lab.test`` for ``*.wild.lab.test``)."""
        return sorted(self._wildcards)

    def is_wildcard(self, name: str) -> bool:
        """Whether ``name`` is answered only by wildcard synthesis."""
        name = _norm(name)
        if self.exists(name) or name in self._nodes:
            return False
        return self._synth_parent(name) is not None

    # -- answering --------------------------------------------------------

    def _synth_parent(self, name: str) -> str | None:
        """The wildcard parent that synthesises ``name``, per the closest encloser rule."""
        anc = name.partition(".")[2]
        while anc:
            if anc in self._wildcards:
                return anc
            if anc in self._nodes:
                return None
            anc = anc.partition(".")[2]
        return None

    def _node(self, name: str) -> tuple[dict[int, list[tuple[int, bytes]]] | None, bool]:
        recs = self._records.get(name)
        if recs is not None:
            return recs, False
        gen = self._generated(name)
        if gen is not None:
            return gen, False
        if name in self._nodes:
            return {}, False
        parent = self._synth_parent(name)
        if parent is None:
            return None, False
        wc = self._wildcards[parent]
        if not wc.rotate:
            return wc.records, True
        n, k = len(wc.rotate), wc.rotate_size
        start = wc.counter % n
        wc.counter += 1 + self._rng.randrange(n)
        picked = [(wc.ttl, wc.rotate[(start + j) % n]) for j in range(k)]
        return {**wc.records, RTYPES["A"]: picked}, True

    def lookup(self, qname: str, qtype: int) -> Lookup:
        """Answer one question: follows CNAME chains inside the zone."""
        name = _norm(qname)
        if name in self._silent:
            return Lookup(None, [], [])
        if name in self._servfail:
            return Lookup(RCODE_SERVFAIL, [], [])
        answers: list[WireRR] = []
        synthesised = False
        for _ in range(_MAX_CHAIN):
            recs, wild = self._node(name)
            synthesised = synthesised or wild
            if recs is None:
                return Lookup(RCODE_NXDOMAIN, answers, [self._soa], synthesised)
            if qtype in recs or (qtype == 255 and recs):
                types = recs if qtype == 255 else {qtype: recs[qtype]}
                answers.extend((name, t, ttl, rd) for t, rrs in types.items() for ttl, rd in rrs)
                return Lookup(RCODE_NOERROR, answers, [], synthesised)
            cname = recs.get(_CNAME)
            if cname is None:
                return Lookup(RCODE_NOERROR, answers, [] if answers else [self._soa], synthesised)
            ttl, rd = cname[0]
            answers.append((name, _CNAME, ttl, rd))
            name = _decode_plain_name(rd)
            if name.partition(".")[2] and not (
                name == self.origin or name.endswith("." + self.origin)
            ):
                break
        return Lookup(RCODE_NOERROR, answers, [], synthesised)


def _decode_plain_name(wire: bytes) -> str:
    labels, i = [], 0
    while wire[i]:
        n = wire[i]
        labels.append(wire[i + 1 : i + 1 + n].decode("ascii"))
        i += 1 + n
    return ".".join(labels)


# -- the synthetic lab zone ------------------------------------------------

_CONSONANTS = "bcdfghjklmnprstv"
_VOWELS = "aeio"
_SYLLABLES = [c + v for c in _CONSONANTS for v in _VOWELS]  # 64
_SYL_INDEX = {s: i for i, s in enumerate(_SYLLABLES)}
_DIGITS = 4
_SPACE = 64**_DIGITS


class LabZone(Zone):
    """The zone of :func:`build_lab_zone`: a :class:`Zone` plus generated bulk names.

    ``bulk_domain`` holds ``bulk_names`` names ``<label>.bulk.<origin>``; the
    label of index ``i`` is :meth:`label`. Every 50th bulk name is a CNAME to
    the previous one; the rest have one A record in 127.16.0.0/12.
    """

    def __init__(self, origin: str, bulk_names: int, seed: int) -> None:
        super().__init__(origin)
        if not 0 <= bulk_names < _SPACE // 2:
            raise ValueError("bulk_names out of range")
        self.bulk_names = bulk_names
        self.bulk_domain = f"bulk.{self.origin}"
        rng = random.Random(seed)
        self._mul = rng.randrange(_SPACE // 4, _SPACE) | 1
        self._add = rng.randrange(_SPACE)
        self._inv = pow(self._mul, -1, _SPACE)
        self._suffix = "." + self.bulk_domain
        self._touch(self.bulk_domain)

    def label(self, index: int) -> str:
        """The bulk label of ``index`` (existing below ``bulk_names``, absent above)."""
        v = (index * self._mul + self._add) % _SPACE
        out = []
        for _ in range(_DIGITS):
            v, d = divmod(v, 64)
            out.append(_SYLLABLES[d])
        return "".join(out)

    def index_of(self, label: str) -> int | None:
        """The index a bulk label encodes, or ``None`` for a label of another shape."""
        if len(label) != 2 * _DIGITS:
            return None
        v = 0
        for j in range(_DIGITS - 1, -1, -1):
            d = _SYL_INDEX.get(label[2 * j : 2 * j + 2])
            if d is None:
                return None
            v = v * 64 + d
        index: int = ((v - self._add) * self._inv) % _SPACE
        return index

    @staticmethod
    def bulk_address(index: int) -> str:
        """The A record of bulk name ``index``."""
        return f"127.{16 + (index >> 16) % 200}.{(index >> 8) & 255}.{index & 255}"

    def _generated(self, name: str) -> dict[int, list[tuple[int, bytes]]] | None:
        if not name.endswith(self._suffix):
            return None
        label = name[: -len(self._suffix)]
        i = self.index_of(label)
        if i is None or i >= self.bulk_names:
            return None
        if i % 50 == 49:
            target = f"{self.label(i - 1)}{self._suffix}"
            return {_CNAME: [(60, encode_name(target))]}
        return {1: [(60, _rdata("A", self.bulk_address(i)))]}

    def _generated_names(self) -> Iterator[str]:
        for i in range(self.bulk_names):
            yield self.label(i) + self._suffix

    def wordlist(self, missing: int | None = None) -> Iterator[str]:
        """Brute-force words for ``bulk_domain``: every existing label plus ``missing`` absent ones.

        ``missing`` defaults to a fifth of the bulk names (100k names → 120k words).
        Existing and absent words are interleaved deterministically.
        """
        extra = self.bulk_names // 5 if missing is None else missing
        total = self.bulk_names + extra
        # Spread the absent words evenly among the existing ones.
        j = 0
        for i in range(self.bulk_names):
            yield self.label(i)
            while j < extra and (j + 1) * self.bulk_names <= (i + 1) * extra:
                yield self.label(self.bulk_names + j)
                j += 1
        while j < extra:
            yield self.label(self.bulk_names + j)
            j += 1
        assert total == self.bulk_names + j


def lab_wordlist(zone: LabZone, missing: int | None = None) -> Iterator[str]:
    """The brute-force wordlist of ``zone.bulk_domain``: see :meth:`LabZone.wordlist`."""
    return zone.wordlist(missing)


def build_lab_zone(origin: str = "lab.test", bulk_names: int = 100_000, seed: int = 0) -> LabZone:
    """The lab's synthetic zone: bulk names, wildcards, CNAME chains, failures.

    Under ``origin`` (``lab.test``):

    - ``bulk.lab.test``: ``bulk_names`` generated names (see :class:`LabZone`);
    - ``www``, ``mail`` (MX), ``ns1`` (NS), ``txt`` (TXT), ``v6`` (AAAA),
      ``ptr`` (PTR), ``big`` (100 A records: truncated over UDP, even with EDNS 1232);
    - CNAME chain ``c1`` → ``c2`` → ``c3`` → ``www``, and ``dangling`` → a missing name;
    - ``*.wild`` → 127.0.1.1, with real ``api.wild`` (127.0.1.2) and ``mail.wild`` (127.0.1.3);
    - ``*.wild2`` → 127.0.2.2 and ``*.deep.sub.wild2`` → 127.0.2.1, with real
      ``www.deep.sub.wild2`` (127.0.2.10) and ``real.wild2`` (127.0.2.11);
    - ``*.rot``: rotating pool 127.0.3.1-8, two per answer, with real ``real.rot`` (127.0.3.100);
    - ``*.cwild`` → CNAME ``www``, with real ``app.cwild`` (A 127.0.4.1);
    - ``servfail`` (SERVFAIL) and ``silent`` (never answers).
    """
    z = LabZone(origin, bulk_names, seed)
    o = z.origin
    z.add(o, "SOA", f"ns1.{o} hostmaster.{o} 1 3600 600 86400 60")
    z.add(o, "NS", f"ns1.{o}")
    z.add(o, "MX", f"10 mail.{o}")
    z.add(o, "TXT", "v=lab1")
    z.add(o, "A", "127.0.0.1")
    z.add(f"ns1.{o}", "A", "127.0.0.53")
    z.add(f"www.{o}", "A", "127.0.0.10")
    z.add(f"mail.{o}", "A", "127.0.0.25")
    z.add(f"txt.{o}", "TXT", "hello from the lab")
    z.add(f"v6.{o}", "AAAA", "::ffff:127.0.0.6")
    z.add(f"v6.{o}", "A", "127.0.0.6")
    z.add(f"ptr.{o}", "PTR", f"www.{o}")
    z.add("10.0.0.127.in-addr.arpa", "PTR", f"www.{o}")
    for k in range(100):
        z.add(f"big.{o}", "A", f"127.0.9.{k + 1}")
    z.add(f"c1.{o}", "CNAME", f"c2.{o}")
    z.add(f"c2.{o}", "CNAME", f"c3.{o}")
    z.add(f"c3.{o}", "CNAME", f"www.{o}")
    z.add(f"dangling.{o}", "CNAME", f"nothing-here.{o}")
    z.add_wildcard(f"wild.{o}", "A", "127.0.1.1")
    z.add(f"api.wild.{o}", "A", "127.0.1.2")
    z.add(f"mail.wild.{o}", "A", "127.0.1.3")
    z.add_wildcard(f"wild2.{o}", "A", "127.0.2.2")
    z.add_wildcard(f"deep.sub.wild2.{o}", "A", "127.0.2.1")
    z.add(f"www.deep.sub.wild2.{o}", "A", "127.0.2.10")
    z.add(f"real.wild2.{o}", "A", "127.0.2.11")
    z.add_wildcard(f"rot.{o}", rotate=[f"127.0.3.{k}" for k in range(1, 9)])
    z.add(f"real.rot.{o}", "A", "127.0.3.100")
    z.add_wildcard(f"cwild.{o}", "CNAME", f"www.{o}")
    z.add(f"app.cwild.{o}", "A", "127.0.4.1")
    z.add_servfail(f"servfail.{o}")
    z.add_silent(f"silent.{o}")
    return z

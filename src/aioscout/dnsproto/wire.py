"""A narrow DNS wire codec for the resolver's hot path.

Building a question and reading A/AAAA/CNAME answers by hand is several times
faster than going through ``dns.message`` (bench/dns_bench.py measures both);
every other record type is decoded by dnspython's rdata parser, so MX, TXT,
SOA and the rest stay correct without a hand-written decoder for each.
"""

from __future__ import annotations

import secrets
import socket
import struct
from dataclasses import dataclass

__all__ = [
    "MAX_ANSWERS",
    "RCODES",
    "TYPES",
    "TYPE_NAMES",
    "Message",
    "TooLarge",
    "WireError",
    "build_query",
    "build_question",
    "is_plain_nxdomain",
    "parse_header",
    "parse_response",
    "query_for",
    "random_label",
]

TYPES: dict[str, int] = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "PTR": 12,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "SRV": 33,
    "CAA": 257,
    "ANY": 255,
}
TYPE_NAMES: dict[int, str] = {v: k for k, v in TYPES.items()}
RCODES: dict[int, str] = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
}
MAX_ANSWERS = 1024  # more answer records than this is an oversized, hostile reply
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_QTAIL = struct.Struct("!HH")
_OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"  # EDNS0, 1232-byte payload


class WireError(ValueError):
    """A reply that is not a well-formed DNS message."""


class TooLarge(WireError):
    """A reply with more records than :data:`MAX_ANSWERS`."""


@dataclass(slots=True)
class Message:
    """A parsed reply: header fields, the question and the answer section.

    ``answers`` holds ``(owner, type, ttl, data)`` with names lower-case and
    without the trailing dot, data in presentation form.
    """

    qid: int
    flags: int
    rcode: int
    qname: str
    qtype: int
    answers: list[tuple[str, int, int, str]]

    @property
    def truncated(self) -> bool:
        """The TC bit: the full answer needs TCP."""
        return bool(self.flags & 0x0200)


def random_label(n: int = 12) -> str:
    """A random lower-case DNS label (for names that must not exist)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


_LENGTH_BYTE = [bytes((n,)) for n in range(64)]  # a label's length octet
_QTAILS: dict[int, bytes] = {}  # a question's type and class, by type
_SUFFIXES: dict[str, bytes] = {}  # wire form of recent parents: a brute force shares one
_SUFFIXES_MAX = 4096


def encode_name(name: str) -> bytes:
    """The uncompressed wire form of ``name`` (ASCII, trailing dot optional)."""
    name = name.rstrip(".")
    head, dot, rest = name.partition(".")
    if dot:
        tail = _SUFFIXES.get(rest)
        if tail is None:
            tail = _encode_name(rest)
            if len(_SUFFIXES) >= _SUFFIXES_MAX:
                _SUFFIXES.clear()
            _SUFFIXES[rest] = tail
        label = head.encode("ascii")
        n = len(label)
        if not 0 < n < 64 or n + len(tail) > 254:
            raise ValueError(f"invalid DNS name {name!r}")
        return _LENGTH_BYTE[n] + label + tail
    return _encode_name(name)


def _encode_name(name: str) -> bytes:
    raw = name.encode("ascii")
    out = bytearray()
    if raw:
        for label in raw.split(b"."):
            if not 0 < len(label) < 64:
                raise ValueError(f"invalid DNS name {name!r}")
            out.append(len(label))
            out += label
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"DNS name too long: {name!r}")
    return bytes(out)


def is_plain_nxdomain(data: bytes, question: bytes) -> bool:
    """Whether ``data`` is a complete NXDOMAIN reply, without answers, to ``question``.

    ``question`` is the question section as sent (name in lower case, type,
    class). The cheap check of the brute-force hot path, where most replies
    are NXDOMAIN; ``False`` means "parse it fully", not "invalid".
    """
    end = 12 + len(question)
    if (
        len(data) < end
        or data[3] & 0x0F != 3
        or data[2] & 0x82 != 0x80
        or data[4:8] != b"\x00\x01\x00\x00"
    ):
        return False
    q = data[12:end]
    if q != question and (q[:-4].lower() != question[:-4] or q[-4:] != question[-4:]):
        return False
    n, pos = len(data), end
    for _ in range(((data[8] << 8) | data[9]) + ((data[10] << 8) | data[11])):
        if pos < n and data[pos] >= 0xC0:  # the usual owner: one compression pointer
            pos += 12
        else:
            try:
                pos = _skip_name(data, pos) + 10
            except WireError:
                return False
        if pos > n:
            return False
        pos += (data[pos - 2] << 8) | data[pos - 1]
        if pos > n:
            return False
    return True


def build_question(name: str, qtype: int) -> bytes:
    """The question section of a query for ``name`` (class IN)."""
    tail = _QTAILS.get(qtype)
    if tail is None:
        tail = _QTAILS[qtype] = _QTAIL.pack(qtype, 1)  # at most 65,536 of them
    return encode_name(name) + tail


_RD_EDNS_HEAD = _HEADER.pack(0, 0x0100, 1, 0, 0, 1)[2:]


def query_for(qid: int, question: bytes) -> bytes:
    """A recursive query with EDNS0 for a question from :func:`build_question`."""
    return qid.to_bytes(2, "big") + _RD_EDNS_HEAD + question + _OPT


def build_query(qid: int, name: str, qtype: int, *, edns: bool = True, rd: bool = True) -> bytes:
    """One query message: header, one question, an EDNS0 OPT record when ``edns``."""
    head = _HEADER.pack(qid, 0x0100 if rd else 0, 1, 0, 0, 1 if edns else 0)
    return head + encode_name(name) + _QTAIL.pack(qtype, 1) + (_OPT if edns else b"")


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    """Decode a possibly compressed name at ``pos``; returns (name, end of name field)."""
    labels: list[bytes] = []
    end = -1
    jumps = 0
    total = 0
    n = len(data)
    while True:
        if pos >= n:
            raise WireError("name runs past the end of the message")
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0 == 0xC0:
            if pos + 1 >= n:
                raise WireError("cut compression pointer")
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if end < 0:
                end = pos + 2
            jumps += 1
            if jumps > 64 or target >= pos:
                raise WireError("compression loop")
            pos = target
            continue
        if length & 0xC0:
            raise WireError("unknown label type")
        label = data[pos + 1 : pos + 1 + length]
        if len(label) != length:
            raise WireError("label runs past the end of the message")
        total += length + 1
        if total > 255:
            raise WireError("name too long")
        labels.append(label)
        pos += 1 + length
    try:
        name = b".".join(labels).decode("ascii").lower()
    except UnicodeDecodeError:
        name = b".".join(labels).decode("latin-1").lower()
    return name, (end if end >= 0 else pos)


def _skip_name(data: bytes, pos: int) -> int:
    n = len(data)
    while True:
        if pos >= n:
            raise WireError("name runs past the end of the message")
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + length


def parse_header(data: bytes) -> tuple[int, int, str, int, int]:
    """(id, flags, qname, qtype, end of question): enough to match a reply to its query."""
    if len(data) < 12:
        raise WireError("short header")
    qid, flags, qd, _an, _ns, _ar = _HEADER.unpack_from(data)
    if not flags & 0x8000:
        raise WireError("not a response")
    if qd != 1:
        raise WireError("reply without exactly one question")
    qname, pos = _read_name(data, 12)
    if pos + 4 > len(data):
        raise WireError("cut question")
    qtype = (data[pos] << 8) | data[pos + 1]
    return qid, flags, qname, qtype, pos + 4


def _rdata_text(data: bytes, rtype: int, pos: int, rdlen: int) -> str:
    if rtype == 1:
        if rdlen != 4:
            raise WireError("A record of wrong length")
        return socket.inet_ntoa(data[pos : pos + 4])
    if rtype == 28:
        if rdlen != 16:
            raise WireError("AAAA record of wrong length")
        return socket.inet_ntop(socket.AF_INET6, data[pos : pos + 16])
    if rtype in (5, 2, 12):
        name, end = _read_name(data, pos)
        if end != pos + rdlen:
            raise WireError("name rdata of wrong length")
        return name
    # dnspython only for the record types this module does not decode itself: its
    # import costs each worker process about 20 ms.
    import dns.exception
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    try:
        rdtype = dns.rdatatype.RdataType.make(rtype)
        rd = dns.rdata.from_wire(dns.rdataclass.IN, rdtype, data, pos, rdlen, origin=dns.name.root)
    except (dns.exception.DNSException, ValueError, IndexError) as exc:
        raise WireError(f"bad rdata for type {rtype}: {exc}") from exc
    return rd.to_text(origin=dns.name.root, relativize=False).replace(". ", " ").rstrip(".")


def parse_response(data: bytes) -> Message:
    """Parse a reply's header, question and answer section (authority is skipped).

    Raises :class:`WireError` for anything malformed, :class:`TooLarge` for
    more than :data:`MAX_ANSWERS` answer records.
    """
    qid, flags, qname, qtype, pos = parse_header(data)
    ancount = (data[6] << 8) | data[7]
    if ancount > MAX_ANSWERS:
        raise TooLarge(f"{ancount} answer records")
    answers: list[tuple[str, int, int, str]] = []
    n = len(data)
    for _ in range(ancount):
        owner, pos = _read_name(data, pos)
        if pos + 10 > n:
            raise WireError("cut resource record")
        rtype, _cls, ttl, rdlen = _RR.unpack_from(data, pos)
        pos += 10
        if pos + rdlen > n:
            raise WireError("rdata runs past the end of the message")
        if rtype != 41:
            answers.append((owner, rtype, ttl, _rdata_text(data, rtype, pos, rdlen)))
        pos += rdlen
    # The other sections are not used, but a reply cut short is not trusted either.
    for _ in range(((data[8] << 8) | data[9]) + ((data[10] << 8) | data[11])):
        pos = _skip_name(data, pos) + 10
        if pos > n:
            raise WireError("cut resource record")
        pos += (data[pos - 2] << 8) | data[pos - 1]
        if pos > n:
            raise WireError("rdata runs past the end of the message")
    return Message(qid, flags, flags & 0x0F, qname, qtype, answers)


def type_code(name: str) -> int:
    """The numeric code of a record type name (``"AAAA"`` → 28), dnspython's table as fallback."""
    code = TYPES.get(name.upper())
    if code is not None:
        return code
    import dns.rdatatype

    try:
        return int(dns.rdatatype.from_text(name))
    except dns.rdatatype.UnknownRdatatype as exc:
        raise ValueError(f"unknown DNS record type {name!r}") from exc


def type_name(code: int) -> str:
    """The name of a numeric record type (28 → ``"AAAA"``)."""
    known = TYPE_NAMES.get(code)
    if known is not None:
        return known
    import dns.rdatatype

    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(code))

"""The records aioscout produces: one per input item, success or classified error.

Every record is a slotted dataclass; orjson serialises them directly, so the
field names below are the JSON Lines schema (documented in the README) and
must stay stable. Optional probe fields default to ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "DnsAnswer",
    "DnsResult",
    "ErrorInfo",
    "ErrorKind",
    "FetchResult",
    "HttpResult",
    "PortResult",
    "Record",
    "Records",
    "RedirectHop",
    "SshResult",
    "TlsInfo",
]


class ErrorKind(StrEnum):
    """The closed set of error kinds a record may carry."""

    DNS = "dns"  # name did not resolve (NXDOMAIN, SERVFAIL, no answer)
    REFUSED = "refused"  # TCP connection refused
    RESET = "reset"  # connection reset or closed early by the peer
    UNREACHABLE = "unreachable"  # no route / network unreachable
    TIMEOUT = "timeout"  # a phase exceeded its time budget
    TLS = "tls"  # handshake or certificate failure
    PROTOCOL = "protocol"  # the peer does not speak the protocol correctly
    TOO_LARGE = "too_large"  # a size cap (headers, decompressed body) was exceeded
    REDIRECT_LOOP = "redirect_loop"  # a redirect revisited a URL
    TOO_MANY_REDIRECTS = "too_many_redirects"  # more hops than --max-redirects
    BLOCKED_SCHEME = "blocked_scheme"  # a redirect to a non-http(s) scheme
    INVALID_INPUT = "invalid_input"  # the input line is not a usable target
    DUPLICATE = "duplicate"  # the same target appeared earlier in the input
    PROXY = "proxy"  # the proxy refused or failed the request
    IO = "io"  # local I/O failure (disk full while downloading, ...)
    INTERNAL = "internal"  # a bug: an unexpected exception inside a probe
    HTTP_STATUS = "http_status"  # a download answered 4xx/5xx: no file written
    AUTH = "auth"  # the server accepted none of the credentials offered
    HOST_KEY_MISMATCH = "host_key_mismatch"  # the host key differs from the known one
    HOST_KEY_UNKNOWN = "host_key_unknown"  # no known host key, and none may be accepted


@dataclass(slots=True, frozen=True)
class ErrorInfo:
    """Why a probe failed: a kind from :class:`ErrorKind` and a human detail."""

    kind: ErrorKind
    detail: str


class Record(Protocol):
    """What every record has: the input it answers and an optional error."""

    @property
    def input(self) -> str: ...

    @property
    def error(self) -> ErrorInfo | None: ...


class Records(list[Any]):
    """Several records answering one item: an ``--all-ips`` host gives one per address.

    The engine writes them together (so a checkpoint covers all or none) and
    never retries the group as a whole: each record keeps its own error, and
    the group's ``error`` is always ``None``.
    """

    error: ErrorInfo | None = None

    def __init__(self, input: str, records: Iterable[Record]) -> None:
        super().__init__(records)
        self.input = input


def records_of(record: Record) -> list[Record]:
    """The records ``record`` stands for: itself, or a :class:`Records` group's members."""
    return record if isinstance(record, Records) else [record]


@dataclass(slots=True, frozen=True)
class RedirectHop:
    """One hop of a redirect chain: the URL requested, its status and Location."""

    url: str
    status: int
    location: str


@dataclass(slots=True, frozen=True, kw_only=True)
class TlsInfo:
    """Facts about the TLS session and the peer certificate (reported, not trusted)."""

    version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    subject: str | None = None
    subject_cn: str | None = None
    issuer: str | None = None
    sans: list[str] = field(default_factory=list)
    not_before: str | None = None
    not_after: str | None = None
    self_signed: bool | None = None
    expired: bool | None = None
    fingerprint_sha256: str | None = None


@dataclass(slots=True, kw_only=True)
class HttpResult:
    """One HTTP(S) probe of one target."""

    input: str
    url: str | None = None
    final_url: str | None = None
    scheme: str | None = None
    host: str | None = None
    ip: str | None = None
    port: int | None = None
    status: int | None = None
    title: str | None = None
    content_length: int | None = None
    content_type: str | None = None
    server: str | None = None
    chain: list[RedirectHop] = field(default_factory=list)
    time_ms: float | None = None
    tls: TlsInfo | None = None
    body_sha256: str | None = None
    words: int | None = None
    lines: int | None = None
    headers: dict[str, str] | None = None
    favicon: int | None = None
    favicon_url: str | None = None
    tech: list[str] | None = None
    http2: bool | None = None
    websocket: bool | None = None
    cdn: str | None = None
    body_preview: str | None = None
    stored: str | None = None
    error: ErrorInfo | None = None
    screenshot: str | None = None  # the PNG's path (--screenshot)


@dataclass(slots=True, frozen=True)
class DnsAnswer:
    """One resource record of an answer section."""

    name: str
    type: str
    ttl: int
    data: str


@dataclass(slots=True, kw_only=True)
class DnsResult:
    """The resolution of one name."""

    input: str
    name: str
    types: list[str] = field(default_factory=list)
    answers: list[DnsAnswer] = field(default_factory=list)
    cname_chain: list[str] = field(default_factory=list)
    rcode: str | None = None
    resolver: str | None = None
    attempts: int = 0
    wildcard: bool = False
    time_ms: float | None = None
    error: ErrorInfo | None = None


@dataclass(slots=True, kw_only=True)
class FetchResult:
    """One download: where the body went, how big it is and its sha256."""

    input: str
    url: str | None = None
    status: int | None = None
    path: str | None = None
    size: int | None = None
    sha256: str | None = None
    resumed_from: int | None = None
    time_ms: float | None = None
    error: ErrorInfo | None = None


@dataclass(slots=True, kw_only=True)
class PortResult:
    """One TCP port of one host (``aioscout ports``), or a host's only record.

    ``state`` is ``open``, ``closed`` (refused) or ``filtered`` (no answer
    within the connect timeout, retries included). A host with no open port
    gets one record with ``port`` ``None``, ``state`` ``closed`` (or
    ``filtered`` when no port answered at all) and ``scanned`` the number of
    ports tried. ``service`` comes from what the port said (``ssh``, ``smtp``,
    ``http``, ``tls``, ``tcpwrapped`` for a port that closed before saying
    anything...), never from its number; ``url`` is set for ``http`` and
    ``tls`` ports so ``aioscout http`` can take the record as it is.
    """

    input: str
    host: str | None = None
    ip: str | None = None
    port: int | None = None
    state: str | None = None
    service: str | None = None
    banner: str | None = None
    url: str | None = None
    time_ms: float | None = None
    scanned: int | None = None
    error: ErrorInfo | None = None


@dataclass(slots=True, kw_only=True)
class SshResult:
    """One SSH login and command on one host (or, with ``scan``, its banner and auth methods).

    ``stdout`` and ``stderr`` hold at most ``max_output`` bytes each
    (``*_truncated`` says more was discarded); they are text with control
    characters removed, or with ``raw_output`` the exact text, base64 when it
    is not UTF-8 (``*_base64``). Secrets never appear in a record.
    """

    input: str
    host: str | None = None
    port: int | None = None
    user: str | None = None
    exit_status: int | None = None
    exit_signal: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_base64: bool = False
    stderr_base64: bool = False
    time_ms: float | None = None
    server_version: str | None = None
    host_key_type: str | None = None
    host_key_fingerprint: str | None = None
    auth_methods: list[str] | None = None
    error: ErrorInfo | None = None

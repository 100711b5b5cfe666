"""What an HTTP attempt learned, and the one way a record is built from it.

Both client paths fill an :class:`Attempt` (status, headers, peer, TLS, the
body head, the redirect chain) as responses arrive, so what did arrive is
kept when a later step fails: a blocked or failing redirect keeps the last
response, a deadline keeps the part of the body read so far. :func:`build_record`
turns an attempt into an :class:`~aioscout.HttpResult`, applying the
partial-body rule (a body broken by a protocol error keeps what came before
it) and redacting every text field it writes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from multidict import CIMultiDictProxy
from yarl import URL

from .._config import HttpOptions
from .._models import ErrorKind, HttpResult, RedirectHop, TlsInfo
from ..extract.title import extract_title
from ._errors import READ_TIMED_OUT, ProbeError, read_timeout
from ._http_body import BodyHead
from ._http_secrets import Redactor

__all__ = ["Attempt", "body_error", "build_record", "detached"]

_TLS_HINTS = (
    b"plain http request was sent to https port",  # nginx
    b"speaking plain http to an ssl-enabled server port",  # Apache
    b"client sent an http request to an https server",  # Go
    b"this combination of host and port requires tls",  # Go
)


@dataclass(slots=True)
class Attempt:
    """What one scheme's attempt learned, kept even when it fails midway."""

    scheme: str
    url: str
    chain: list[RedirectHop] = field(default_factory=list)
    final_url: str | None = None
    status: int | None = None
    headers: CIMultiDictProxy[str] | None = None
    ip: str | None = None
    last_ip: str | None = None
    tls: TlsInfo | None = None
    body: BodyHead | None = None
    error: ProbeError | None = None
    port: int | None = None  # the port of ``url`` when known (saves parsing it again)

    def keep_body(self, body: BodyHead) -> None:
        """Keep the part of a body read before the probe's deadline ended it."""
        self.body = body

    @property
    def tls_hint(self) -> bool:
        """A TLS port's answer to plain HTTP."""
        if self.scheme != "http" or self.status != 400 or self.body is None:
            return False
        head = self.body.data[:4096].lower()
        return any(h in head for h in _TLS_HINTS)


def body_error(att: Attempt) -> ProbeError | None:
    """The error of a body that did not arrive whole (its head is kept beside it).

    A protocol error in the body (a bad chunk size) is ``protocol``; a body
    that stopped arriving for ``Timeouts.read`` is ``timeout``. A body cut on
    purpose (``max_body``) is no error.
    """
    body = att.body
    if body is None or not body.cut:
        return None
    if body.broken:
        return ProbeError(ErrorKind.PROTOCOL, body.cut)
    if body.cut == READ_TIMED_OUT:
        return read_timeout()
    return None


def detached(exc: ProbeError) -> ProbeError:
    """``exc`` with the tracebacks of its chain dropped, as kept in an attempt.

    A kept exception's traceback holds the frames it passed through, and those
    frames hold the attempt (and the exception itself): a reference cycle per
    failed probe, freed only by the cyclic collector. The record needs the kind
    and the detail, never the frames.
    """
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        err.__traceback__ = None
        err = err.__cause__ or err.__context__
    return exc


def _joined_headers(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in ("authorization", "proxy-authorization"):
            value = "***"
        if key in out:
            out[key] += ", " + value  # RFC 9110's list form; no record text holds a newline
        else:
            out[key] = value
    return out


def _charset(content_type: str | None) -> str:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value:
            return value.strip().strip("\"'")
    return "utf-8"


def _preview(body: bytes, content_type: str | None, chars: int) -> str:
    try:
        text = body.decode(_charset(content_type), errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    return text[:chars]


def build_record(
    line: str, host: str, att: Attempt, options: HttpOptions, redactor: Redactor
) -> HttpResult:
    """The record of ``att`` for input ``line`` (target host ``host``).

    Its error detail is redacted here; the prober scrubs every other text field
    (:func:`~._http_secrets.scrub_record`) once the record is final.
    """
    result = HttpResult(
        input=line,
        url=att.url,
        final_url=att.final_url,
        scheme=att.scheme,
        host=host,
        ip=att.ip,
        port=att.port if att.port is not None else URL(att.url).port,
        status=att.status,
        chain=list(att.chain),
        tls=att.tls,
        error=redactor.info(att.error) if att.error is not None else None,
    )
    headers = att.headers
    if headers is not None:
        result.content_type = headers.get("Content-Type")
        result.server = headers.get("Server")
        if options.include_headers:
            result.headers = _joined_headers(headers)
    body = att.body
    if body is not None:
        data = body.data
        declared = headers.get("Content-Length") if headers is not None else None
        result.content_length = (
            int(declared) if declared is not None and declared.strip().isdigit() else len(data)
        )
        result.body_sha256 = hashlib.sha256(data).hexdigest()
        result.words = len(data.split())
        result.lines = data.count(b"\n") + 1 if data else 0
        result.title = extract_title(data, result.content_type)
        if options.body_preview > 0:
            result.body_preview = _preview(data, result.content_type, options.body_preview)
    return result

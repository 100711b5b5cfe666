"""SSH targets: ``host``, ``host:port``, ``user@host:port``, ``ssh://`` URLs and JSON records.

A JSON record (a line starting with ``{``, such as what ``aioscout ports``
writes) gives ``host`` (else ``ip``, else ``name``), ``port`` and optionally
``user``; with both ``host`` and ``ip``, the connection goes to ``ip`` (no
second DNS lookup) and the host key is the one known for ``host``. A record
for a port that is not open (``state``), that another command found to be
another service (``service``), or that carries an ``error`` is not a target.
The user is the one the line names, else the default given; the port
likewise (22 unless told).

A line with ``user:password@`` is refused without repeating it: a password
never travels in a target.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import orjson

from .._exceptions import InvalidTarget
from .parse import MAX_LINE, _authority, _clean_line, _show

__all__ = ["SshTarget", "parse_ssh_target"]

_MAX_USER = 64
_SERVICES = frozenset({"ssh", "openssh", "sshd"})


@dataclass(frozen=True, slots=True)
class SshTarget:
    """One SSH endpoint and the user to log in as (``host`` normalised as everywhere).

    ``address``, when a record gave one (``ip``), is where to connect; the host
    keys are still those known for ``host``.
    """

    host: str
    port: int
    user: str
    address: str | None = None

    def netloc(self) -> str:
        """``host:port`` with an IPv6 host in brackets."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.netloc()}"


def _user(text: str) -> str:
    if ":" in text:
        # Never quote it: it may hold a password.
        raise InvalidTarget("credentials (user:password@) in a target are not accepted")
    if not text:
        raise InvalidTarget("empty user name before '@'")
    if len(text) > _MAX_USER or any(c.isspace() or not c.isprintable() for c in text):
        raise InvalidTarget(f"invalid user name {_show(text)}")
    return text


def _endpoint(text: str, user: str | None, port: int) -> SshTarget:
    userinfo, at, rest = text.rpartition("@")
    if at:
        user = _user(userinfo)
    host, given = _authority(rest, in_url=False)
    if user is None:
        raise InvalidTarget("no user: give one as user@host or a default user")
    return SshTarget(host, given or port, user)


def _field(record: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = record.get(name)
        if value not in (None, ""):
            return value
    return None


def _from_record(text: str, user: str | None, port: int) -> SshTarget:
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidTarget("line starts with '{' but is not a JSON object") from exc
    if not isinstance(record, dict):
        raise InvalidTarget("line starts with '{' but is not a JSON object")
    if record.get("error"):
        raise InvalidTarget("the record carries an error, not an endpoint")
    state = record.get("state")
    if state not in (None, "open"):
        raise InvalidTarget(f"port not open (state {_show(str(state))})")
    service = record.get("service")
    if service not in (None, "") and str(service).lower() not in _SERVICES:
        raise InvalidTarget(f"not an SSH service ({_show(str(service))})")
    url = record.get("url")
    if isinstance(url, str) and url.lower().startswith("ssh://"):
        return _endpoint(url[6:].rstrip("/"), user, port)
    host = _field(record, "host", "ip", "name")
    if not isinstance(host, str):
        raise InvalidTarget("the record has no host, ip or name")
    given = record.get("port")
    if given is not None and (
        isinstance(given, bool) or not isinstance(given, int) or not 1 <= given <= 65535
    ):
        raise InvalidTarget(f"invalid port {_show(str(given))} in the record")
    named = record.get("user")
    if named is not None:
        if not isinstance(named, str):
            raise InvalidTarget("invalid user in the record")
        user = _user(named)
    host, in_host = _authority(host, in_url=False)
    address = record.get("ip")
    if address is not None:
        try:
            address = ipaddress.ip_address(str(address).strip("[]")).compressed
        except ValueError:
            raise InvalidTarget("invalid ip in the record") from None
        if address == host:
            address = None
    if user is None:
        raise InvalidTarget("no user: give one in the record or a default user")
    return SshTarget(host, given or in_host or port, user, address)


def parse_ssh_target(
    line: str, *, user: str | None = None, port: int = 22, max_line: int = MAX_LINE
) -> SshTarget:
    """The SSH endpoint a line names (see the module docstring).

    Raises:
        InvalidTarget: the line is not an endpoint.

    Example::

        >>> parse_ssh_target("admin@[::1]:2222")
        SshTarget(host='::1', port=2222, user='admin')
    """
    if line.lstrip().startswith("{") and len(line) <= max_line:
        return _from_record(line.strip(), user, port)
    text = _clean_line(line, max_line=max_line)
    if text.lower().startswith("ssh://"):
        text = text[6:].rstrip("/")
    elif "://" in text:
        raise InvalidTarget("only ssh:// URLs name an SSH endpoint")
    if "/" in text:
        raise InvalidTarget("an SSH target is host, host:port or user@host:port")
    return _endpoint(text, user, port)

"""Port specifications: ``80,443,8000-8100,https:8443`` → ``[(scheme, port), ...]``."""

from __future__ import annotations

import re

from aioscout._exceptions import ConfigError

__all__ = ["format_ports", "parse_ports"]

_SCHEMES = ("http", "https")
_ITEM = re.compile(
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):)?(?P<first>[0-9]+)(?:-(?P<last>[0-9]+))?"
)
_MAX_ITEM_TEXT = 40


def _show(text: str) -> str:
    """A short, quoted excerpt of user input for an error message."""
    if len(text) > _MAX_ITEM_TEXT:
        text = text[:_MAX_ITEM_TEXT] + "…"
    return repr(text)


def _port(digits: str, item: str) -> int:
    # Leading zeros are harmless ("080"), but a 100-digit number is not a port.
    value = int(digits) if len(digits) <= 5 else 0
    if not 1 <= value <= 65535:
        raise ConfigError(f"port {_show(digits)} in {_show(item)} is outside 1-65535")
    return value


def parse_ports(spec: str) -> list[tuple[str | None, int]]:
    """Parse a port list into ``(scheme, port)`` pairs, duplicates dropped, order kept.

    Items are separated by commas; each is a port (``80``), a range
    (``8000-8100``, both ends included) or either of those prefixed with a
    scheme (``https:8443``, ``http:8000-8010``). ``scheme`` is ``None`` where
    the item named none (the prober then chooses). ``(None, 80)`` and
    ``("http", 80)`` are different targets and both kept.

    Raises:
        ConfigError: the spec is empty or an item is not a port, a range or
            a scheme the HTTP prober speaks.

    Example::

        >>> parse_ports("80,https:8443,8000-8001")
        [(None, 80), ('https', 8443), (None, 8000), (None, 8001)]
    """
    if not spec.strip():
        raise ConfigError("empty port list: give ports like 80,443,8000-8100,https:8443")
    seen: set[tuple[str | None, int]] = set()
    out: list[tuple[str | None, int]] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise ConfigError(f"empty item in port list {_show(spec)}")
        m = _ITEM.fullmatch(item)
        if m is None:
            raise ConfigError(
                f"bad port item {_show(item)}: expected PORT, FIRST-LAST or SCHEME:PORT"
            )
        scheme = m["scheme"].lower() if m["scheme"] else None
        if scheme is not None and scheme not in _SCHEMES:
            raise ConfigError(f"unsupported scheme {_show(scheme)} in port item {_show(item)}")
        first = _port(m["first"], item)
        last = first if m["last"] is None else _port(m["last"], item)
        if last < first:
            raise ConfigError(f"port range {_show(item)} ends before it starts")
        for port in range(first, last + 1):
            key = (scheme, port)
            if key not in seen:
                seen.add(key)
                out.append(key)
    return out


def format_ports(ports: list[tuple[str | None, int]]) -> str:
    """The inverse of :func:`parse_ports` (one item per pair, no ranges)."""
    return ",".join(str(p) if s is None else f"{s}:{p}" for s, p in ports)

"""Resolver addresses as users give them: ``IP``, ``IP:PORT``, ``[v6]:PORT``, or a file of them.

The one parser for every command and probe (DNS brute force, the HTTP probes'
``--resolver``): a bad address is a :class:`aioscout.ConfigError` with a
one-line message, raised before anything is sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .._exceptions import ConfigError

__all__ = ["check_resolvers", "parse_resolver", "read_resolver_file"]


def parse_resolver(spec: str) -> tuple[str, int]:
    """``"ip"``, ``"ip:port"``, ``"[v6]:port"`` or a bare IPv6 address → ``(ip, port)``.

    Example::

        parse_resolver("[::1]:5353")  # ("::1", 5353)

    Raises :class:`aioscout.ConfigError` for anything that is not an IP address
    with an optional port in 1-65535.
    """
    text = spec.strip()
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError(f"resolver {spec!r}: missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ConfigError(f"resolver {spec!r}: expected [IPv6]:PORT")
        port_text = rest[1:] if rest else ""
        if rest and not port_text:
            raise ConfigError(f"resolver {spec!r}: bad port ''")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text:
            raise ConfigError(f"resolver {spec!r}: bad port ''")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"resolver {spec!r}: give an IP address[:PORT] (not a host name)"
        ) from None
    port = 53
    if port_text:
        if not port_text.isascii() or not port_text.isdigit():
            raise ConfigError(f"resolver {spec!r}: bad port {port_text!r}")
        port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(f"resolver {spec!r}: port {port} is out of range (1-65535)")
    return addr.compressed, port


def check_resolvers(specs: Iterable[str]) -> tuple[str, ...]:
    """Every spec checked with :func:`parse_resolver` (the first bad one raises); as given."""
    out = tuple(specs)
    for spec in out:
        parse_resolver(spec)
    return out


def read_resolver_file(path: str) -> list[str]:
    """The resolver specs in a file, one per line (blank lines and ``#`` comments skipped).

    Raises :class:`aioscout.ConfigError` when the file cannot be read or a line
    is not a resolver address (the message names the file and line).
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"resolver file {path}: {why}") from None
    out: list[str] = []
    for number, line in enumerate(lines, 1):
        spec = line.strip()
        if not spec or spec.startswith("#"):
            continue
        try:
            parse_resolver(spec)
        except ConfigError as exc:
            raise ConfigError(f"{path}:{number}: {exc}") from None
        out.append(spec)
    return out

"""Input lines → targets: hosts, URLs, IP literals, CIDR ranges, DNS names.

Every function here validates its whole input before producing anything and
raises :class:`~aioscout.InvalidTarget` with a short detail for a line that is
not usable; the engine turns that into an ``invalid_input`` record. Ranges are
expanded lazily, so a /16 costs one iterator, not 65,536 objects.

Error details quote at most a short excerpt of the line and never the
``user:password@`` part of a URL.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import quote

from aioscout._exceptions import ConfigError, InvalidTarget
from aioscout.targets._types import HttpTarget

try:
    import idna as _idna
except ImportError:  # pragma: no cover - idna ships with aiohttp's yarl
    _HAVE_IDNA = False
else:
    _HAVE_IDNA = True

__all__ = [
    "MAX_LINE",
    "expand_http",
    "normalise_host",
    "parse_domain",
    "parse_http_target",
    "read_paths",
]

MAX_LINE = 8192
"""Longest input line accepted, in characters."""

_MAX_NAME = 253
_MAX_SHOWN = 40
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_DIGITS = re.compile(r"[0-9]+")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
"""A dotted quad in the one form ``ipaddress`` prints (``fullmatch`` it)."""
# What invalid UTF-8 and lone surrogates decode to, and C0/C1 control characters.
_BAD_BYTES = re.compile("[\ufffd\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Full stops that UTS 46 maps to "." (ideographic, full-width, half-width).
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
# Characters left as they are in a path and query; the rest is percent-encoded.
_PATH_SAFE = "/?&=;:@!$'()*+,-._~%[]"
# What quote(text, safe=_PATH_SAFE) returns unchanged: most paths, checked in one pass.
_PATH_CHARS = r"A-Za-z0-9/?&=;:@!$'()*+,\-._~%\[\]"
_PATH_PLAIN = re.compile(f"[{_PATH_CHARS}]*")
# A whole ASCII host name in one pass (lower case, no trailing dot): the common case
# of _hostname, which otherwise checks label by label for a precise error.
_NAME = re.compile(rf"(?:{_LABEL.pattern}\.)*{_LABEL.pattern}")
# The line of most lists, in one pass: http(s)://host[:port][/plain path and query],
# lower case, no "@" anywhere (an error must not echo what may be a password), no
# fragment, the host a name or an IPv4 address. The host and port go through the
# same checks as in the general parse, which takes anything else.
_PLAIN_URL = re.compile(
    rf"(https?)://([a-z0-9_][a-z0-9_.-]*)(?::([0-9]+))?(/[{_PATH_CHARS.replace('@', '')}]*)?"
)
# The other common line: a bare ``host`` or ``host:port`` (a name or an IPv4 address),
# whose host and port go through the same checks as in the general parse.
_PLAIN_HOST = re.compile(r"([a-z0-9_][a-z0-9_.-]*)(?::([0-9]{1,5}))?")


def _show(text: str) -> str:
    """A short, quoted excerpt of user input for an error message."""
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "…"
    return repr(text)


def _clean_line(line: str, *, max_line: int = MAX_LINE) -> str:
    """The stripped line, or InvalidTarget for lines that are not targets at all."""
    if len(line) > max_line:
        raise InvalidTarget(f"line longer than {max_line} characters")
    text = line.strip()
    if not text:
        raise InvalidTarget("empty line")
    if text.startswith("#"):
        raise InvalidTarget("comment")
    if text.startswith("{"):
        raise InvalidTarget("a JSON record naming no target (no url, name or host)")
    if _BAD_BYTES.search(text):
        raise InvalidTarget("invalid UTF-8 in line")
    if _CONTROL.search(text):
        raise InvalidTarget("control character in line")
    return text


def _idna_label(label: str) -> str:
    """One non-ASCII label as its ASCII (``xn--``) form."""
    try:
        if _HAVE_IDNA:
            return _idna.encode(label, uts46=True, transitional=False).decode("ascii")
        return label.encode("idna").decode("ascii")  # pragma: no cover
    except (UnicodeError, ValueError) as exc:
        raise InvalidTarget(f"invalid internationalised name label {_show(label)}") from exc


def _hostname(host: str) -> str:
    """A DNS name: lower-cased, IDNA-encoded, trailing dot removed, validated."""
    if host.isascii():
        name = host.lower().removesuffix(".")
        if (
            len(name) <= _MAX_NAME
            and _NAME.fullmatch(name)
            and not name.rpartition(".")[2].isdigit()
        ):
            return name
    name = host.translate(_DOTS)
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise InvalidTarget("missing host name")
    labels = []
    for label in name.split("."):
        if not label:
            raise InvalidTarget(f"empty label in host name {_show(host)}")
        ascii_label = label.lower() if label.isascii() else _idna_label(label)
        if len(ascii_label) > 63:
            raise InvalidTarget(f"label longer than 63 characters in host name {_show(host)}")
        if not _LABEL.fullmatch(ascii_label):
            raise InvalidTarget(f"invalid host name {_show(host)}")
        labels.append(ascii_label)
    if labels[-1].isdigit():
        # 10.0.0.256, 1.2.3, 010.0.0.1: numeric, but not an address we accept.
        raise InvalidTarget(f"invalid IPv4 address {_show(host)}")
    result = ".".join(labels)
    if len(result) > _MAX_NAME:
        raise InvalidTarget(f"host name longer than {_MAX_NAME} characters")
    return result


def _ipv6(text: str) -> str:
    if "%" in text:
        raise InvalidTarget("IPv6 zone index (%) is not supported")
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError as exc:
        raise InvalidTarget(f"invalid IPv6 address {_show(text)}") from exc


def normalise_host(host: str) -> str:
    """An IP literal or DNS name in the form :class:`HttpTarget` keeps.

    IPv4 in dotted quad, IPv6 compressed without brackets, names lower-cased,
    IDNA-encoded and without a trailing dot. Raises InvalidTarget otherwise.
    """
    if host.startswith("[") and host.endswith("]"):
        inner = host[1:-1]
        if ":" not in inner:
            raise InvalidTarget("brackets are only for IPv6 addresses")
        return _ipv6(inner)
    if ":" in host:
        return _ipv6(host)
    if host[:1].isdigit():  # an IPv4 address starts with one; most names do not
        if CANONICAL_IPV4.fullmatch(host):
            return host  # already in the one form IPv4Address would print
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            pass
    return _hostname(host)


def _port(text: str) -> int:
    if not text:
        raise InvalidTarget("missing port after ':'")
    if not _DIGITS.fullmatch(text):
        raise InvalidTarget(f"invalid port {_show(text)}")
    value = int(text) if len(text) <= 5 else 0
    if not 1 <= value <= 65535:
        raise InvalidTarget(f"port {_show(text)} is outside 1-65535")
    return value


def _authority(text: str, *, in_url: bool) -> tuple[str, int | None]:
    """``host[:port]`` → (normalised host, port or None)."""
    if "@" in text:
        # Never quote this part of the line: it may hold a password.
        raise InvalidTarget("credentials (user:password@) in a target are not accepted")
    if not text:
        raise InvalidTarget("missing host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise InvalidTarget("missing ']' after IPv6 address")
        host = normalise_host(text[: end + 1])
        rest = text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise InvalidTarget(f"unexpected text after IPv6 address: {_show(rest)}")
        return host, _port(rest[1:])
    if text.count(":") >= 2:
        # Without brackets an IPv6 literal has no port: "::1:80" is an address.
        if in_url:
            try:
                return _ipv6(text), None
            except InvalidTarget:
                raise InvalidTarget("IPv6 address in a URL needs brackets: [addr]:port") from None
        return _ipv6(text), None
    host, sep, port = text.partition(":")
    if not host:
        raise InvalidTarget("missing host")
    return normalise_host(host), (_port(port) if sep else None)


def _path(text: str) -> str:
    """Path and query, starting with '/', fragment dropped, percent-encoded."""
    text = text.partition("#")[0]
    if not text.startswith("/"):
        text = "/" + text
    return text if _PATH_PLAIN.fullmatch(text) else quote(text, safe=_PATH_SAFE)


def _split_url(text: str) -> tuple[str, str]:
    """``authority/path?query`` → (authority, path-and-query)."""
    cut = len(text)
    for ch in "/?#":
        i = text.find(ch)
        if 0 <= i < cut:
            cut = i
    return text[:cut], text[cut:]


def _cidr(address: str, prefix: str, max_cidr_hosts: int) -> Iterator[HttpTarget] | None:
    """A lazy range for ``address/prefix`` where address is an IP literal, else None."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if not _DIGITS.fullmatch(prefix) or len(prefix) > 3 or int(prefix) > ip.max_prefixlen:
        raise InvalidTarget(f"invalid CIDR prefix /{prefix[:8]}")
    net = ipaddress.ip_network(f"{ip}/{int(prefix)}", strict=False)
    if net.num_addresses > max_cidr_hosts:
        raise InvalidTarget(
            f"CIDR {net} has {net.num_addresses} addresses; raise --max-cidr to expand it"
        )
    return (HttpTarget(None, addr.compressed, None) for addr in net)


def parse_http_target(
    line: str, *, max_cidr_hosts: int = 65536, max_line: int = MAX_LINE
) -> Iterator[HttpTarget]:
    """Parse one input line into HTTP targets (one, or one per address of a CIDR).

    Accepted forms: ``host``, ``host:port``, ``host[:port]/path?query``,
    ``http(s)://host[:port]/path?query`` (fragment dropped), IPv4, IPv6 with
    or without brackets (``::1``, ``[::1]``, ``[::1]:8080``; unbracketed
    ``::1:80`` is an address, never a port), and CIDR ranges
    (``127.0.0.0/30``: four addresses in order, network and broadcast
    included; host bits are ignored). Names are lower-cased, IDNA-encoded and
    lose a trailing dot; underscores are allowed since real DNS has them.
    ``user:password@`` in a URL is rejected without being echoed.

    The line is validated completely before this returns; the iterator it
    returns is lazy, so a large range is never built in memory.

    Raises:
        InvalidTarget: an empty or comment line, a line longer than
            ``max_line``, invalid UTF-8 or control characters, a scheme other
            than http/https, a bad port, a bad host, or a CIDR with more than
            ``max_cidr_hosts`` addresses.

    Example::

        >>> list(parse_http_target("https://Example.COM:8443/a?b=1#top"))
        [HttpTarget(scheme='https', host='example.com', port=8443, path='/a?b=1')]
    """
    if len(line) <= max_line:
        m = _PLAIN_URL.fullmatch(line)
        if m is not None:
            scheme, host, port, path = m.groups()
            # The path is already one _path() returns as it is (plain, no fragment).
            name = normalise_host(host)  # the host is checked first, as in the general parse
            target = HttpTarget(scheme, name, _port(port) if port else None, path or "/")
            return iter((target,))
        m = _PLAIN_HOST.fullmatch(line)
        if m is not None:
            host, port = m.groups()
            return iter((HttpTarget(None, normalise_host(host), _port(port) if port else None),))
    text = _clean_line(line, max_line=max_line)
    scheme = None
    head, sep, tail = text.partition("://")
    if sep and _SCHEME.fullmatch(head):
        scheme = head.lower()
        if scheme not in ("http", "https"):
            raise InvalidTarget(f"unsupported scheme {_show(scheme)}")
        text = tail
    elif text.startswith("//"):
        text = text[2:]
    authority, rest = _split_url(text)
    if scheme is None and rest.startswith("/"):
        prefix = rest[1:].partition("#")[0]
        if _DIGITS.fullmatch(prefix):
            ranged = _cidr(authority, prefix, max_cidr_hosts)
            if ranged is not None:
                return ranged
    try:
        host, port = _authority(authority, in_url=scheme is not None)
    except InvalidTarget:
        if "@" in text and "@" not in authority:
            # "user:pa/ss@host" splits inside the password: quote none of it.
            raise InvalidTarget("invalid host or port") from None
        raise
    return iter((HttpTarget(scheme, host, port, _path(rest)),))


def _join_path(base: str, extra: str) -> str:
    """``extra`` under ``base``; a query on ``base`` is kept unless ``extra`` has one."""
    if base == "/":
        return extra
    base_path, _, base_query = base.partition("?")
    joined = base_path.rstrip("/") + extra
    if base_query and "?" not in extra:
        joined += "?" + base_query
    return joined


def _normalise_path(path: str) -> str:
    text = path.strip()
    if not text:
        raise ConfigError("empty path")
    if _BAD_BYTES.search(text) or _CONTROL.search(text):
        raise ConfigError(f"path {_show(text)} has control characters or invalid UTF-8")
    return _path(text)


def _expand(
    targets: Iterable[HttpTarget],
    ports: Sequence[tuple[str | None, int]],
    paths: Sequence[str],
) -> Iterator[HttpTarget]:
    for target in targets:
        if ports and target.port is None:
            schemes_ports: list[tuple[str | None, int | None]] = [
                (s if s is not None else target.scheme, p) for s, p in ports
            ]
        else:
            schemes_ports = [(target.scheme, target.port)]
        for scheme, port in schemes_ports:
            if paths:
                for path in paths:
                    yield HttpTarget(scheme, target.host, port, _join_path(target.path, path))
            else:
                yield HttpTarget(scheme, target.host, port, target.path)


def expand_http(
    line: str,
    *,
    ports: Sequence[tuple[str | None, int]] = (),
    paths: Sequence[str] = (),
    max_cidr_hosts: int = 65536,
    max_line: int = MAX_LINE,
) -> Iterator[HttpTarget]:
    """Parse a line and expand it over ports and paths, lazily.

    Ports (from :func:`~aioscout.targets.ports.parse_ports`) apply to targets
    whose line named no port: one target per port, with the port's scheme if
    it has one, else the line's scheme, else None. A line with an explicit
    port (``host:8080``, ``https://host:8443/``) keeps that port only, as
    httpx does with ``-ports``: the line is more specific than the flag.

    Paths are appended to the line's path (``/app`` + ``/admin`` →
    ``/app/admin``; a query on the line is kept unless the path has its own),
    and replace it when the line's path is ``/``. Each is normalised to start
    with ``/``.

    Order is deterministic: host-major, then port, then path.

    Raises:
        InvalidTarget: as :func:`parse_http_target`, before anything is yielded.
        ConfigError: an empty path or one with control characters.

    Example::

        >>> [t.url() for t in expand_http("example.com", ports=[("https", 8443)], paths=["x"])]
        ['https://example.com:8443/x']
    """
    targets = parse_http_target(line, max_cidr_hosts=max_cidr_hosts, max_line=max_line)
    if not ports and not paths:
        return targets
    normalised = [_normalise_path(p) for p in paths]
    return _expand(targets, ports, normalised)


def parse_domain(line: str, *, max_line: int = MAX_LINE) -> str:
    """One DNS name: IDNA-encoded, lower-cased, trailing dot removed, validated.

    Only names are accepted: not URLs, not ``host:port``, not IP addresses,
    not wildcards (``*.example.com``).

    Raises:
        InvalidTarget: the line is not a valid DNS name.

    Example::

        >>> parse_domain("Bücher.Example.")
        'xn--bcher-kva.example'
    """
    text = _clean_line(line, max_line=max_line)
    if text.startswith("*"):
        raise InvalidTarget("wildcard names are not accepted: give the parent domain")
    if "://" in text or "/" in text:
        raise InvalidTarget("expected a domain name, not a URL or path")
    if ":" in text:
        raise InvalidTarget("expected a domain name without a port")
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        pass
    else:
        raise InvalidTarget("expected a domain name, not an IP address")
    return _hostname(text)


def read_paths(spec: str) -> list[str]:
    """The URL paths named by ``spec``: one path, or a file of paths.

    ``@FILE`` always reads FILE. A spec naming an existing file (relative or
    absolute: ``paths.txt``, ``/home/me/paths.txt``) is read as a file;
    otherwise it is one path (``/admin`` stays ``/admin``, ``admin`` becomes
    ``/admin``). In a file, blank lines and ``#`` comments are skipped.
    Paths are percent-encoded where needed; duplicates are dropped, order kept.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8, or has no paths.
    """
    if spec.startswith("@"):
        filename: str | None = spec[1:]
    elif os.path.isfile(spec):
        filename = spec
    else:
        filename = None
    if filename is None:
        return [_normalise_path(spec)]
    try:
        with open(filename, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read paths file {filename!r}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"paths file {filename!r} is not UTF-8") from exc
    out: dict[str, None] = {}
    for raw in lines:
        text = raw.strip()
        if text and not text.startswith("#"):
            out.setdefault(_normalise_path(text), None)
    if not out:
        raise ConfigError(f"paths file {filename!r} holds no paths")
    return list(out)

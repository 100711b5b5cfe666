"""What a TCP service says, and what it is: bytes in, a service name and a banner out.

Why this order: most services speak first (SSH, SMTP, FTP, POP3, IMAP, the
MySQL/MariaDB handshake), so the prober first listens; a port that stays
silent is then asked in the three ways that make the common silent services
answer (an HTTP request, a Redis ``PING``, a TLS ClientHello), and the first
answer that names a protocol wins. The service always comes from the bytes,
never from the port number: an SSH server on 8080 is ``ssh``.

Everything here is pure (bytes in, fields out) apart from building a
ClientHello, which uses :mod:`ssl` on memory buffers only.
"""

from __future__ import annotations

import contextlib
import functools
import re
import ssl
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "MAX_BANNER",
    "Asked",
    "Identity",
    "clean_text",
    "client_hello",
    "ehlo_request",
    "http_request",
    "identify",
    "ping_request",
]

MAX_BANNER = 256
"""Longest banner kept in a record, in characters."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_SPACES = re.compile(r" {2,}")
_FTP_WORDS = re.compile(rb"ftp|filezilla|serv-u|file transfer", re.IGNORECASE)
_SMTP_WORDS = re.compile(rb"e?smtp|mail|postfix|exim|haraka|mx\.", re.IGNORECASE)
_SMTP_ENHANCED = re.compile(rb"[245][0-9][0-9][ -][245]\.[0-9]{1,3}\.[0-9]{1,3}\b")
_SERVER = re.compile(rb"\r?\nserver:[ \t]*([^\r\n]*)", re.IGNORECASE)


class Asked(StrEnum):
    """What the prober sent before the bytes it identifies."""

    NOTHING = "nothing"  # the service spoke first
    HTTP = "http"
    PING = "ping"
    TLS = "tls"
    EHLO = "ehlo"


@dataclass(frozen=True, slots=True)
class Identity:
    """A service name (``None``: unknown) and the banner that shows it.

    ``ambiguous`` marks a bare ``220`` greeting that may be SMTP or FTP (an
    ``EHLO`` settles it: see :func:`identify` with ``Asked.EHLO``).
    """

    service: str | None
    banner: str | None
    ambiguous: bool = False


def clean_text(data: bytes, limit: int = MAX_BANNER) -> str:
    """``data`` as one line of text: control characters removed, spaces collapsed.

    Example::

        >>> clean_text(b"SSH-2.0-OpenSSH_9.6\\r\\n\\x00\\x01")
        'SSH-2.0-OpenSSH_9.6'
    """
    text = data.decode("utf-8", "replace").replace("\ufffd", "")
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    return text[:limit]


def _first_line(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0]


def _mysql(data: bytes) -> Identity | None:
    """The MySQL/MariaDB handshake (protocol 10) or its error packet, else None."""
    if len(data) < 7 or data[3] != 0:
        return None
    length = data[0] | data[1] << 8 | data[2] << 16
    if not 4 <= length <= 16 * 1024:
        return None
    if data[4] == 10:  # a handshake: the server version, NUL-terminated
        version, nul, _ = data[5:].partition(b"\x00")
        if not nul or not version or not version[:1].isdigit():
            return None
        return Identity("mysql", clean_text(version))
    if data[4] == 0xFF and len(data) >= 8:  # an error packet: 2-byte code, then the text
        message = data[7:].lstrip(b"#")
        if message[:5].isalnum():  # the SQL state, when sent
            message = message[5:]
        return Identity("mysql", clean_text(message) or None)
    return None


def _tls(data: bytes) -> Identity | None:
    """A TLS record (handshake or alert) from the server, else None."""
    if len(data) < 5 or data[0] not in (0x15, 0x16) or data[1] != 3 or data[2] > 4:
        return None
    if data[0] == 0x16 and len(data) >= 6 and data[5] == 2:
        return Identity("tls", "TLS ServerHello")
    return Identity("tls", "TLS alert" if data[0] == 0x15 else "TLS handshake")


def _http(data: bytes) -> Identity:
    line = clean_text(_first_line(data))
    server = _SERVER.search(data)
    if server is not None and server.group(1).strip():
        line = f"{line} | Server: {clean_text(server.group(1))}"
    return Identity("http", line[:MAX_BANNER])


def _text(data: bytes, asked: Asked) -> Identity:
    """A service that answers in lines of text."""
    head = data.lstrip(b"\r\n")
    line = _first_line(head)
    shown = clean_text(line) or None
    if head.startswith(b"SSH-"):
        return Identity("ssh", shown)
    if head.startswith(b"HTTP/"):
        return _http(head)
    if head.startswith((b"+PONG", b"-NOAUTH", b"-DENIED", b"-WRONGPASS")) or (
        asked is Asked.PING and head[:1] in (b"+", b"-", b"$", b"*", b":")
    ):
        return Identity("redis", shown)
    if asked is Asked.EHLO:  # SMTP welcomes EHLO (or refuses it with an enhanced code)
        smtp = head.startswith(b"250") or _SMTP_ENHANCED.match(head) is not None
        return Identity("smtp" if smtp else "ftp", None)
    if head.startswith(b"+OK"):
        return Identity("pop3", shown)
    if head.startswith((b"* OK", b"* PREAUTH", b"* BYE")):
        return Identity("imap", shown)
    if head.startswith(b"RFB "):
        return Identity("vnc", shown)
    if head.startswith((b"220", b"421", b"554")) and head[3:4] in (b" ", b"-", b""):
        if _FTP_WORDS.search(line):
            return Identity("ftp", shown)
        if _SMTP_WORDS.search(line):
            return Identity("smtp", shown)
        return Identity(None, shown, ambiguous=head.startswith(b"220"))
    return Identity(None, clean_text(head) or None)


def identify(data: bytes, asked: Asked = Asked.NOTHING) -> Identity:
    """The service that sent ``data`` (the first bytes it sent after ``asked``).

    Example::

        >>> identify(b"SSH-2.0-OpenSSH_9.6\\r\\n")
        Identity(service='ssh', banner='SSH-2.0-OpenSSH_9.6', ambiguous=False)
        >>> identify(b"+PONG\\r\\n", Asked.PING).service
        'redis'
    """
    if not data:
        return Identity(None, None)
    if data[0] == 0xFF and len(data) > 1 and 0xFB <= data[1] <= 0xFE:
        return Identity("telnet", clean_text(data.lstrip(bytes(range(0xF0, 0x100)))) or None)
    found = _tls(data) or _mysql(data)
    if found is not None:
        return found
    return _text(data, asked)


def http_request(host: str) -> bytes:
    """The smallest request most web servers answer (HTTP/1.0 closes after it)."""
    authority = f"[{host}]" if ":" in host else host
    return f"GET / HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: aioscout\r\n\r\n".encode("idna")


def ping_request() -> bytes:
    """An inline Redis ``PING``."""
    return b"PING\r\n"


def ehlo_request() -> bytes:
    """What an SMTP server answers with ``250`` and an FTP server with an error."""
    return b"EHLO aioscout.invalid\r\n"


@functools.lru_cache(maxsize=256)
def client_hello(server_name: str | None) -> bytes:
    """A real ClientHello (TLS 1.2 and 1.3, SNI when ``server_name`` is a name).

    Built by :mod:`ssl` on memory buffers, so it is what a TLS client of this
    Python sends; nothing is verified since nothing is completed. The bytes are
    kept per name (a context and a handshake cost about 0.4 ms): any server
    answers the same hello again, its random being only ever compared by the
    server that this hello never completes with.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()

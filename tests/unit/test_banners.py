"""Service identification from the first bytes a port sends (pure: bytes in, fields out)."""

from __future__ import annotations

import struct

import pytest

from aioscout.probes._banners import (
    MAX_BANNER,
    Asked,
    clean_text,
    client_hello,
    ehlo_request,
    http_request,
    identify,
    ping_request,
)


def _mysql_packet(payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + b"\x00" + payload


@pytest.mark.parametrize(
    ("data", "asked", "service", "banner"),
    [
        (b"SSH-2.0-OpenSSH_9.6p1 Ubuntu\r\n", Asked.NOTHING, "ssh", "SSH-2.0-OpenSSH_9.6p1 Ubuntu"),
        (
            b"220 mx.example ESMTP Postfix\r\n",
            Asked.NOTHING,
            "smtp",
            "220 mx.example ESMTP Postfix",
        ),
        (b"220-mail.example Microsoft ESMTP MAIL Service\r\n", Asked.NOTHING, "smtp", None),
        (b"220 (vsFTPd 3.0.5)\r\n", Asked.NOTHING, "ftp", "220 (vsFTPd 3.0.5)"),
        (b"220 ProFTPD Server ready.\r\n", Asked.NOTHING, "ftp", None),
        (b"+OK Dovecot ready.\r\n", Asked.NOTHING, "pop3", "+OK Dovecot ready."),
        (b"* OK [CAPABILITY IMAP4rev1] ready\r\n", Asked.NOTHING, "imap", None),
        (b"RFB 003.008\n", Asked.NOTHING, "vnc", "RFB 003.008"),
        (b"+PONG\r\n", Asked.PING, "redis", "+PONG"),
        (b"-NOAUTH Authentication required.\r\n", Asked.PING, "redis", None),
        (b"-ERR unknown command 'PING'\r\n", Asked.PING, "redis", None),
        (b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\n\r\n", Asked.HTTP, "http", None),
        (b"\xff\xfd\x18\xff\xfd\x20login: ", Asked.NOTHING, "telnet", None),
    ],
)
def test_identify_by_first_bytes(
    data: bytes, asked: Asked, service: str, banner: str | None
) -> None:
    ident = identify(data, asked)
    assert ident.service == service
    assert not ident.ambiguous
    if banner is not None:
        assert ident.banner == banner


def test_http_banner_carries_the_status_line_and_server() -> None:
    data = b"HTTP/1.0 200 OK\r\nDate: x\r\nServer: Apache/2.4.58\r\nContent-Length: 0\r\n\r\n"
    assert identify(data, Asked.HTTP).banner == "HTTP/1.0 200 OK | Server: Apache/2.4.58"


def test_mysql_and_mariadb_handshakes() -> None:
    mysql = _mysql_packet(b"\x0a8.0.36-0ubuntu0\x00" + b"\x01\x00\x00\x00" + b"salt" * 5)
    maria = _mysql_packet(b"\x0a5.5.5-10.11.6-MariaDB\x00" + b"\x00" * 20)
    assert identify(mysql).service == "mysql"
    assert identify(mysql).banner == "8.0.36-0ubuntu0"
    assert identify(maria).banner == "5.5.5-10.11.6-MariaDB"


def test_mysql_error_packet_is_mysql_with_its_message() -> None:
    err = _mysql_packet(b"\xff\x6a\x04Host '10.0.0.9' is not allowed to connect")
    ident = identify(err)
    assert ident.service == "mysql"
    assert ident.banner == "Host '10.0.0.9' is not allowed to connect"


def test_binary_that_only_looks_like_mysql_is_not() -> None:
    assert identify(_mysql_packet(b"\x0aNOTAVERSION\x00")).service is None
    assert identify(b"\x05\x00\x00\x00\x0a").service is None


def test_tls_server_hello_and_alert() -> None:
    hello = b"\x16\x03\x03\x00\x4a\x02\x00\x00\x46\x03\x03" + b"\x00" * 10
    assert identify(hello, Asked.TLS).service == "tls"
    assert identify(hello, Asked.TLS).banner == "TLS ServerHello"
    assert identify(b"\x15\x03\x01\x00\x02\x02\x28", Asked.HTTP).service == "tls"


def test_bare_220_is_ambiguous_until_ehlo_settles_it() -> None:
    ident = identify(b"220 service ready\r\n")
    assert ident.service is None
    assert ident.ambiguous
    assert identify(b"250-host\r\n250 OK\r\n", Asked.EHLO).service == "smtp"
    assert identify(b"500 Unknown command.\r\n", Asked.EHLO).service == "ftp"


def test_unknown_text_is_kept_as_banner_without_a_service() -> None:
    ident = identify(b"hello there\r\n")
    assert ident.service is None
    assert ident.banner == "hello there"
    assert identify(b"").banner is None


def test_the_port_number_plays_no_part() -> None:
    # The same bytes identify the same service whatever port they came from:
    # identify() takes no port at all.
    assert identify(b"SSH-2.0-dropbear\r\n").service == "ssh"


def test_clean_text_removes_control_characters_and_caps_length() -> None:
    assert clean_text(b"a\x00b\x1b[31mc\r\n\td") == "a b [31mc d"
    assert clean_text(b"\xff\xfeabc") == "abc"
    assert len(clean_text(b"x" * 10_000)) == MAX_BANNER


def test_requests_are_well_formed() -> None:
    assert http_request("example.com").startswith(b"GET / HTTP/1.0\r\nHost: example.com\r\n")
    assert b"Host: [::1]\r\n" in http_request("::1")
    assert http_request("x").endswith(b"\r\n\r\n")
    assert ping_request() == b"PING\r\n"
    assert ehlo_request().startswith(b"EHLO ")


def test_client_hello_is_a_tls_handshake_record() -> None:
    hello = client_hello("example.com")
    assert hello[:2] == b"\x16\x03"
    assert hello[5] == 1  # ClientHello
    assert b"example.com" in hello  # SNI
    assert b"example.com" not in client_hello(None)


@pytest.mark.parametrize(
    ("greeting", "service"),
    [
        (b"220-FileZilla Server 0.9.60 beta\r\n", "ftp"),
        (b"220 Serv-U FTP Server v15.1 ready...\r\n", "ftp"),
        (b"220 Microsoft FTP Service\r\n", "ftp"),
        (b"220 mx.google.com ESMTP x1si\r\n", "smtp"),
        (b"220 mail.example.org Exim 4.96\r\n", "smtp"),
    ],
)
def test_220_greetings_named_by_their_words(greeting: bytes, service: str) -> None:
    assert identify(greeting).service == service


def test_an_smtp_server_refusing_ehlo_is_still_smtp() -> None:
    assert identify(b"502 5.5.2 Error: command not recognized\r\n", Asked.EHLO).service == "smtp"
    assert identify(b"500 Syntax error, command unrecognized.\r\n", Asked.EHLO).service == "ftp"

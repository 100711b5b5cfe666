"""Loopback servers and certificates for the HTTP prober tests (no tests here)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aioscout._config import HttpOptions, Limits, Timeouts
from aioscout.probes.http import HttpProbe
from aioscout.targets._types import HttpTarget

HOST = "127.0.0.1"


@dataclass(frozen=True)
class CertFiles:
    """A self-signed certificate (its own CA) and its key, on disk."""

    cert: Path
    key: Path

    def server_context(self, alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        return ctx


def make_cert(directory: Path, *, name: str = "aioscout.test", days: int = 30) -> CertFiles:
    """A self-signed EC certificate for ``name`` and 127.0.0.1 (negative days: expired)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    start, end = (now - dt.timedelta(days=1), now + dt.timedelta(days=days))
    if days < 0:
        start, end = now + dt.timedelta(days=days * 2), now + dt.timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return CertFiles(cert_path, key_path)


@asynccontextmanager
async def web_server(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """Serve ``app`` on 127.0.0.1, port 0; yield the port."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, ssl_context=ssl_context)
    await site.start()
    try:
        port = runner.addresses[0][1]
        assert isinstance(port, int)
        yield port
    finally:
        await runner.cleanup()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(
    handler: Handler, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """A raw asyncio server for behaviours no well-behaved server produces."""

    writers: set[asyncio.StreamWriter] = set()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writers.discard(writer)
            writer.transport.abort()

    server = await asyncio.start_server(guarded, HOST, 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in list(writers):
            writer.transport.abort()
        await server.wait_closed()


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    """Bytes up to the blank line ending a request head (bounded)."""
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)


def closed_port() -> int:
    """A loopback port where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


@asynccontextmanager
async def open_probe(
    options: HttpOptions | None = None,
    *,
    timeouts: Timeouts | None = None,
    limits: Limits | None = None,
) -> AsyncIterator[HttpProbe]:
    """A started :class:`HttpProbe` with short timeouts for the tests."""
    probe = HttpProbe(
        options or HttpOptions(),
        timeouts or Timeouts(connect=2.0, read=2.0, total=4.0),
        limits or Limits(),
        concurrency=16,
        per_host=4,
    )
    await probe.start()
    try:
        yield probe
    finally:
        await probe.aclose()


def target(url: str) -> HttpTarget:
    """The single target of an input line."""
    from aioscout.targets.parse import expand_http

    (only,) = list(expand_http(url))
    return only

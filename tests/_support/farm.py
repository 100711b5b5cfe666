"""A few loopback HTTP hosts whose answers a test changes between scans.

Each host is a plain asyncio server on 127.0.0.1 (port 0). Its ``title`` is
what its page says; ``None`` makes it close every connection at once (a host
that is down: the probe records an error), so a host can come and go without
giving up its port.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["Farm", "Host"]


@dataclass
class Host:
    """One host of the farm: its port and what it answers now."""

    title: str | None
    server: str = "farm/1"
    port: int = 0
    _server: asyncio.Server | None = field(default=None, repr=False)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.title is not None:
                await reader.readuntil(b"\r\n\r\n")
                body = f"<html><title>{self.title}</title></html>".encode()
                head = (
                    f"HTTP/1.1 200 OK\r\nServer: {self.server}\r\nContent-Type: text/html\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                )
                writer.write(head.encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"


class Farm:
    """``async with Farm(a="one", b="two") as farm:`` hosts by name; ``farm["a"].title = ...``."""

    def __init__(self, **titles: str | None) -> None:
        self.hosts = {name: Host(title) for name, title in titles.items()}

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    async def __aenter__(self) -> Farm:
        for host in self.hosts.values():
            host._server = await asyncio.start_server(host._serve, "127.0.0.1", 0)
            host.port = host._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for host in self.hosts.values():
            if host._server is not None:
                host._server.close()
                await host._server.wait_closed()

    def targets(self) -> list[str]:
        """Every host's ``127.0.0.1:PORT``, in the order they were named."""
        return [h.target for h in self.hosts.values()]

"""The lab as one resource: HTTP, HTTPS, DNS and hostile servers on loopback."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import ipaddress
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aioscout.lab.certs import LabCertificates, generate_lab_certificates, server_context
from aioscout.lab.http import HttpServer, Router
from aioscout.lab.sites import DEAD_ADDRESS, ORIGIN, Catalogue, Expectation

__all__ = ["DEFAULT_ADDRESSES", "Lab", "check_loopback"]

DEFAULT_ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
"""The loopback addresses the HTTP and HTTPS servers listen on."""

_log = logging.getLogger(__name__)

TLS_VARIANTS = ("ca-signed", "expired", "wrong-host")


def check_loopback(addresses: Sequence[str]) -> None:
    """Raise ``ValueError`` unless every address is a loopback IP literal."""
    for addr in addresses:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            raise ValueError(f"lab addresses must be IP literals, not {addr!r}") from None
        if not ip.is_loopback:
            raise ValueError(f"the lab binds to loopback only; {addr} is not a loopback address")


def _optional(module: str) -> Any:
    """The lab module ``module`` if it is present and imports, else ``None``."""
    name = f"aioscout.lab.{module}"
    if importlib.util.find_spec(name) is None:
        _log.warning("%s is not available: the lab runs without it", name)
        return None
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        _log.warning("%s does not import (%s): the lab runs without it", name, exc)
        return None


class Lab:
    """A local internet on loopback: start it with ``async with``.

    Example::

        async with Lab(sites=200) as lab:
            for url, expectation in lab.truth():
                ...  # scan url (resolving names with lab.dns_address), compare

    HTTP and HTTPS serve every site of :class:`~aioscout.lab.sites.Catalogue`
    on ``addresses`` (one port each, shared by all addresses); extra HTTPS
    listeners on 127.0.0.1 present the CA-signed, expired and wrong-host
    certificates (``tls_ports``). The DNS server (``dns_port=None``: none)
    answers for the site names plus the synthetic zone of ``lab.dns``; the
    hostile servers come from ``lab.hostile``. Either is skipped, with
    ``None``/``{}`` attributes, when its module is absent.
    """

    def __init__(
        self,
        *,
        http_port: int = 0,
        https_port: int = 0,
        dns_port: int | None = 0,
        sites: int = 200,
        latency: float = 0.0,
        hostile: bool = True,
        keep_alive: bool = True,
        dns_names: int = 100_000,
        origin: str = ORIGIN,
        addresses: Sequence[str] = DEFAULT_ADDRESSES,
    ) -> None:
        check_loopback(addresses)
        if not addresses:
            raise ValueError("at least one address is needed")
        self.addresses: tuple[str, ...] = tuple(addresses)
        self.sites = Catalogue(origin=origin, generated=sites)
        self.origin = self.sites.origin
        self.latency = latency
        self._want = (http_port, https_port, dns_port)
        self._hostile_wanted = hostile
        self._keep_alive = keep_alive
        self._dns_names = dns_names
        self.router = Router(self.sites)
        self.http: HttpServer | None = None
        self.https: HttpServer | None = None
        self.http_port = 0
        self.https_port = 0
        self.dns_port: int | None = None
        self.dns_address: str | None = None
        self.dns_server: Any = None
        self.hostile_farm: Any = None
        self.hostile: dict[str, tuple[str, int]] = {}
        self.tls_ports: dict[str, int] = {}
        self.certs: LabCertificates | None = None
        self.cert_dir: Path | None = None
        self._variants: list[HttpServer] = []

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start every server; on failure, stop what started and re-raise."""
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise

    async def _start(self) -> None:
        http_port, https_port, dns_port = self._want
        self.cert_dir = Path(tempfile.mkdtemp(prefix="aioscout-lab-"))
        self.certs = await asyncio.to_thread(
            generate_lab_certificates, self.cert_dir, self.origin, self.addresses
        )
        opts = {"latency": self.latency, "keep_alive": self._keep_alive}
        self.http = HttpServer(self.router, **opts)  # type: ignore[arg-type]
        self.http_port = await self.http.start(self.addresses, http_port)
        self.https = HttpServer(
            self.router,
            scheme="https",
            ssl_context=server_context(self.certs.self_signed),
            **opts,  # type: ignore[arg-type]
        )
        self.https_port = await self.https.start(self.addresses, https_port)
        self.router.http_port, self.router.https_port = self.http_port, self.https_port
        pairs = dict(
            zip(
                TLS_VARIANTS,
                (self.certs.leaf, self.certs.expired, self.certs.wrong_host),
                strict=True,
            )
        )
        for variant, pair in pairs.items():
            server = HttpServer(self.router, scheme="https", ssl_context=server_context(pair))
            self._variants.append(server)
            self.tls_ports[variant] = await server.start(self.addresses[:1])
        if dns_port is not None:
            await self._start_dns(dns_port)
        if self._hostile_wanted:
            await self._start_hostile()

    async def _start_dns(self, port: int) -> None:
        dns = _optional("dns")
        if dns is None:
            return
        zone = await asyncio.to_thread(
            dns.build_lab_zone, origin=self.origin, bulk_names=self._dns_names, seed=0
        )
        listening = set(self.http.hosts if self.http else ())
        for name in self.sites.names():
            if zone.exists(name):
                continue
            site = self.sites.get(name)
            assert site is not None
            if site.all_addresses:
                for address in (*self.addresses, DEAD_ADDRESS):
                    zone.add(name, "AAAA" if ":" in address else "A", address)
                continue
            zone.add(name, "A", site.ip if site.ip in listening else self.addresses[0])
        self.dns_server = dns.DnsServer(zone, host=self.addresses[0], port=port)
        await self.dns_server.start()
        self.dns_port = int(self.dns_server.port)
        self.dns_address = f"{self.addresses[0]}:{self.dns_port}"

    async def _start_hostile(self) -> None:
        hostile = _optional("hostile")
        if hostile is None:
            return
        self.hostile_farm = hostile.HostileFarm(host=self.addresses[0])
        await self.hostile_farm.start()
        self.hostile = dict(self.hostile_farm.endpoints)

    async def aclose(self) -> None:
        """Stop every server and delete the certificate directory (idempotent)."""
        closers: list[Any] = [*self._variants, self.https, self.http]
        closers += [self.dns_server, self.hostile_farm]
        self._variants = []
        self.http = self.https = self.dns_server = self.hostile_farm = None
        try:
            for closer in closers:
                if closer is not None:
                    await closer.aclose()
        finally:
            if self.cert_dir is not None:
                shutil.rmtree(self.cert_dir, ignore_errors=True)
                self.cert_dir = None

    # -- ground truth and targets ---------------------------------------------

    def port_for(self, scheme: str) -> int:
        """The lab port serving ``scheme`` ("http" or "https")."""
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme must be http or https, not {scheme!r}")
        return self.http_port if scheme == "http" else self.https_port

    def url(self, site: str, scheme: str = "http", path: str = "/") -> str:
        """``scheme://site:port/path`` with the lab's port for ``scheme``."""
        return f"{scheme}://{site}:{self.port_for(scheme)}{path}"

    def address_of(self, name: str) -> str:
        """The loopback address ``name`` maps to (from the catalogue: no DNS involved)."""
        site = self.sites.get(name)
        if site is None:
            raise ValueError(f"no such lab site: {name!r}")
        hosts = self.http.hosts if self.http else self.addresses
        return site.ip if site.ip in hosts else self.addresses[0]

    def expected(self, site: str, scheme: str = "http", *, max_redirects: int = 10) -> Expectation:
        """The ground truth for ``scheme://site/`` (see :meth:`Catalogue.expected`)."""
        return self.sites.expected(site, scheme, max_redirects=max_redirects)

    def truth(
        self, schemes: Sequence[str] = ("http", "https"), *, max_redirects: int = 10
    ) -> list[tuple[str, Expectation]]:
        """Every (url, expectation) pair: each site over each scheme."""
        return [
            (
                self.url(site.name, scheme),
                self.sites.expected(site, scheme, max_redirects=max_redirects),
            )
            for site in self.sites
            for scheme in schemes
        ]

    def http_urls(self, scheme: str = "http") -> list[str]:
        """The root URL of every site over ``scheme``, by name (resolve through the lab DNS)."""
        return [self.url(name, scheme) for name in self.sites.names()]

    def host_port_targets(self, scheme: str = "http") -> list[str]:
        """``name:port`` for every site (the port serving ``scheme``)."""
        port = self.port_for(scheme)
        return [f"{name}:{port}" for name in self.sites.names()]

    def state(self) -> dict[str, object]:
        """A JSON-ready description of the running lab (what ``lab up`` writes)."""
        certs = self.certs
        return {
            "origin": self.origin,
            "addresses": list(self.http.hosts if self.http else self.addresses),
            "http_port": self.http_port,
            "https_port": self.https_port,
            "dns_port": self.dns_port,
            "dns_address": self.dns_address,
            "tls_ports": dict(self.tls_ports),
            "hostile": {k: [h, p] for k, (h, p) in self.hostile.items()},
            "sites": len(self.sites),
            "latency": self.latency,
            "certs": {
                "dir": str(certs.directory),
                "cert": str(certs.self_signed.cert),
                "key": str(certs.self_signed.key),
                "ca": str(certs.ca.cert),
                "leaf": str(certs.leaf.cert),
                "expired": str(certs.expired.cert),
                "wrong_host": str(certs.wrong_host.cert),
            }
            if certs
            else None,
        }

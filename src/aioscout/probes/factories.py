"""The built-in probes' factories, named by their registrations (see :mod:`aioscout.registry`).

They live here, not beside the commands, so that a worker unpickling one
imports the probe it runs and nothing of the command line. Each is called
as ``f(*args, config)``; the modules its body imports lazily are listed in
its registration's ``worker_imports``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from .._config import DnsOptions

if TYPE_CHECKING:
    from .._config import FetchOptions, HttpOptions, Limits, ScanConfig
    from ..engine import Probe

__all__ = ["make_dns_probe", "make_fetch_probe", "make_http_probe", "share_resolver_rate"]


def make_http_probe(options: HttpOptions, limits: Limits, config: ScanConfig) -> Probe[Any]:
    """Build an :class:`HttpProbe` for ``config``.

    With ``--all-ips`` it is wrapped so each host gives one record per address.
    """
    if options.all_ips:
        from .all_ips import AllAddressesProbe as cls
    else:
        from .http import HttpProbe as cls  # type: ignore[assignment]
    return cls(
        options, config.timeouts, limits, concurrency=config.concurrency, per_host=config.per_host
    )


def make_dns_probe(options: DnsOptions, domains: tuple[str, ...], config: ScanConfig) -> Probe[Any]:
    """Build a :class:`DnsProbe`."""
    from .dns import DnsProbe

    return DnsProbe(options, domains=domains)


def make_fetch_probe(
    options: FetchOptions, http: HttpOptions, limits: Limits, config: ScanConfig
) -> Probe[Any]:
    """Build a :class:`FetchProbe` for ``config``."""
    from .fetch import FetchProbe

    return FetchProbe(
        options,
        http,
        config.timeouts,
        limits,
        concurrency=config.concurrency,
        per_host=config.per_host,
    )


def share_resolver_rate(options: DnsOptions, workers: int) -> DnsOptions:
    """Each of ``workers`` processes sends its share of the queries: give it its share
    of ``per_resolver_rate`` too, so the whole run keeps the rate asked for."""
    if workers <= 1 or options.per_resolver_rate <= 0:
        return options
    return dataclasses.replace(options, per_resolver_rate=options.per_resolver_rate / workers)

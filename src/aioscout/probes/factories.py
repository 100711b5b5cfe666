"""Picklable probe factories: what a worker process is told to build.

They live here, not beside the commands, so that a worker unpickling one
imports the probe it runs and nothing of the command line (click and the
commands' modules cost a worker about 20 ms of start-up each).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .._config import DnsOptions, FetchOptions, HttpOptions, Limits, ScanConfig, SshOptions
    from ..engine import Probe

__all__ = ["make_dns_probe", "make_fetch_probe", "make_http_probe", "make_ssh_probe", "modules_for"]

_F = TypeVar("_F", bound=Callable[..., object])
_IMPORTS = "worker_imports"


def _imports(*modules: str) -> Callable[[_F], _F]:
    """Name, beside a factory, the modules its probe loads (the lazy imports in its body,
    and the encoder its records cross in), for :func:`modules_for`."""

    def mark(func: _F) -> _F:
        setattr(func, _IMPORTS, modules)
        return func

    return mark


@_imports("aioscout.probes.http", "aioscout.probes._fast_http", "aioscout.sinks.jsonl")
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


@_imports("aioscout.probes.dns", "aioscout.sinks.jsonl")
def make_dns_probe(options: DnsOptions, domains: tuple[str, ...], config: ScanConfig) -> Probe[Any]:
    """Build a :class:`DnsProbe`."""
    from .dns import DnsProbe

    return DnsProbe(options, domains=domains)


@_imports("aioscout.probes.fetch")
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


@_imports("aioscout.probes.ssh", "aioscout.sinks.jsonl")
def make_ssh_probe(options: SshOptions, config: ScanConfig) -> Probe[Any]:
    """Build an :class:`SshProbe` whose attempts end within ``config``'s total."""
    from .ssh import SshProbe

    return SshProbe(options, total=config.timeouts.total)


def modules_for(factory: Callable[..., object]) -> tuple[str, ...]:
    """The modules a worker building ``factory``'s probe imports (none for other callables).

    A command imports them before it forks its workers, so the copies have them.
    """
    func = getattr(factory, "func", factory)  # a functools.partial of one of these
    modules: tuple[str, ...] = getattr(func, _IMPORTS, ())
    return modules

"""``aioscout dns``: subdomain brute force and bulk resolution."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import Any

import click

from .. import registry
from .._config import DnsOptions, HttpOptions, Limits, ScanConfig
from .._exceptions import AioscoutError
from .._loop import run_loop
from .._models import DnsResult, Record
from ..engine import Probe, Stats, Stopper
from ._common import (
    OutputSpec,
    common_options,
    execute,
    fail,
    fingerprint,
    input_identity,
    leaves,
    run_command,
    scan_config_from,
)

__all__ = ["dns"]


def share_resolver_rate(options: DnsOptions, workers: int) -> DnsOptions:
    """Each of ``workers`` processes sends its share of the queries: give it its share
    of ``per_resolver_rate`` too, so the whole run keeps the rate asked for."""
    if workers <= 1 or options.per_resolver_rate <= 0:
        return options
    return dataclasses.replace(options, per_resolver_rate=options.per_resolver_rate / workers)


def _read_resolvers(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    except OSError as exc:
        fail(f"--resolvers {path}: {exc.strerror}")
        return []


class _NameFeed:
    """A sink that streams found names into the HTTP prober running beside the DNS scan."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(10_000)

    async def write(self, records: Sequence[Record]) -> None:
        for r in records:
            if isinstance(r, DnsResult):
                await self.queue.put(r.name)

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        await self.queue.put(None)

    async def lines(self) -> AsyncIterator[str]:
        while (name := await self.queue.get()) is not None:
            yield name


@click.command()
@common_options(default_concurrency=2000, short_workers=False)
@click.option(
    "-w", "--wordlist", metavar="FILE", help="Brute force: words tried under each DOMAIN."
)
@click.option("-r", "--resolver", multiple=True, metavar="IP[:PORT]", help="DNS server to use.")
@click.option("--resolvers", "resolvers_file", metavar="FILE", help="DNS servers, one per line.")
@click.option(
    "--trusted-resolver",
    multiple=True,
    metavar="IP[:PORT]",
    help="Re-check found names against this server before reporting them.",
)
@click.option(
    "-t",
    "--type",
    "types",
    default="A",
    show_default=True,
    help="Record types: A,AAAA,CNAME,MX,NS,TXT,PTR,SOA.",
)
@click.option(
    "--only-found/--all",
    "only_found",
    default=None,
    help="Print only names that exist (default for brute force) or every name.",
)
@click.option("--keep-wildcards", is_flag=True, help="Keep wildcard matches (marked).")
@click.option(
    "--wildcard-checks",
    type=click.IntRange(0, 20),
    default=3,
    show_default=True,
    help="Random-label queries per parent level (0: no wildcard filtering).",
)
@click.option("--query-timeout", type=click.FloatRange(0.05), default=1.0, show_default=True)
@click.option("--query-retries", type=click.IntRange(0, 20), default=5, show_default=True)
@click.option(
    "--per-resolver-rate",
    type=click.FloatRange(0),
    default=0.0,
    help="Queries per second per resolver (0: no limit).",
)
@click.option("--probe-http", is_flag=True, help="Probe every found name over HTTP(S) too.")
@click.option(
    "--http-ports",
    "http_ports",
    multiple=True,
    metavar="SPEC",
    help="With --probe-http: ports to probe (80,443,https:8443).",
)
@click.option("--dns-output", metavar="FILE", help="With --probe-http: also write DNS records.")
def dns(**p: Any) -> None:
    """Resolve names in bulk, or brute-force subdomains of DOMAIN with -w WORDLIST.

    \b
    Examples:
      aioscout dns example.com -w words.txt -r 127.0.0.1:5353
      aioscout dns -l names.txt -r 127.0.0.1:5353 --all --type A,AAAA
      aioscout dns example.com -w words.txt -r 127.0.0.1:5353 | aioscout http
    """
    from ..targets.sources import open_source

    resolvers = list(p["resolver"])
    if p["resolvers_file"]:
        resolvers += _read_resolvers(p["resolvers_file"])
    brute = p["wordlist"] is not None
    domains: tuple[str, ...] = tuple(p["targets"]) if brute else ()
    if brute and not domains:
        fail("brute force needs at least one DOMAIN argument with -w WORDLIST")
    only_found = p["only_found"] if p["only_found"] is not None else brute
    options = DnsOptions(
        types=tuple(t.strip().upper() for t in p["types"].split(",") if t.strip()),
        resolvers=tuple(resolvers),
        trusted_resolvers=tuple(p["trusted_resolver"]),
        only_found=only_found,
        keep_wildcards=p["keep_wildcards"],
        wildcard_checks=p["wildcard_checks"],
        query_timeout=p["query_timeout"],
        query_retries=p["query_retries"],
        per_resolver_rate=p["per_resolver_rate"],
    )
    if brute:
        config = scan_config_from(p, input_path=p["wordlist"], multiplier=len(domains))
    else:
        source = p["list_file"] or (None if p["targets"] else "-")
        config = scan_config_from(p, input_path=source)
    options = share_resolver_rate(options, config.workers)
    factory = registry.factory("dns", options, domains)
    try:
        probe = factory(config)
    except AioscoutError as exc:
        fail(str(exc))
        return
    keep: Callable[[Record], bool] | None = probe.is_found if only_found else None  # type: ignore[attr-defined]
    if brute:
        lines = functools.partial(open_source, (), p["wordlist"])
        list_path = p["wordlist"]
    else:
        lines = functools.partial(open_source, p["targets"], p["list_file"])
        list_path = p["list_file"]
    if list_path not in (None, "-") and not os.access(list_path, os.R_OK):
        fail(f"cannot read {list_path}")
    spec = OutputSpec(
        output=p["dns_output"] if p["probe_http"] else p["output"],
        as_csv=p["as_csv"],
        resume=p["resume"],
        silent=p["silent"],
        progress=not p["no_progress"],
        fingerprint=fingerprint(
            "dns",
            domains,
            p["targets"] if not brute else (),
            input_identity(list_path),
            options.types,
            config.dedup,
        ),
    )
    if not p["probe_http"]:
        run_command(factory, lines, config, spec, keep=keep)
        return
    if p["resume"]:
        fail("--resume is not supported with --probe-http; run dns, then http -l on its output")
    http_spec = OutputSpec(
        output=p["output"],
        as_csv=p["as_csv"],
        resume=False,
        silent=p["silent"],
        progress=False,
        fingerprint="",
    )
    http_options = HttpOptions(
        resolvers=options.resolvers,
        ports=tuple(x for s in p["http_ports"] for x in s.split(",") if x),
    )
    _run_dns_then_http(factory, lines, config, spec, keep, http_options, http_spec)


def _run_dns_then_http(
    factory: Callable[[ScanConfig], Probe[Any]],
    lines: Callable[[], AsyncIterable[str]],
    config: ScanConfig,
    spec: OutputSpec,
    keep: Callable[[Record], bool] | None,
    http_options: HttpOptions,
    http_spec: OutputSpec,
) -> None:
    import sys

    feed = _NameFeed()
    stopper = Stopper()
    http_config = ScanConfig(
        concurrency=min(config.concurrency, 500), timeouts=config.timeouts, loop=config.loop
    )
    http_factory = registry.factory("http", http_options, Limits())

    async def both() -> tuple[Stats, Stats]:
        async with asyncio.TaskGroup() as tg:
            http_task = tg.create_task(
                execute(http_factory, feed.lines(), http_config, http_spec, signals=False)
            )
            dns_stats = await execute(
                factory,
                lines(),
                config,
                spec,
                keep=keep,
                extra_sinks=[feed],
                quiet_output=True,
                stopper=stopper,
            )
        return dns_stats, await http_task

    try:
        dns_stats, http_stats = run_loop(both(), config.loop)
    except* AioscoutError as group:
        for exc in leaves(group):
            click.echo(f"aioscout: {exc}", err=True)
        sys.exit(1)
    if not spec.silent:
        click.echo("dns:  " + dns_stats.summary_line(), err=True)
        click.echo("http: " + http_stats.summary_line(), err=True)

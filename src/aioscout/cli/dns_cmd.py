"""``aioscout dns``: subdomain brute force and bulk resolution."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import sys
from collections.abc import AsyncIterable, Callable
from typing import Any, TypeVar

import click

from .. import registry
from .._config import DnsOptions, HttpOptions, Limits, ScanConfig
from .._exceptions import AioscoutError
from .._loop import run_loop
from .._models import DnsResult, Record
from ..dnsproto.servers import read_resolver_file
from ..engine import Probe, Stats, Stopper
from ..probes.factories import share_resolver_rate
from ._checks import check_file_arg, check_resolvers, check_source
from ._common import (
    Estimate,
    GroupedCommand,
    OutputSpec,
    all_targets,
    common_options,
    execute,
    exit_for,
    fail,
    fingerprint,
    input_identity,
    output_spec,
    resolver_specs,
    run_command,
    scan_config_from,
)
from ._feed import LineFeed
from ._progress import summary_line

__all__ = ["dns", "found_name"]

F = TypeVar("F", bound=Callable[..., Any])


def found_name(record: Record) -> str | None:
    """The name of a DNS record, for the HTTP prober fed beside the scan."""
    return record.name if isinstance(record, DnsResult) else None


_TYPE_FLAGS = ("a", "aaaa", "cname", "mx", "ns", "txt", "ptr", "soa")


def _type_flags(f: F) -> F:
    """``-a``, ``-aaaa``, ``-cname`` ...: each adds its record type, as in dnsx."""
    for t in reversed(_TYPE_FLAGS):
        f = click.option(f"-{t}", f"qt_{t}", is_flag=True, help=f"Query {t.upper()} records.")(f)
    return f


@click.command(cls=GroupedCommand)
@common_options(default_concurrency=2000)
@click.option(
    "-w", "--wordlist", metavar="FILE", help="Brute force: words tried under each DOMAIN."
)
@click.option(
    "-d",
    "--domain",
    "domain",
    multiple=True,
    metavar="DOMAIN",
    help="Domain to brute-force with -w (repeatable; the same as an argument).",
)
@click.option(
    "-r",
    "--resolver",
    multiple=True,
    metavar="IP[:PORT]",
    help="DNS server to use (repeatable; also IP,IP,... or a file of them, as in dnsx).",
)
@click.option("--resolvers", "resolvers_file", metavar="FILE", help="DNS servers, one per line.")
@click.option(
    "--trusted-resolver",
    multiple=True,
    metavar="IP[:PORT]",
    help="Re-check found names against this server before reporting them.",
)
@click.option(
    "--type",
    "types",
    default=None,
    help="Record types: A,AAAA,CNAME,MX,NS,TXT,PTR,SOA (default A).",
)
@_type_flags
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
@click.option(
    "--query-timeout",
    type=click.FloatRange(0.05),
    default=1.0,
    show_default=True,
    help="Seconds to wait for one answer before asking again.",
)
@click.option(
    "--query-retries",
    type=click.IntRange(0, 20),
    default=5,
    show_default=True,
    help="Queries of a name after the first (on another resolver when there are several).",
)
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

    Names as arguments (-u), from -l FILE or stdin, plain or as JSON Lines
    records (name, else the host of url, else host). On a terminal one line
    per name (name → A 1.2.3.4); JSON Lines on a pipe, in a file, or with -j.
    NXDOMAIN answers count as "not found", not as errors.

    \b
    Examples:
      aioscout dns lab.test -w words.txt -r 127.0.0.1:5353
      aioscout dns -l names.txt -r 127.0.0.1:5353 --all -a -aaaa
      aioscout dns lab.test -w words.txt -r 127.0.0.1:5353 | aioscout http -r 127.0.0.1:5353
    """
    from ..targets.sources import open_source

    brute = p["wordlist"] is not None
    targets = all_targets(p)
    if brute:
        check_file_arg("-w", p["wordlist"])
    else:
        check_source(targets, p["list_file"])
    check_file_arg("--resolvers", p["resolvers_file"])
    resolvers = _resolver_args(p["resolver"])
    check_resolvers("-r", resolvers)
    resolvers = list(resolver_specs(resolvers, p["resolvers_file"]))
    domains: tuple[str, ...] = (*targets, *p["domain"]) if brute else ()
    if brute and not domains:
        fail("brute force needs at least one DOMAIN (an argument or -d) with -w WORDLIST")
    only_found = p["only_found"] if p["only_found"] is not None else brute
    options = _dns_options(p, resolvers, only_found)
    if brute:
        config = scan_config_from(p, input_path=p["wordlist"], multiplier=len(domains))
    else:
        source = p["list_file"] or (None if targets else "-")
        config = scan_config_from(p, input_path=source)
    options = share_resolver_rate(options, config.workers)
    factory = registry.factory("dns", options, domains)
    try:
        factory(config)  # checks the record types and domains before anything is opened
    except AioscoutError as exc:
        fail(str(exc))
    if config.workers > 1:  # before the workers: a dead resolver list is one clear error
        from ..probes.dns import check_resolvers_answer

        try:
            run_loop(check_resolvers_answer(options, domains), config.loop)
        except AioscoutError as exc:
            click.echo(f"aioscout: {exc}", err=True)
            sys.exit(1)
    if brute:
        lines = functools.partial(open_source, (), p["wordlist"], want=None)
        list_path = p["wordlist"]
        estimate: Estimate | None = Estimate(path=p["wordlist"], per_line=len(domains))
    else:
        lines = functools.partial(open_source, targets, p["list_file"], want="name")
        list_path = p["list_file"]
        listed = list_path if list_path not in (None, "-") else None
        stdin = list_path == "-" or not (targets or list_path)
        estimate = None if stdin else Estimate(path=listed, args=targets)
    spec = output_spec(
        p,
        "dns",
        fingerprint(
            "dns",
            domains,
            targets if not brute else (),
            input_identity(list_path),
            options.types,
            config.dedup,
        ),
        output=p["dns_output"] if p["probe_http"] else p["output"],
        estimate=estimate,
        not_found=True,
    )
    if not p["probe_http"]:
        run_command(factory, lines, config, spec)
        return
    if p["resume"]:
        fail("--resume is not supported with --probe-http; run dns, then http -l on its output")
    http_spec = dataclasses.replace(
        output_spec(p, "http", "", output=p["output"]), resume=False, progress=False
    )
    http_options = HttpOptions(
        resolvers=options.resolvers,
        ports=tuple(x for s in p["http_ports"] for x in s.split(",") if x),
    )
    _run_dns_then_http(factory, lines, config, spec, http_options, http_spec)


def _dns_options(p: dict[str, Any], resolvers: list[str], only_found: bool) -> DnsOptions:
    """The :class:`DnsOptions` of the parsed flags (types from --type and -a, -aaaa...)."""
    if p["types"] is not None and not p["types"].strip(" ,"):
        fail("--type: empty (give A,AAAA,CNAME,MX,NS,TXT,PTR,SOA)")
    types = [t.strip().upper() for t in (p["types"] or "").split(",") if t.strip()]
    types += [t.upper() for t in _TYPE_FLAGS if p[f"qt_{t}"] and t.upper() not in types]
    return DnsOptions(
        types=tuple(types or ["A"]),
        resolvers=tuple(resolvers),
        trusted_resolvers=resolver_specs(p["trusted_resolver"]),
        only_found=only_found,
        keep_wildcards=p["keep_wildcards"],
        wildcard_checks=p["wildcard_checks"],
        query_timeout=p["query_timeout"],
        query_retries=p["query_retries"],
        per_resolver_rate=p["per_resolver_rate"],
    )


def _resolver_args(values: tuple[str, ...]) -> list[str]:
    """``-r`` values: an address, a comma-separated list, or a file of them (as in dnsx)."""
    out: list[str] = []
    for value in values:
        if os.path.isfile(value):
            out += read_resolver_file(value)
        elif not value.strip(" ,"):
            fail("-r: empty resolver (give IP or IP:PORT)")
        else:
            out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def _run_dns_then_http(
    factory: Callable[[ScanConfig], Probe[Any]],
    lines: Callable[[], AsyncIterable[str]],
    config: ScanConfig,
    spec: OutputSpec,
    http_options: HttpOptions,
    http_spec: OutputSpec,
) -> None:
    feed = LineFeed(found_name)
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
                extra_sinks=[feed],
                quiet_output=True,
                stopper=stopper,
            )
        return dns_stats, await http_task

    try:
        dns_stats, http_stats = run_loop(both(), config.loop)
    except* AioscoutError as group:
        exit_for(group)
    if not spec.silent:
        click.echo("dns:  " + summary_line(dns_stats, not_found=True), err=True)
        click.echo("http: " + summary_line(http_stats), err=True)

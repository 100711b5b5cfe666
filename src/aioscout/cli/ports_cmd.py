"""``aioscout ports``: a TCP connect scan with banners and service names."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import sys
from collections.abc import AsyncIterable, Callable
from typing import Any

import click
from click.core import ParameterSource

from .. import registry
from .._config import HttpOptions, Limits, PortOptions, ScanConfig, Timeouts
from .._exceptions import AioscoutError, ConfigError
from .._loop import run_loop
from .._models import PortResult, Record
from ..engine import Probe, Stats
from ._common import (
    OutputSpec,
    cluster_address,
    common_options,
    default_workers,
    execute,
    fail,
    fingerprint,
    input_identity,
    leaves,
    parse_timeouts,
    run_command,
)
from ._feed import LineFeed

__all__ = ["ports"]

# --per-host and --timeout when not given: PortOptions' own (sockets to one host at
# once; seconds to connect, and to identify a port)
_DEFAULT = PortOptions()
_PER_HOST, _CONNECT, _READ = _DEFAULT.per_host, _DEFAULT.connect_timeout, _DEFAULT.read_timeout
_WORKER_PAIRS = 50_000  # host×port pairs from which a second process pays for itself
_ALL_RECORDS = 500_000  # with --all: port records held at once (hosts in flight × ports)


def web_url(record: Record) -> str | None:
    """The URL of a web port found, for the HTTP prober fed beside the scan."""
    return record.url if isinstance(record, PortResult) else None


def _given(name: str) -> bool:
    ctx = click.get_current_context()
    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)


def _workers(p: dict[str, Any], pairs_per_host: int) -> int:
    """``-w`` when not given: every core once the host×port pairs are many."""
    if p["workers"]:
        return int(p["workers"])
    source = p["list_file"] or (None if p["targets"] else "-")
    if source is not None:
        return default_workers(source, multiplier=max(1, pairs_per_host // 16))
    hosts = sum(_hosts_in(t) for t in p["targets"])
    return default_workers("-") if hosts * pairs_per_host >= _WORKER_PAIRS else 1


def _hosts_in(arg: str) -> int:
    """How many hosts a command-line target names (a CIDR's size, else one)."""
    import ipaddress

    try:
        return ipaddress.ip_network(arg.strip(), strict=False).num_addresses
    except ValueError:
        return 1


def _options(p: dict[str, Any], timeouts: Timeouts) -> PortOptions:
    specs = tuple(p["ports"])
    if p["top_ports"] and specs:
        fail("give -p PORTS or --top-ports N, not both")
    return PortOptions(
        ports=specs,
        top_ports=p["top_ports"] or 0,
        connections=p["concurrency"],
        per_host=p["per_host"] if _given("per_host") else _PER_HOST,
        rate=p["rate"],
        connect_timeout=timeouts.connect,
        retries=p["retries"],
        banners=not p["no_banners"],
        banner_wait=p["banner_wait"],
        read_timeout=timeouts.read,
        report_all=p["report_all"],
        resolvers=tuple(p["resolver"]),
    )


@click.command()
@common_options(default_concurrency=1000)
@click.option(
    "-p",
    "--ports",
    multiple=True,
    metavar="PORTS",
    help="Ports: 22,80,443,8000-8100; '-p-' for all 65,535. Default: --top-ports 100.",
)
@click.option(
    "--top-ports",
    type=click.IntRange(1, 65535),
    default=None,
    metavar="N",
    help="The first N ports of the shipped ranking.",
)
@click.option(
    "--all", "report_all", is_flag=True, help="A record per closed and filtered port too."
)
@click.option("--no-banners", is_flag=True, help="Only find open ports; do not identify them.")
@click.option(
    "--banner-wait",
    type=click.FloatRange(0.0, 60.0),
    default=0.25,
    show_default=True,
    help="Seconds to listen for a service that speaks first before asking it.",
)
@click.option("-r", "--resolver", multiple=True, metavar="IP[:PORT]", help="DNS server to use.")
@click.option("--probe-http", is_flag=True, help="Probe every web port found over HTTP(S) too.")
@click.option("--ports-output", metavar="FILE", help="With --probe-http: also write port records.")
@click.option("--syn", is_flag=True, help="SYN scan (raw sockets): see the README.")
def ports(**p: Any) -> None:
    """Find open TCP ports of TARGETS and name the service on each from what it says.

    -c is the connections open at once (across workers), --per-host those to
    one host (default 256), --rate connection attempts per second; --timeout
    is connect=N,read=N (default connect=1,read=1; a host that answers gets
    a connect timeout from its round trips, 0.1 s at least); --retries re-tries
    ports that did not answer before they count as filtered.

    \b
    Examples:
      aioscout ports 127.0.0.1 -p 22,80,8000-8100
      aioscout ports -l hosts.txt --top-ports 1000 -o ports.jsonl
      aioscout dns example.com -w words.txt -r 127.0.0.1:5353 | aioscout ports -p 80,443
      aioscout ports 127.0.0.0/28 -p 80,443,8080 | aioscout http
    """
    from ..probes.ports import fd_budget, port_list, share_budget
    from ..targets.sources import open_source

    if p["syn"]:
        fail(
            "--syn is not offered: a raw-socket SYN scan measured no faster than this "
            "connect scan once its lost answers are retried (see the README)"
        )
    if _given("timeout_spec"):
        timeouts = parse_timeouts(p["timeout_spec"])
    else:
        timeouts = Timeouts(connect=_CONNECT, read=_READ, total=_CONNECT + 2 * _READ)
    options = _options(p, timeouts)
    try:
        plan = port_list(options)
    except ConfigError as exc:
        fail(str(exc))
    allowed, notice = fd_budget(options.connections)
    if notice is not None and not p["silent"]:
        click.echo(f"aioscout: {notice}", err=True)
    workers = _workers(p, len(plan))
    options = share_budget(dataclasses.replace(options, connections=allowed), workers)
    hosts = min(p["concurrency"], 10_000)
    if options.report_all:  # every port of a host in flight is held as a record until it ends
        hosts = max(1, min(hosts, _ALL_RECORDS // len(plan)))
    cluster = cluster_address(p.get("cluster"))
    config = ScanConfig(
        concurrency=hosts,
        per_host=8,
        rate=0.0,
        retries=0,
        timeouts=timeouts,
        dedup=not p["no_dedup"],
        workers=1 if cluster else workers,
        loop=p["loop_name"],
        cluster=cluster,
        cluster_tasks=(p["workers"] or 0) if cluster else 0,
    )
    list_path = p["list_file"]
    if list_path not in (None, "-") and not os.access(list_path, os.R_OK):
        fail(f"cannot read {list_path}")
    # JSON records stay whole: the probe takes host, ip and port from them.
    lines = functools.partial(open_source, p["targets"], list_path, want=None)
    factory = registry.factory("ports", options)
    spec = OutputSpec(
        output=p["ports_output"] if p["probe_http"] else p["output"],
        as_csv=p["as_csv"],
        resume=p["resume"],
        silent=p["silent"],
        progress=not p["no_progress"],
        fingerprint=fingerprint(
            "ports", p["targets"], input_identity(list_path), bytes(plan), config.dedup
        ),
    )
    if not p["probe_http"]:
        run_command(factory, lines, config, spec)
        return
    if p["resume"]:
        fail("--resume is not supported with --probe-http; run ports, then http on its output")
    http_spec = OutputSpec(
        output=p["output"],
        as_csv=p["as_csv"],
        resume=False,
        silent=p["silent"],
        progress=False,
        fingerprint="",
    )
    _run_ports_then_http(
        factory, lines, config, spec, HttpOptions(resolvers=options.resolvers), http_spec
    )


def _run_ports_then_http(
    factory: Callable[[ScanConfig], Probe[Any]],
    lines: Callable[[], AsyncIterable[str]],
    config: ScanConfig,
    spec: OutputSpec,
    http_options: HttpOptions,
    http_spec: OutputSpec,
) -> None:
    feed = LineFeed(web_url)
    http_config = ScanConfig(concurrency=min(config.concurrency, 500), loop=config.loop)
    http_factory = registry.factory("http", http_options, Limits())
    if config.workers > 1:
        from ..engine._spawn import prefork

        prefork(config.workers, registry.worker_modules(factory))

    async def both() -> tuple[Stats, Stats]:
        async with asyncio.TaskGroup() as tg:
            http_task = tg.create_task(
                execute(http_factory, feed.lines(), http_config, http_spec, signals=False)
            )
            port_stats = await execute(
                factory, lines(), config, spec, extra_sinks=[feed], quiet_output=True
            )
        return port_stats, await http_task

    try:
        port_stats, http_stats = run_loop(both(), config.loop)
    except* AioscoutError as group:
        for exc in leaves(group):
            click.echo(f"aioscout: {exc}", err=True)
        sys.exit(1)
    if not spec.silent:
        click.echo("ports: " + port_stats.summary_line(), err=True)
        click.echo("http:  " + http_stats.summary_line(), err=True)

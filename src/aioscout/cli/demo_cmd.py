"""``aioscout demo``: the main job end to end on the built-in lab.

Starts the lab on loopback, enumerates its hosts by DNS brute force through
the lab's own DNS server, streams every name found into the HTTP prober
(plain HTTP and HTTPS ports), writes the records to ``demo-results.jsonl``,
checks them against the lab's ground truth and stops the lab.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import TYPE_CHECKING

import click
import orjson

from .. import registry
from .._config import DnsOptions, HttpOptions, Limits, ScanConfig
from .._loop import run_loop
from ..engine import Stats, Stopper
from ._common import OutputSpec, execute
from ._feed import LineFeed
from ._progress import summary_line
from .dns_cmd import found_name

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["demo"]


@click.command()
@click.option(
    "-o",
    "--output",
    default="demo-results.jsonl",
    show_default=True,
    help="Where the HTTP records are written.",
)
@click.option(
    "--sites",
    type=click.IntRange(1),
    default=500,
    show_default=True,
    help="Generated sites in the lab, besides the special ones.",
)
@click.option("-s", "--silent", is_flag=True, help="Print nothing but errors.")
@click.version_option(None, "-V", "--version", package_name="aioscout")
def demo(output: str, sites: int, silent: bool) -> None:
    """Start the lab, find its hosts by DNS, probe them over HTTP(S), check the results.

    \b
    Examples:
      aioscout demo
      aioscout demo --sites 2000 -o demo.jsonl
      aioscout demo -s && wc -l demo-results.jsonl
    """
    run_loop(_demo(output, sites, silent))


async def _demo(output: str, sites: int, silent: bool) -> None:
    from ..lab import Lab

    def say(msg: str) -> None:
        if not silent:
            click.echo(msg, err=True)

    async with Lab(sites=sites, hostile=False, dns_names=20_000) as lab:
        assert lab.dns_address is not None
        say(
            f"lab up: http 127.0.0.1:{lab.http_port}, https 127.0.0.1:{lab.https_port}, "
            f"dns {lab.dns_address} ({len(lab.sites)} sites in zone {lab.origin})"
        )
        labels = sorted(
            {
                name.removesuffix("." + lab.origin)
                for name in lab.sites.names()
                if name != lab.origin
            }
        )
        decoys = [f"nothing-here-{i}" for i in range(len(labels))]
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as words:
            words.write("\n".join(labels + decoys) + "\n")
        try:
            dns_stats, http_stats = await _scan(lab, words.name, output, silent)
        finally:
            os.unlink(words.name)
        say("dns:  " + summary_line(dns_stats, not_found=True))
        say("http: " + summary_line(http_stats))
        right, total = _check(lab, output)
        say(
            f"{right}/{total} probes match the lab's ground truth (status and title); "
            f"records in {output}"
        )


async def _scan(lab: Lab, wordlist: str, output: str, silent: bool) -> tuple[Stats, Stats]:
    from ..targets.sources import open_source

    assert lab.dns_address is not None
    resolvers = (lab.dns_address,)
    dns_options = DnsOptions(resolvers=resolvers)
    dns_config = ScanConfig(concurrency=500)
    http_options = HttpOptions(
        resolvers=resolvers, ports=(f"http:{lab.http_port}", f"https:{lab.https_port}")
    )
    http_config = ScanConfig(concurrency=200)
    feed, stopper = LineFeed(found_name), Stopper()
    dns_probe = registry.factory("dns", dns_options, (lab.origin,))
    http_spec = OutputSpec(
        output=output, as_csv=False, resume=False, silent=silent, progress=True, fingerprint="demo"
    )
    dns_spec = OutputSpec(
        output=None, as_csv=False, resume=False, silent=True, progress=False, fingerprint=""
    )
    async with asyncio.TaskGroup() as tg:
        http_task = tg.create_task(
            execute(
                registry.factory("http", http_options, Limits()),
                feed.lines(),
                http_config,
                http_spec,
                stopper=stopper,
            )
        )
        dns_stats = await execute(
            dns_probe,
            open_source((), wordlist),
            dns_config,
            dns_spec,
            extra_sinks=[feed],
            quiet_output=True,
            stopper=stopper,
            signals=False,
        )
    return dns_stats, await http_task


def _check(lab: Lab, output: str) -> tuple[int, int]:
    """How many records agree with the lab's own expectation for their URL."""
    truth = dict(lab.truth())
    right = total = 0
    with open(output, "rb") as f:
        for line in f:
            rec = orjson.loads(line)
            want = truth.get(rec.get("url"))
            if want is None:
                continue
            total += 1
            right += rec.get("status") == want.status and rec.get("title") == want.title
    return right, total

"""``aioscout fetch``: stream whole bodies of URLs to a directory, one record per URL."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import click

from .. import registry
from .._config import FetchOptions, HttpOptions, Limits
from ._common import (
    OutputSpec,
    common_options,
    fail,
    fingerprint,
    input_identity,
    parse_pairs,
    run_command,
    scan_config_from,
)

__all__ = ["fetch", "fetch_http_options_from"]


def fetch_http_options_from(p: dict[str, Any]) -> HttpOptions:
    """The request side of ``aioscout fetch`` (headers, cookies, TLS, proxy, resolvers)."""
    return HttpOptions(
        headers=parse_pairs(p["header"], ":", "--header"),
        cookies=parse_pairs(p["cookie"], "=", "--cookie"),
        user_agent=p["user_agent"],
        verify=p["verify"],
        ca_file=p["ca_file"],
        sni=p["sni"],
        proxy=p["proxy"],
        proxy_auth=p["proxy_auth"],
        resolvers=tuple(p["resolver"]),
    )


@click.command()
@common_options(default_concurrency=16)
@click.option(
    "-d",
    "--dir",
    "directory",
    default=".",
    show_default=True,
    metavar="DIR",
    help="Where the bodies are written (created if missing).",
)
@click.option(
    "--restart-partial",
    is_flag=True,
    help="Start interrupted downloads over instead of resuming them with Range.",
)
@click.option(
    "--max-time",
    type=click.FloatRange(1),
    default=86_400.0,
    show_default=True,
    help="Seconds one download may take in all (connect/read gaps use --timeout).",
)
@click.option("--max-redirects", type=click.IntRange(0, 100), default=10, show_default=True)
@click.option("-H", "--header", multiple=True, metavar="'NAME: VALUE'", help="Request header.")
@click.option("--cookie", multiple=True, metavar="NAME=VALUE", help="Request cookie.")
@click.option("--user-agent", metavar="UA", help="User-Agent header.")
@click.option("--verify", is_flag=True, help="Verify TLS certificates (report kind 'tls').")
@click.option("--ca-file", metavar="PEM", help="Extra CA bundle for --verify.")
@click.option("--sni", metavar="NAME", help="TLS server name to send.")
@click.option("--proxy", metavar="URL", help="http://, https://, socks4:// or socks5:// proxy.")
@click.option("--proxy-auth", metavar="USER:PASS", help="Proxy credentials.")
@click.option(
    "--resolver",
    multiple=True,
    metavar="IP[:PORT]",
    help="Resolve names through this DNS server (repeatable).",
)
def fetch(**p: Any) -> None:
    """Download whole bodies of URLs to a directory, resuming partial files.

    Targets: http(s) URLs as arguments, from -l FILE, or on stdin. Bodies are
    streamed to DIR chunk by chunk (never held in memory) with their sha256
    computed on the way; one JSON record per URL: path, size, sha256, error.

    \b
    Example:
      aioscout fetch -l urls.txt -d downloads -o fetched.jsonl --per-host 2
    """
    from ..targets.sources import open_source

    http = fetch_http_options_from(p)
    options = FetchOptions(directory=p["directory"], resume_partial=not p["restart_partial"])
    limits = Limits(max_redirects=p["max_redirects"])
    config = scan_config_from(p, limits)
    # The engine bounds every probe by the total: a download needs far more than a page.
    config = dataclasses.replace(
        config,
        timeouts=dataclasses.replace(
            config.timeouts, total=max(config.timeouts.total, p["max_time"])
        ),
    )
    if p["list_file"] not in (None, "-") and not os.access(p["list_file"], os.R_OK):
        fail(f"cannot read target list {p['list_file']}")
    try:
        os.makedirs(options.directory, exist_ok=True)
    except OSError as exc:
        fail(f"--dir {options.directory}: {exc.strerror or exc}")
    list_file = p["list_file"]
    spec = OutputSpec(
        output=p["output"],
        as_csv=p["as_csv"],
        resume=p["resume"],
        silent=p["silent"],
        progress=not p["no_progress"],
        fingerprint=fingerprint(
            "fetch",
            p["targets"],
            input_identity(list_file),
            config.dedup,
        ),
    )
    run_command(
        registry.factory("fetch", options, http, limits),
        lambda: open_source(p["targets"], p["list_file"]),
        config,
        spec,
    )

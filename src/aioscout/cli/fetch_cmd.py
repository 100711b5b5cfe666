"""``aioscout fetch``: stream whole bodies of URLs to a directory, one record per URL."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from .. import registry
from .._config import FetchOptions, HttpOptions, Limits
from ._checks import check_dir_arg, check_file_arg, check_resolvers, check_source
from ._common import (
    Estimate,
    GroupedCommand,
    all_targets,
    common_options,
    fingerprint,
    input_identity,
    output_spec,
    parse_pairs,
    resolver_specs,
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
        resolvers=resolver_specs(p["resolver"]),
        keep_headers_cross_origin=bool(p.get("keep_headers_cross_origin", False)),
    )


@click.command(cls=GroupedCommand)
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
@click.option(
    "-maxr",
    "--max-redirects",
    type=click.IntRange(0, 100),
    default=10,
    show_default=True,
    help="Redirects followed at most.",
)
@click.option(
    "--max-size",
    type=click.IntRange(0),
    default=1024**3,
    show_default=True,
    metavar="BYTES",
    help="Largest body one download may write (too_large, partial file removed); 0: no cap.",
)
@click.option("-H", "--header", multiple=True, metavar="'NAME: VALUE'", help="Request header.")
@click.option("--cookie", multiple=True, metavar="NAME=VALUE", help="Request cookie.")
@click.option(
    "--keep-headers-cross-origin",
    is_flag=True,
    help="Send -H headers to other origins too (redirects); "
    "Authorization and Cookie are still dropped.",
)
@click.option("--user-agent", metavar="UA", help="User-Agent header.")
@click.option("--verify", is_flag=True, help="Verify TLS certificates (report kind 'tls').")
@click.option("--ca-file", metavar="PEM", help="Extra CA bundle for --verify.")
@click.option("--sni", metavar="NAME", help="TLS server name to send.")
@click.option(
    "-proxy",
    "-http-proxy",
    "--proxy",
    metavar="URL",
    help="http://, https://, socks4:// or socks5:// proxy.",
)
@click.option("--proxy-auth", metavar="USER:PASS", help="Proxy credentials.")
@click.option(
    "-r",
    "--resolver",
    multiple=True,
    metavar="IP[:PORT]",
    help="Resolve names through this DNS server (repeatable).",
)
def fetch(**p: Any) -> None:
    """Download whole bodies of URLs to a directory, resuming partial files.

    Targets: http(s) URLs (or JSON Lines records with a url) as arguments,
    with -u, from -l FILE, or on stdin. Bodies are streamed to DIR chunk by
    chunk (never held in memory) with their sha256 computed on the way; one
    record per URL: path, size, sha256, error. On a terminal one line per URL
    (url → path size sha256…); JSON Lines on a pipe, in a file, or with -j.

    \b
    Examples:
      aioscout fetch -l urls.txt -d downloads -o fetched.jsonl --per-host 2
      aioscout fetch http://127.0.0.1:8080/ -d pages
      aioscout http -l hosts.txt -mc 200 -j | aioscout fetch -d pages
    """
    from ..targets.sources import open_source

    targets = all_targets(p)
    check_source(targets, p["list_file"])
    check_file_arg("--ca-file", p["ca_file"])
    check_resolvers("--resolver", p["resolver"])
    check_dir_arg("--dir", p["directory"])
    http = fetch_http_options_from(p)
    options = FetchOptions(
        directory=p["directory"],
        resume_partial=not p["restart_partial"],
        max_size=p.get("max_size", FetchOptions().max_size),
    )
    limits = Limits(max_redirects=p["max_redirects"])
    config = scan_config_from(p)
    # The engine bounds every probe by the total: a download needs far more than a page.
    config = dataclasses.replace(
        config,
        timeouts=dataclasses.replace(
            config.timeouts, total=max(config.timeouts.total, p["max_time"])
        ),
    )
    list_file = p["list_file"]
    stdin = list_file == "-" or not (targets or list_file)
    listed = list_file if list_file not in (None, "-") else None
    spec = output_spec(
        p,
        "fetch",
        fingerprint("fetch", targets, input_identity(list_file), config.dedup),
        estimate=None if stdin else Estimate(path=listed, args=targets),
    )
    run_command(
        registry.factory("fetch", options, http, limits),
        lambda: open_source(targets, list_file),
        config,
        spec,
    )

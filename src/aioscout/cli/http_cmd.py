"""``aioscout http``: probe hosts and URLs over HTTP(S)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from .. import registry
from .._config import HttpOptions, Limits
from .._models import Record
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

__all__ = ["http", "http_options_from"]


def _paths(values: tuple[str, ...]) -> tuple[str, ...]:
    from ..targets.parse import read_paths

    out: list[str] = []
    for v in values:
        try:
            out.extend(read_paths(v))
        except OSError as exc:
            fail(f"--path {v}: {exc.strerror or exc}")
    return tuple(out)


def http_options_from(p: dict[str, Any]) -> HttpOptions:
    """The :class:`HttpOptions` for ``aioscout http``'s parsed flags."""
    data: bytes | None = None
    if p["data"] is not None:
        data = p["data"].encode()
    if p["data_file"] is not None:
        try:
            with open(p["data_file"], "rb") as f:
                data = f.read()
        except OSError as exc:
            fail(f"--data-file {p['data_file']}: {exc.strerror}")
    for field, path in parse_pairs(p["file"], "=", "--file"):
        if not os.access(path, os.R_OK):
            fail(f"--file {field}={path}: cannot read it")
    return HttpOptions(
        method=p["method"].upper(),
        headers=parse_pairs(p["header"], ":", "--header"),
        params=parse_pairs(p["param"], "=", "--param"),
        cookies=parse_pairs(p["cookie"], "=", "--cookie"),
        data=data,
        json=p["json_body"],
        form=parse_pairs(p["form"], "=", "--form"),
        files=parse_pairs(p["file"], "=", "--file"),
        user_agent=p["user_agent"],
        random_agent=p["random_agent"],
        follow_redirects=p["follow_redirects"],
        verify=p["verify"],
        ca_file=p["ca_file"],
        sni=p["sni"],
        proxy=p["proxy"],
        proxy_auth=p["proxy_auth"],
        resolvers=tuple(p["resolver"]),
        ports=tuple(x for spec in p["ports"] for x in spec.split(",") if x),
        paths=_paths(p["path"]),
        all_ips=p["all_ips"],
        include_headers=p["include_headers"],
        favicon=p["favicon"],
        tech=p["tech"],
        http2=p["http2"],
        websocket=p["websocket"],
        body_preview=p["body_preview"],
        store_responses=p["store_responses"],
    )


_METHODS = click.Choice(
    ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"], case_sensitive=False
)


@click.command()
@common_options(default_concurrency=256)
@click.option("-X", "--method", type=_METHODS, default="GET", show_default=True)
@click.option("-H", "--header", multiple=True, metavar="'NAME: VALUE'", help="Request header.")
@click.option("--param", multiple=True, metavar="KEY=VALUE", help="Query parameter.")
@click.option("--cookie", multiple=True, metavar="NAME=VALUE", help="Request cookie.")
@click.option("--data", metavar="TEXT", help="Request body.")
@click.option("--data-file", metavar="FILE", help="Request body from FILE.")
@click.option("--json", "json_body", metavar="JSON", help="JSON request body.")
@click.option("--form", multiple=True, metavar="KEY=VALUE", help="Form field (urlencoded).")
@click.option("--file", multiple=True, metavar="FIELD=PATH", help="Multipart file field.")
@click.option("--user-agent", metavar="UA", help="User-Agent header.")
@click.option("--random-agent", is_flag=True, help="A random browser User-Agent per request.")
@click.option("--follow-redirects/--no-follow-redirects", default=True, show_default=True)
@click.option("--max-redirects", type=click.IntRange(0, 100), default=10, show_default=True)
@click.option(
    "--max-body",
    type=click.IntRange(0),
    default=256 * 1024,
    show_default=True,
    help="Bytes of each body read (after decompression).",
)
@click.option(
    "--max-cidr",
    type=click.IntRange(1),
    default=65536,
    show_default=True,
    help="Largest CIDR range expanded.",
)
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
@click.option(
    "-p",
    "--ports",
    multiple=True,
    metavar="SPEC",
    help="Ports to probe on each host: 80,443,8000-8100,https:8443.",
)
@click.option("--path", multiple=True, metavar="PATH|FILE", help="Path(s) tried on every host.")
@click.option(
    "--all-ips", is_flag=True, help="Probe every A/AAAA address of a host: a record per address."
)
@click.option("--include-headers", is_flag=True, help="Add response headers to records.")
@click.option("--favicon", is_flag=True, help="Favicon mmh3 hash (Shodan convention).")
@click.option("--tech", is_flag=True, help="Technology detection.")
@click.option("--http2", is_flag=True, help="Check HTTP/2 support (ALPN).")
@click.option("--websocket", is_flag=True, help="Check websocket upgrade support.")
@click.option(
    "--body-preview",
    type=click.IntRange(0),
    default=0,
    metavar="N",
    help="First N characters of the body.",
)
@click.option("--store-responses", metavar="DIR", help="Save each response under DIR.")
@click.option("--match-code", "mc", metavar="CODES", help="Keep only these statuses (200,301-303).")
@click.option("--filter-code", "fc", metavar="CODES", help="Drop these statuses.")
@click.option("--match-length", "ml", metavar="N,..", help="Keep only these content lengths.")
@click.option("--filter-length", "fl", metavar="N,..", help="Drop these content lengths.")
@click.option("--match-string", "ms", multiple=True, help="Keep if title/body contains it.")
@click.option("--filter-string", "fs", multiple=True, help="Drop if title/body contains it.")
@click.option("--match-regex", "mr", multiple=True, help="Keep if title/body matches it.")
@click.option("--filter-regex", "fr", multiple=True, help="Drop if title/body matches it.")
@click.option("--match-favicon", "mfav", multiple=True, type=int, help="Keep these favicon hashes.")
@click.option("--filter-favicon", "ffav", multiple=True, type=int, help="Drop these hashes.")
@click.option("--match-time", "mt", metavar="EXPR", help="Keep by response time: '<500' (ms).")
@click.option("--filter-time", "ft", metavar="EXPR", help="Drop by response time: '>=2000'.")
def http(**p: Any) -> None:
    """Probe hosts and URLs over HTTP(S): status, title, redirects, TLS and more.

    Targets: host, host:port, http(s)://host[:port]/path, IPv4/IPv6, CIDR; as
    arguments, from -l FILE, or on stdin. One JSON record per target.

    \b
    Example:
      aioscout http -l hosts.txt -o out.jsonl --follow-redirects --silent
    """
    from ..targets.sources import open_source

    if p["all_ips"] and p["proxy"]:
        fail("--all-ips cannot be combined with --proxy: the proxy resolves the names")
    options = http_options_from(p)
    limits = Limits(
        max_body=p["max_body"], max_redirects=p["max_redirects"], max_cidr_hosts=p["max_cidr"]
    )
    source = p["list_file"] or (None if p["targets"] else "-")
    config = scan_config_from(p, limits, input_path=source)
    keep = _keep_from(p)
    if p["list_file"] not in (None, "-") and not os.access(p["list_file"], os.R_OK):
        fail(f"cannot read target list {p['list_file']}")
    spec = OutputSpec(
        output=p["output"],
        as_csv=p["as_csv"],
        resume=p["resume"],
        silent=p["silent"],
        progress=not p["no_progress"],
        fingerprint=fingerprint(
            "http",
            p["targets"],
            input_identity(p["list_file"]),
            options.ports,
            options.paths,
            config.dedup,
            limits.max_cidr_hosts,
        ),
    )

    run_command(
        registry.factory("http", options, limits),
        lambda: open_source(p["targets"], p["list_file"]),
        config,
        spec,
        keep=keep,
    )


_MATCHER_KEYS = ("mc", "fc", "ml", "fl", "ms", "fs", "mr", "fr", "mfav", "ffav", "mt", "ft")


def _keep_from(p: dict[str, Any]) -> Callable[[Record], bool] | None:
    if not any(p[k] for k in _MATCHER_KEYS):
        return None
    from .. import filters

    try:
        m = filters.Matchers(
            match_code=filters.parse_codes(p["mc"]) if p["mc"] else frozenset(),
            filter_code=filters.parse_codes(p["fc"]) if p["fc"] else frozenset(),
            match_length=filters.parse_codes(p["ml"]) if p["ml"] else frozenset(),
            filter_length=filters.parse_codes(p["fl"]) if p["fl"] else frozenset(),
            match_string=tuple(p["ms"]),
            filter_string=tuple(p["fs"]),
            match_regex=tuple(p["mr"]),
            filter_regex=tuple(p["fr"]),
            match_favicon=frozenset(p["mfav"]),
            filter_favicon=frozenset(p["ffav"]),
            match_time=filters.parse_time_expr(p["mt"]) if p["mt"] else None,
            filter_time=filters.parse_time_expr(p["ft"]) if p["ft"] else None,
        )
    except ValueError as exc:
        fail(str(exc))
        return None
    return filters.build_keep(m)

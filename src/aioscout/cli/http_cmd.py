"""``aioscout http``: probe hosts and URLs over HTTP(S)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import click

from .. import registry
from .._config import HttpOptions, Limits
from .._exceptions import ConfigError
from .._models import Record
from ._checks import (
    check_dir_arg,
    check_file_arg,
    check_ports,
    check_resolvers,
    check_source,
)
from ._common import (
    Estimate,
    GroupedCommand,
    all_targets,
    common_options,
    fail,
    fingerprint,
    input_identity,
    output_spec,
    parse_pairs,
    resolver_specs,
    run_command,
    scan_config_from,
)
from .screenshot_cmd import screenshot_options, shot_options_from

__all__ = ["http", "http_options_from"]


def _paths(values: tuple[str, ...]) -> tuple[str, ...]:
    from ..targets.parse import read_paths

    out: list[str] = []
    for v in values:
        try:
            out.extend(read_paths(v))
        except ConfigError as exc:
            fail(f"--path {v}: {exc}")
    return tuple(out)


_SNI = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})")


def _body(p: dict[str, Any]) -> tuple[bytes | None, str | None]:
    """The request body flags, checked: at most one kind of body, valid JSON."""
    given = [
        flag
        for flag, key in (
            ("--data", "data"),
            ("--data-file", "data_file"),
            ("--json-body", "json_body"),
        )
        if p[key] is not None
    ]
    if p["form"] or p["file"]:
        given.append("--form/--file")
    if len(given) > 1:
        fail(f"{' and '.join(given)} both set the request body: give one of them")
    data: bytes | None = None
    if p["data"] is not None:
        data = p["data"].encode()
    if p["data_file"] is not None:
        check_file_arg("--data-file", p["data_file"])
        try:
            with open(p["data_file"], "rb") as f:
                data = f.read()
        except OSError as exc:
            fail(f"--data-file {p['data_file']}: {exc.strerror}")
    if p["json_body"] is not None:
        try:
            json.loads(p["json_body"])
        except ValueError as exc:
            fail(f"--json-body is not valid JSON: {exc}")
    for field, path in parse_pairs(p["file"], "=", "--file"):
        check_file_arg(f"--file {field}=", path)
    return data, p["json_body"]


def _method(p: dict[str, Any], has_body: bool) -> str:
    """``-X``, else POST when a body is given (as curl does), else GET."""
    if p["method"]:
        return str(p["method"]).upper()
    return "POST" if has_body else "GET"


def http_options_from(p: dict[str, Any]) -> HttpOptions:
    """The :class:`HttpOptions` for ``aioscout http``'s parsed flags (checked)."""
    data, json_body = _body(p)
    has_body = data is not None or json_body is not None or bool(p["form"] or p["file"])
    check_file_arg("--ca-file", p["ca_file"])
    check_resolvers("--resolver", p["resolver"])
    check_dir_arg("--store-responses", p["store_responses"])
    check_ports(p["ports"])
    if p["sni"] is not None and not _SNI.fullmatch(p["sni"]):
        fail(f"--sni {p['sni']!r}: expected a host name")
    if p["user_agent"] is not None and p["random_agent"]:
        fail("--user-agent and --random-agent both set the User-Agent: give one of them")
    return HttpOptions(
        method=_method(p, has_body),
        headers=parse_pairs(p["header"], ":", "--header"),
        params=parse_pairs(p["param"], "=", "--param"),
        cookies=parse_pairs(p["cookie"], "=", "--cookie"),
        data=data,
        json=json_body,
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
        resolvers=resolver_specs(p["resolver"]),
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
        keep_headers_cross_origin=bool(p.get("keep_headers_cross_origin", False)),
    )


_METHODS = click.Choice(
    ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"], case_sensitive=False
)


@click.command(cls=GroupedCommand)
@common_options(default_concurrency=256)
@click.option(
    "-X",
    "-x",
    "--method",
    type=_METHODS,
    default=None,
    help="Request method (default GET, or POST when a body is given).",
)
@click.option("-H", "--header", multiple=True, metavar="'NAME: VALUE'", help="Request header.")
@click.option("--param", multiple=True, metavar="KEY=VALUE", help="Query parameter.")
@click.option("--cookie", multiple=True, metavar="NAME=VALUE", help="Request cookie.")
@click.option(
    "--keep-headers-cross-origin",
    is_flag=True,
    help="Send -H headers to other origins too (redirects, favicons); "
    "Authorization and Cookie are still dropped.",
)
@click.option("-body", "--data", metavar="TEXT", help="Request body (POST unless -X).")
@click.option("--data-file", metavar="FILE", help="Request body from FILE (POST unless -X).")
@click.option("--json-body", "json_body", metavar="JSON", help="JSON request body (checked).")
@click.option("--form", multiple=True, metavar="KEY=VALUE", help="Form field (urlencoded).")
@click.option("--file", multiple=True, metavar="FIELD=PATH", help="Multipart file field.")
@click.option("--user-agent", metavar="UA", help="User-Agent header.")
@click.option("--random-agent", is_flag=True, help="A random browser User-Agent per request.")
@click.option(
    "-fr/-nfr",
    "--follow-redirects/--no-follow-redirects",
    "follow_redirects",
    default=True,
    show_default="follow",
    help="Follow redirects (the record keeps every hop's status in 'chain').",
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
@click.option(
    "-p",
    "-ports",
    "--ports",
    multiple=True,
    metavar="SPEC",
    help="Ports to probe on each host: 80,443,8000-8100,https:8443.",
)
@click.option(
    "-path",
    "--path",
    multiple=True,
    metavar="PATH|FILE",
    help="Path tried on every host, or a file of them (@FILE: always a file).",
)
@click.option(
    "--all-ips", is_flag=True, help="Probe every A/AAAA address of a host: a record per address."
)
@click.option("-irh", "--include-headers", is_flag=True, help="Add response headers to records.")
@click.option("-favicon", "--favicon", is_flag=True, help="Favicon mmh3 hash (Shodan convention).")
@click.option(
    "-td", "-tech-detect", "--tech", is_flag=True, help="Technology detection (Wappalyzer)."
)
@click.option("-http2", "--http2", is_flag=True, help="Check HTTP/2 support (ALPN).")
@click.option("-ws", "--websocket", is_flag=True, help="Check websocket upgrade support.")
@click.option(
    "--body-preview",
    type=click.IntRange(0),
    default=0,
    metavar="N",
    help="First N characters of the body.",
)
@click.option("--store-responses", metavar="DIR", help="Save each response under DIR.")
@click.option("-sc", "--status-code", "col_sc", is_flag=True, help="Show the status column.")
@click.option("-cl", "--content-length", "col_cl", is_flag=True, help="Show the length column.")
@click.option("-ct", "--content-type", "col_ct", is_flag=True, help="Show the content type.")
@click.option("-rt", "--response-time", "col_rt", is_flag=True, help="Show the response time.")
@click.option("-title", "--title", "col_title", is_flag=True, help="Show the title column.")
@click.option("-server", "--web-server", "col_server", is_flag=True, help="Show the server.")
@click.option("-ip", "--ip", "col_ip", is_flag=True, help="Show the address connected to.")
@click.option(
    "-mc", "--match-code", "mc", metavar="CODES", help="Keep only these statuses (200,301-303)."
)
@click.option("-fc", "--filter-code", "fc", metavar="CODES", help="Drop these statuses.")
@click.option(
    "-ml", "--match-length", "ml", metavar="N,..", help="Keep only these content lengths."
)
@click.option("-fl", "--filter-length", "fl", metavar="N,..", help="Drop these content lengths.")
@click.option("-ms", "--match-string", "ms", multiple=True, help="Keep if title/body contains it.")
@click.option("-fs", "--filter-string", "fs", multiple=True, help="Drop if title/body contains it.")
@click.option("-mr", "--match-regex", "mr", multiple=True, help="Keep if title/body matches it.")
@click.option("-fe", "--filter-regex", "fe", multiple=True, help="Drop if title/body matches it.")
@click.option("--match-favicon", "mfav", multiple=True, type=int, help="Keep these favicon hashes.")
@click.option("--filter-favicon", "ffav", multiple=True, type=int, help="Drop these hashes.")
@click.option("--match-time", "mt", metavar="EXPR", help="Keep by response time: '<500' (ms).")
@click.option("--filter-time", "ft", metavar="EXPR", help="Drop by response time: '>=2000'.")
@click.option(
    "--screenshot", "shot_dir", metavar="DIR", help="Capture each page (chromium) into DIR."
)
@screenshot_options()
def http(**p: Any) -> None:
    """Probe hosts and URLs over HTTP(S): status, title, redirects, TLS and more.

    Targets: host, host:port, http(s)://host[:port]/path, IPv4/IPv6, CIDR, or
    JSON Lines records (url, else host and port); as arguments, with -u, from
    -l FILE, or on stdin. On a terminal one line per target; JSON Lines on a
    pipe, in a file, or with -j. Redirects are followed (-nfr: not); the
    record keeps the first status (chain[0].status) and the final one (status).

    \b
    Examples:
      aioscout http -l hosts.txt -o out.jsonl --silent
      aioscout http 127.0.0.1:8080 -sc -title -server -td
      aioscout dns lab.test -w words.txt -r 127.0.0.1:5353 | aioscout http -r 127.0.0.1:5353
    """
    from ..targets.ports import parse_ports
    from ..targets.sources import open_source

    targets = all_targets(p)
    check_source(targets, p["list_file"])
    if p["all_ips"] and p["proxy"]:
        fail("--all-ips cannot be combined with --proxy: the proxy resolves the names")
    options = http_options_from(p)
    limits = Limits(
        max_body=p["max_body"], max_redirects=p["max_redirects"], max_cidr_hosts=p["max_cidr"]
    )
    source = p["list_file"] or (None if targets else "-")
    config = scan_config_from(p, input_path=source)
    keep = _keep_from(p)
    try:
        n_ports = sum(len(parse_ports(spec)) for spec in options.ports)
    except ValueError as exc:
        fail(str(exc))
    listed = p["list_file"] if p["list_file"] not in (None, "-") else None
    estimate = Estimate(
        path=listed,
        args=targets,
        per_line=max(n_ports, 1) * max(len(options.paths), 1),
        cidr=True,
    )
    has_stdin = p["list_file"] == "-" or not (targets or p["list_file"])
    spec = output_spec(
        p,
        "http",
        fingerprint(
            "http",
            targets,
            input_identity(p["list_file"]),
            options.ports,
            options.paths,
            config.dedup,
            limits.max_cidr_hosts,
        ),
        estimate=None if has_stdin else estimate,
    )
    factory: Any = registry.factory("http", options, limits)
    if p["shot_dir"]:
        from ..browser.stage import ScreenshotProbeFactory

        factory = ScreenshotProbeFactory(factory, shot_options_from(p, p["shot_dir"]))
    run_command(
        factory,
        lambda: open_source(targets, p["list_file"]),
        config,
        spec,
        keep=keep,
    )


_MATCHER_KEYS = ("mc", "fc", "ml", "fl", "ms", "fs", "mr", "fe", "mfav", "ffav", "mt", "ft")


def _keep_from(p: dict[str, Any]) -> Callable[[Record], bool] | None:
    if not any(p[k] for k in _MATCHER_KEYS):
        return None
    from .. import filters

    for key, flag in (("mc", "-mc"), ("fc", "-fc")):
        if p[key] and any(not 100 <= c <= 999 for c in _codes(filters, p[key], flag)):
            fail(f"{flag} {p[key]}: a status code is between 100 and 999")
    try:
        m = filters.Matchers(
            match_code=filters.parse_codes(p["mc"]) if p["mc"] else frozenset(),
            filter_code=filters.parse_codes(p["fc"]) if p["fc"] else frozenset(),
            match_length=filters.parse_codes(p["ml"]) if p["ml"] else frozenset(),
            filter_length=filters.parse_codes(p["fl"]) if p["fl"] else frozenset(),
            match_string=tuple(p["ms"]),
            filter_string=tuple(p["fs"]),
            match_regex=tuple(p["mr"]),
            filter_regex=tuple(p["fe"]),
            match_favicon=frozenset(p["mfav"]),
            filter_favicon=frozenset(p["ffav"]),
            match_time=filters.parse_time_expr(p["mt"]) if p["mt"] else None,
            filter_time=filters.parse_time_expr(p["ft"]) if p["ft"] else None,
        )
    except ValueError as exc:
        fail(str(exc))
    return filters.build_keep(m)


def _codes(filters: Any, spec: str, flag: str) -> frozenset[int]:
    try:
        return frozenset(filters.parse_codes(spec))
    except ValueError as exc:
        fail(f"{flag} {spec}: {exc}")

"""``aioscout lab up|down|status``: the local farm on loopback."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

__all__ = ["lab", "lab_summary"]

F = TypeVar("F", bound=Callable[..., Any])

_STATE = click.option("--state-file", metavar="FILE", help="Where the running lab is described.")
_JSON = click.option(
    "-j", "--json", "as_json", is_flag=True, help="Print the whole state as JSON instead."
)
_VERSION = click.version_option(None, "-V", "--version", package_name="aioscout")

# Lab sites whose names a first brute force finds (and one that is not there).
_WORDS = ("utf8", "big5", "gbk-meta", "status-404", "redirect-301", "chain", "not-here")


def lab_summary(state: Mapping[str, Any], title: str = "lab up") -> str:
    """What a person needs from a running lab: its services and the commands to try."""
    ip = state["addresses"][0] if state.get("addresses") else "127.0.0.1"
    more = ", ".join(state.get("addresses", [])[1:])
    also = f" (also {more})" if more else ""
    origin = state.get("origin", "lab.test")
    rows = [
        ("http", f"{ip}:{state['http_port']}{also}", f"{state.get('sites', '?')} sites"),
        ("https", f"{ip}:{state['https_port']}", "self-signed certificate"),
    ]
    for name, port in sorted((state.get("tls_ports") or {}).items()):
        rows.append((f"https {name}", f"{ip}:{port}", "certificate test"))
    dns = state.get("dns_address")
    if dns:
        rows.append(("dns", dns, f"zone {origin}, UDP and TCP"))
    hostile = state.get("hostile") or {}
    if hostile:
        rows.append(("hostile", f"{len(hostile)} servers on {ip}", "lab status --json lists them"))
    width = max(len(r[0]) for r in rows)
    addr_width = max(len(r[1]) for r in rows)
    lines = [f"{title} (pid {state.get('pid')})", ""]
    lines += [f"  {a:<{width}}  {b:<{addr_width}}  {c}" for a, b, c in rows]
    lines += ["", "Try:", *(f"  {c}" for c in _commands(state, ip, origin, dns))]
    return "\n".join(lines)


def _commands(state: Mapping[str, Any], ip: str, origin: str, dns: str | None) -> list[str]:
    http, https = state["http_port"], state["https_port"]
    words = "printf '%s\\n' " + " ".join(_WORDS) + " > words.txt"
    r = f"-r {dns} " if dns else ""
    site = f"utf8.{origin}" if dns else ip
    out = [
        words,
        f"aioscout http {r}http://{site}:{http}/ https://{site}:{https}/ -td",
    ]
    if dns:
        ports = f"-p http:{http},https:{https}"
        out += [
            f"aioscout dns {origin} -w words.txt -r {dns}",
            f"aioscout dns {origin} -w words.txt -r {dns} | aioscout http -r {dns} {ports}",
            f"aioscout dns {origin} -w words.txt -r {dns} | aioscout http -r {dns} {ports}"
            " -o out.jsonl -fc 404",
        ]
    out += [
        f"aioscout fetch {r}-d downloads http://{site}:{http}/",
        "aioscout lab down",
    ]
    return [c if c.startswith("printf") else _quoted(c) for c in out]


def _quoted(command: str) -> str:
    return " ".join(shlex.quote(part) if part != "|" else part for part in command.split(" "))


@click.group()
@_VERSION
def lab() -> None:
    """Start, stop and inspect the local lab (HTTP, HTTPS, DNS and hostile servers).

    \b
    Examples:
      aioscout lab up
      aioscout lab status --json
      aioscout lab down
    """


@lab.command()
@_STATE
@_JSON
@_VERSION
@click.option("--foreground", is_flag=True, help="Run in this process until Ctrl-C.")
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port of the HTTP server (0: any free one).",
)
@click.option(
    "--https-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port of the HTTPS server (0: any free one).",
)
@click.option(
    "--dns-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port of the DNS server, UDP and TCP (0: any free one).",
)
@click.option("--no-dns", is_flag=True, help="Do not start the DNS server.")
@click.option(
    "--sites",
    type=click.IntRange(0),
    default=200,
    show_default=True,
    help="Generated plain sites besides the special ones.",
)
@click.option(
    "--dns-names",
    type=click.IntRange(0),
    default=100_000,
    show_default=True,
    help="Names in the synthetic bulk zone.",
)
@click.option(
    "--latency",
    type=click.FloatRange(0),
    default=0.0,
    help="Seconds added before every HTTP response.",
)
@click.option("--no-hostile", is_flag=True, help="Do not start the hostile servers.")
def up(**p: Any) -> None:
    """Start the lab in the background; print its services and commands to try."""
    from ..lab.control import LabError
    from ..lab.control import up as lab_up

    try:
        state = lab_up(
            p["state_file"],
            foreground=p["foreground"],
            http_port=p["http_port"],
            https_port=p["https_port"],
            dns_port=None if p["no_dns"] else p["dns_port"],
            sites=p["sites"],
            latency=p["latency"],
            hostile=not p["no_hostile"],
            dns_names=p["dns_names"],
        )
    except (LabError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(state, indent=2) if p["as_json"] else lab_summary(state))


@lab.command()
@_STATE
@_VERSION
def down(state_file: str | None) -> None:
    """Stop the background lab."""
    from ..lab.control import LabError
    from ..lab.control import down as lab_down

    try:
        stopped = lab_down(state_file)
    except LabError as exc:
        raise click.ClickException(str(exc)) from None
    if not stopped:
        click.echo("no lab is running", err=True)


@lab.command()
@_STATE
@_JSON
@_VERSION
def status(state_file: str | None, as_json: bool) -> None:
    """Print the running lab's services and commands (exit 1 when none runs)."""
    from ..lab.control import LabError
    from ..lab.control import status as lab_status

    try:
        state = lab_status(state_file)
    except LabError as exc:
        raise click.ClickException(str(exc)) from None
    if state is None:
        click.echo("no lab is running", err=True)
        raise SystemExit(1)
    click.echo(json.dumps(state, indent=2) if as_json else lab_summary(state, "lab running"))

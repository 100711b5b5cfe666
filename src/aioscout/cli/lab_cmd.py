"""``aioscout lab up|down|status``: the local farm on loopback."""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["lab"]

_STATE = click.option("--state-file", metavar="FILE", help="Where the running lab is described.")


@click.group()
def lab() -> None:
    """Start, stop and inspect the local lab (HTTP, HTTPS, DNS and hostile servers)."""


@lab.command()
@_STATE
@click.option("--foreground", is_flag=True, help="Run in this process until Ctrl-C.")
@click.option("--http-port", type=click.IntRange(0, 65535), default=0, show_default=True)
@click.option("--https-port", type=click.IntRange(0, 65535), default=0, show_default=True)
@click.option("--dns-port", type=click.IntRange(0, 65535), default=0, show_default=True)
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
    """Start the lab in the background and print its ports as JSON."""
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
    click.echo(json.dumps(state, indent=2))


@lab.command()
@_STATE
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
def status(state_file: str | None) -> None:
    """Print the running lab's ports as JSON (exit 1 when none runs)."""
    from ..lab.control import LabError
    from ..lab.control import status as lab_status

    try:
        state = lab_status(state_file)
    except LabError as exc:
        raise click.ClickException(str(exc)) from None
    if state is None:
        click.echo("no lab is running", err=True)
        raise SystemExit(1)
    click.echo(json.dumps(state, indent=2))

"""The ``aioscout`` command line: each subcommand builds config and hands it to the engine."""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["main"]

# name -> (module, attribute): loaded on first use so `aioscout dns` never imports aiohttp.
_COMMANDS = {
    "http": ("aioscout.cli.http_cmd", "http"),
    "dns": ("aioscout.cli.dns_cmd", "dns"),
    "fetch": ("aioscout.cli.fetch_cmd", "fetch"),
    "lab": ("aioscout.cli.lab_cmd", "lab"),
    "demo": ("aioscout.cli.demo_cmd", "demo"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module, attr = _COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aioscout")
def cli() -> None:
    """aioscout: asyncio reconnaissance at scale (HTTP probing, DNS brute force, downloads)."""


def main(*args: Any) -> None:
    """Console entry point."""
    cli(*args)

"""``aioscout config show``: every flag's value and where it comes from."""

from __future__ import annotations

import click

from .. import registry
from ._config_file import config_path, flag_values, mask

__all__ = ["config"]


@click.group()
@click.version_option(None, "-V", "--version", package_name="aioscout")
def config() -> None:
    """Defaults from ~/.config/aioscout/config.toml and AIOSCOUT_* variables.

    Precedence: a flag on the command line > AIOSCOUT_<FLAG> > the config file
    > the built-in default. In the file, top-level keys apply to every command
    with that flag, a [http], [dns] or [fetch] table to one command.

    \b
    Examples:
      aioscout config show
      aioscout config show http
      AIOSCOUT_CONCURRENCY=500 aioscout config show dns --config team.toml
    """


@config.command()
@click.argument("commands", nargs=-1, type=click.Choice(sorted(registry.names())))
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="The config file to show (default: ~/.config/aioscout/config.toml).",
)
@click.option("--all", "show_all", is_flag=True, help="Also list flags left at their default.")
@click.version_option(None, "-V", "--version", package_name="aioscout")
def show(commands: tuple[str, ...], config_file: str | None, show_all: bool) -> None:
    """Print each flag's value and its source (env, file or default), secrets masked.

    \b
    Examples:
      aioscout config show
      aioscout config show http --all
      aioscout config show dns --config ./aioscout.toml
    """
    explicit = config_file
    path = config_path(explicit)
    click.echo(f"config file: {path if path is not None else 'none'}")
    from ._generated import command_for

    for name in commands or sorted(registry.names()):
        spec = registry.get(name)
        assert spec is not None
        command = command_for(spec)
        values = flag_values(command, name, explicit)
        click.echo(f"\n[{name}]")
        for param in command.params:
            if not isinstance(param, click.Option) or param.name in (None, "version", "config"):
                continue
            long = next((o for o in param.opts if o.startswith("--")), param.opts[0])
            if param.name in values:
                source, value = values[param.name]
            elif show_all:
                source, value = "default", param.default
            else:
                continue
            click.echo(f"  {long:<22} = {mask(param.name, value)!r:<30}  ({source})")

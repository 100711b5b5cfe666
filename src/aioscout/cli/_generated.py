"""The command of a registered probe: its hand-written one, or one generated.

A probe registered without a command (see :mod:`aioscout.registry`) gets
``aioscout <name>``: the engine's common options (input, output, concurrency,
workers, …) and one option per field of its options dataclass, named after
the field (``max_len`` is ``--max-len``). A ``bool`` field is a
``--name/--no-name`` switch, a ``tuple[X, ...]`` field a repeatable option, an
``X | None`` field an option with no default; the field's ``metadata["help"]``
is its help text. The options are built from the flags, validated by the
dataclass itself, and the factory is called as ``f(options, config)``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import click

from .. import registry
from .._exceptions import AioscoutError
from ._checks import check_source
from ._common import (
    GroupedCommand,
    all_targets,
    common_options,
    fail,
    fingerprint,
    input_identity,
    output_spec,
    run_command,
    scan_config_from,
)

__all__ = ["command_for"]

_SCALARS: dict[object, click.ParamType[Any]] = {
    int: click.INT,
    float: click.FLOAT,
    str: click.STRING,
}


def command_for(spec: registry.ProbeSpec) -> click.Command:
    """The click command of ``spec``: its own (``spec.command``) or a generated one."""
    if spec.command:
        command: click.Command = registry.load(spec.command)
        return command
    return _generate(spec)


def _option(field: dataclasses.Field[Any], hint: object) -> click.Option:
    """The click option for one field of an options dataclass."""
    flag = "--" + field.name.replace("_", "-")
    default = field.default if field.default is not dataclasses.MISSING else None
    if field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    text = str(field.metadata.get("help", ""))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else hint
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        name = field.name.replace("_", "-")
        return click.Option([f"--{name}/--no-{name}", field.name], default=bool(default), help=text)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis and args[0] in _SCALARS:
        return click.Option(
            [flag, field.name], type=_SCALARS[args[0]], multiple=True, default=default, help=text
        )
    if hint in _SCALARS:
        return click.Option(
            [flag, field.name],
            type=_SCALARS[hint],
            default=default,
            show_default=default is not None,
            help=text,
        )
    raise TypeError(f"option {field.name!r}: no command-line form for {hint!r}")


def _generate(spec: registry.ProbeSpec) -> click.Command:
    options_type = registry.load(spec.options)
    hints = typing.get_type_hints(options_type)
    fields = dataclasses.fields(options_type)

    def run(**p: Any) -> None:
        from ..targets.sources import open_source

        try:
            options = options_type(**{f.name: p[f.name] for f in fields})
        except (AioscoutError, TypeError, ValueError) as exc:
            fail(str(exc))
        targets = all_targets(p)
        check_source(targets, p["list_file"])
        source = p["list_file"] or (None if targets else "-")
        config = scan_config_from(p, input_path=source)
        out = output_spec(
            p,
            spec.name,
            fingerprint(spec.name, targets, input_identity(p["list_file"]), options, config.dedup),
        )
        run_command(
            registry.ProbeFactory(spec, (options,)),
            lambda: open_source(targets, p["list_file"]),
            config,
            out,
        )

    command = click.command(name=spec.name, help=spec.summary or None, cls=GroupedCommand)(
        common_options()(run)
    )
    taken = {name for param in command.params if param.name for name in [param.name]}
    for field in fields:
        if field.name in taken:
            raise TypeError(f"option {field.name!r} of {spec.name!r} clashes with a common option")
        command.params.append(_option(field, hints[field.name]))
    return command

"""Defaults for any long flag from a config file and ``AIOSCOUT_*`` variables.

Precedence: a flag on the command line > ``AIOSCOUT_<FLAG>`` in the
environment > the config file > the built-in default. The file is
``--config FILE``, else ``$AIOSCOUT_CONFIG``, else
``$XDG_CONFIG_HOME/aioscout/config.toml`` (``~/.config/aioscout/config.toml``)
when it exists. In it, top-level keys apply to every command that has the flag
and a ``[http]``, ``[dns]``, ``[fetch]`` table to that command only; keys are
long flag names (``per-host`` or ``per_host``). Both become click's
``default_map``, so a value is checked exactly as the flag's would be.
``aioscout config show`` lists each flag's value and where it came from, with
secrets (credentials, cookies, header values) masked.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["SOURCES_KEY", "config_option", "config_path", "flag_values", "mask"]

F = TypeVar("F", bound=Callable[..., Any])

SOURCES_KEY = "aioscout.sources"
"""Where ``ctx.meta`` keeps each defaulted parameter's source (``env`` or the file)."""

_ENV_PREFIX = "AIOSCOUT_"
_SECRET_WORDS = ("auth", "pass", "secret", "token", "key", "cookie")


def config_path(explicit: str | None = None) -> Path | None:
    """The config file in use, or None (an explicit one must exist: checked on load)."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get("AIOSCOUT_CONFIG")
    if from_env:
        return Path(from_env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    path = Path(base) / "aioscout" / "config.toml"
    return path if path.is_file() else None


def _load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise click.UsageError(f"--config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.UsageError(f"--config {path}: not valid TOML: {exc}") from None


def _long_names(command: click.Command) -> dict[str, click.Parameter]:
    """``per-host`` → its parameter, for every long (``--``) flag of ``command``."""
    out: dict[str, click.Parameter] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in ("config", "version", "help"):
            continue
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("--"):
                out.setdefault(opt[2:], param)
    return out


def _value(param: click.Parameter, raw: Any, where: str) -> Any:
    """A value from the file or the environment, shaped as the flag takes it."""
    if isinstance(raw, str) and param.multiple:
        parts = raw.splitlines() if "\n" in raw else raw.split(",")
        return [p.strip() for p in parts if p.strip()]
    if param.multiple and not isinstance(raw, list):
        return [raw]
    if isinstance(param, click.Option) and param.is_flag and isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            raise click.UsageError(f"{where}: expected true or false, got {raw!r}")
        return lowered in ("1", "true", "yes", "on")
    return raw


def _from_file(
    command: click.Command, name: str, data: Mapping[str, Any], path: Path
) -> dict[str, tuple[str, Any]]:
    flags = _long_names(command)
    out: dict[str, tuple[str, Any]] = {}
    tables = {k for k, v in data.items() if isinstance(v, dict)}
    for scope in (data, data.get(name, {})):
        for key, raw in scope.items():
            if key in tables and scope is data:
                continue
            param = flags.get(key.replace("_", "-"))
            if param is None:
                if scope is data and key.replace("_", "-") in _every_flag():
                    continue  # a flag of another command
                where = f"{path} [{name}]" if scope is not data else str(path)
                raise click.UsageError(f"{where}: no command has a flag --{key}")
            assert param.name is not None
            out[param.name] = (f"file {path}", _value(param, raw, f"{path}: {key}"))
    return out


def _every_flag() -> set[str]:
    """The long flags of every registered command (a top-level key must be one)."""
    from .. import registry

    out: set[str] = set()
    for name in registry.names():
        spec = registry.get(name)
        if spec is None:
            continue
        if spec.command:
            out |= set(_long_names(registry.load(spec.command)))
        else:  # a generated command: the common flags and one per options field
            out |= {
                f.name.replace("_", "-") for f in dataclasses.fields(registry.load(spec.options))
            }
    return out


def _from_env(command: click.Command) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    for flag, param in _long_names(command).items():
        var = _ENV_PREFIX + flag.upper().replace("-", "_")
        if var in os.environ and param.name is not None:
            out[param.name] = (f"env {var}", _value(param, os.environ[var], var))
    return out


def flag_values(
    command: click.Command, name: str, explicit: str | None = None
) -> dict[str, tuple[str, Any]]:
    """Each defaulted parameter of ``command`` → (its source, its value): env over file."""
    path = config_path(explicit)
    values: dict[str, tuple[str, Any]] = {}
    if path is not None:
        values.update(_from_file(command, name, _load(path), path))
    values.update(_from_env(command))
    return values


def _apply(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    command = ctx.command
    values = flag_values(command, ctx.info_name or command.name or "", value)
    if values:
        ctx.default_map = {**(ctx.default_map or {}), **{k: v for k, (_, v) in values.items()}}
    ctx.meta[SOURCES_KEY] = {k: src for k, (src, _) in values.items()}


def config_option() -> Callable[[F], F]:
    """``--config FILE``: read before every other flag, so it sets their defaults."""
    return click.option(
        "--config",
        metavar="FILE",
        is_eager=True,
        expose_value=False,
        callback=_apply,
        help="Defaults for any long flag from this TOML file "
        "(default: ~/.config/aioscout/config.toml; AIOSCOUT_<FLAG> variables override it).",
    )


def mask(name: str, value: Any) -> Any:
    """``value`` of flag ``name`` as it may be shown: credentials, cookies and header
    values masked, URLs without their ``user:password@``."""
    from ..sinks import redact_url

    if value is None or value == () or value == []:
        return value
    if isinstance(value, list | tuple):
        return [mask(name, v) for v in value]
    text = str(value)
    if name == "header":
        key, sep, _ = text.partition(":")
        return f"{key}{sep} ***" if sep else "***"
    if name in ("cookie", "param", "form") or any(w in name for w in _SECRET_WORDS):
        key, sep, _ = text.partition("=")
        return f"{key}=***" if sep and name != "proxy_auth" else "***"
    if name == "notify":  # a webhook's path is its token
        scheme, _, rest = text.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}/***"
    if "://" in text:
        return redact_url(text)
    return value

"""Targets: parse input lines into what the probes take, and stream lines from files and stdin."""

from __future__ import annotations

from aioscout.targets._types import HttpTarget
from aioscout.targets.parse import (
    expand_http,
    normalise_host,
    parse_domain,
    parse_http_target,
    read_paths,
)
from aioscout.targets.ports import format_ports, parse_ports
from aioscout.targets.sources import (
    file_lines,
    iter_lines,
    open_source,
    stdin_lines,
    stream_lines,
)

__all__ = [
    "HttpTarget",
    "expand_http",
    "file_lines",
    "format_ports",
    "iter_lines",
    "normalise_host",
    "open_source",
    "parse_domain",
    "parse_http_target",
    "parse_ports",
    "read_paths",
    "stdin_lines",
    "stream_lines",
]

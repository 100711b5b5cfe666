"""aioscout: asyncio network reconnaissance at scale, as a library.

The names below load on first use, so ``import aioscout`` stays cheap. The
entry points mirror the CLI commands (see :mod:`aioscout.api`): every
registered probe (see :mod:`aioscout.registry`) has one, ``scan_<name>``::

    async for record in aioscout.scan_http(["127.0.0.1:8080"], options=aioscout.HttpOptions()):
        print(record)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# _native first: it decides which build of the hot modules loads (compiled or sources).
from . import _native, registry  # noqa: F401

if TYPE_CHECKING:
    from ._config import (
        DnsOptions,
        FetchOptions,
        HttpOptions,
        Limits,
        PortOptions,
        ScanConfig,
        SshOptions,
        Timeouts,
    )
    from ._exceptions import AioscoutError, ConfigError, InvalidTarget, SinkError
    from ._models import (
        DnsResult,
        ErrorInfo,
        ErrorKind,
        FetchResult,
        HttpResult,
        PortResult,
        Record,
        Records,
        RedirectHop,
        SshResult,
        TlsInfo,
    )
    from .api import fetch, scan, scan_dns, scan_http, scan_ports, scan_ssh
    from .engine import Checkpoint, Stats, Stopper, run_scan
    from .scanner import Scanner
    from .sinks import (
        CsvSink,
        JsonlSink,
        MysqlSink,
        PostgresSink,
        RedisSink,
        SqliteSink,
        open_sink,
    )

_WHERE = {
    "._config": (
        "DnsOptions",
        "FetchOptions",
        "HttpOptions",
        "Limits",
        "PortOptions",
        "ScanConfig",
        "SshOptions",
        "Timeouts",
    ),
    "._exceptions": ("AioscoutError", "ConfigError", "InvalidTarget", "SinkError"),
    "._models": (
        "DnsResult",
        "ErrorInfo",
        "ErrorKind",
        "FetchResult",
        "HttpResult",
        "PortResult",
        "Record",
        "Records",
        "RedirectHop",
        "SshResult",
        "TlsInfo",
    ),
    ".api": ("scan",),
    ".engine": ("Checkpoint", "Stats", "Stopper", "run_scan"),
    ".scanner": ("Scanner",),
    ".sinks": (
        "CsvSink",
        "JsonlSink",
        "MysqlSink",
        "PostgresSink",
        "RedisSink",
        "SqliteSink",
        "open_sink",
    ),
}
_SUBMODULES = ("diff", "sync")
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "AioscoutError",
    "Checkpoint",
    "ConfigError",
    "CsvSink",
    "DnsOptions",
    "DnsResult",
    "ErrorInfo",
    "ErrorKind",
    "FetchOptions",
    "FetchResult",
    "HttpOptions",
    "HttpResult",
    "InvalidTarget",
    "JsonlSink",
    "Limits",
    "MysqlSink",
    "PortOptions",
    "PortResult",
    "PostgresSink",
    "Record",
    "Records",
    "RedirectHop",
    "RedisSink",
    "ScanConfig",
    "Scanner",
    "SinkError",
    "SqliteSink",
    "SshOptions",
    "SshResult",
    "Stats",
    "Stopper",
    "Timeouts",
    "TlsInfo",
    "fetch",
    "open_sink",
    "run_scan",
    "scan",
    "scan_dns",
    "scan_http",
    "scan_ports",
    "scan_ssh",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # the installed distribution's version, read on first use
        from importlib.metadata import version

        globals()[name] = version("aioscout")
        return globals()[name]
    module = _MODULE_OF.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
    elif name in _SUBMODULES:  # aioscout.sync, aioscout.diff: loaded on first use
        value = importlib.import_module(f".{name}", __name__)
    elif name in registry.function_names():  # a probe's library function (scan_http, ...)
        from .api import library_function

        value = library_function(name)
    else:
        raise AttributeError(f"module 'aioscout' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *registry.function_names()})

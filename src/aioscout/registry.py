"""The probes aioscout knows: one registration each, found by name.

A registration (:class:`ProbeSpec`) says everything the rest of the program
needs to run a probe, as ``"module:attr"`` references loaded on first use, so
that the command line imports only the probe it runs and a worker process
imports no command line:

- ``factory``: ``f(*args, config) -> probe``; :func:`factory` binds the
  ``args`` into a picklable :class:`ProbeFactory`, what the engine and its
  worker processes are given;
- ``options``, ``record``, ``target``: the probe's options dataclass, the
  record type it returns and the target type ``expand`` makes. Record and
  target types cross between processes fast once the factory has built a
  probe (see :mod:`aioscout.engine.frames`);
- ``command``: a hand-written click command, or ``""`` for one generated from
  the options dataclass's fields and the engine's common options
  (:mod:`aioscout.cli._generated`);
- ``function``: a hand-written library function, or ``""`` for one generated
  as ``aioscout.scan_<name>(targets, *, options=..., config=..., sinks=...,
  keep=..., stats=...)`` (see :func:`aioscout.api.library_function`).

A generated command or function calls the factory as ``f(options, config)``.
Adding a probe is its module and one entry in :data:`BUILTIN` (see
ARCHITECTURE.md); :func:`register` adds one at run time (plug-ins, tests).

Example::

    from aioscout import registry

    spec = registry.get("http")
    probe = registry.factory("http", HttpOptions(), Limits())(ScanConfig())
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config import ScanConfig
    from .engine import Probe

__all__ = [
    "BUILTIN",
    "ProbeFactory",
    "ProbeSpec",
    "factory",
    "function_names",
    "get",
    "load",
    "names",
    "register",
    "worker_modules",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSpec:
    """One probe's registration: its name and where its parts live (``"module:attr"``).

    ``name`` is the command (``aioscout <name>``) and, unless ``function_name``
    says otherwise, the library function ``aioscout.scan_<name>``. ``target``
    may be ``""`` when targets are built-in types (a DNS name is a ``str``).
    ``worker_imports`` names further modules a worker loads for this probe
    (imported before workers are forked, so the copies have them).
    """

    name: str
    factory: str
    options: str
    record: str
    target: str = ""
    command: str = ""
    function: str = ""
    function_name: str = ""
    summary: str = ""
    worker_imports: tuple[str, ...] = ()

    @property
    def library_name(self) -> str:
        """The name of the library function (``scan_<name>`` unless registered otherwise)."""
        return self.function_name or f"scan_{self.name}"

    def modules(self) -> tuple[str, ...]:
        """The modules a worker running this probe imports."""
        refs = (self.factory, self.record, self.target)
        found = [ref.partition(":")[0] for ref in refs if ref]
        return tuple(dict.fromkeys([*found, *self.worker_imports]))


BUILTIN: tuple[ProbeSpec, ...] = (
    ProbeSpec(
        name="http",
        factory="aioscout.probes.factories:make_http_probe",
        options="aioscout._config:HttpOptions",
        record="aioscout._models:HttpResult",
        target="aioscout.targets._types:HttpTarget",
        command="aioscout.cli.http_cmd:http",
        function="aioscout.api:scan_http",
        summary="Probe hosts and URLs over HTTP(S).",
        worker_imports=(
            "aioscout.probes.http",
            "aioscout.probes._fast_http",
            "aioscout.sinks.jsonl",
        ),
    ),
    ProbeSpec(
        name="dns",
        factory="aioscout.probes.factories:make_dns_probe",
        options="aioscout._config:DnsOptions",
        record="aioscout._models:DnsResult",
        command="aioscout.cli.dns_cmd:dns",
        function="aioscout.api:scan_dns",
        summary="Resolve names in bulk, or brute-force subdomains.",
        worker_imports=("aioscout.probes.dns", "aioscout.sinks.jsonl"),
    ),
    ProbeSpec(
        name="fetch",
        factory="aioscout.probes.factories:make_fetch_probe",
        options="aioscout._config:FetchOptions",
        record="aioscout._models:FetchResult",
        target="aioscout.targets._types:HttpTarget",
        command="aioscout.cli.fetch_cmd:fetch",
        function="aioscout.api:fetch",
        function_name="fetch",
        summary="Download whole bodies of URLs to a directory.",
        worker_imports=("aioscout.probes.fetch",),
    ),
    ProbeSpec(
        name="ports",
        factory="aioscout.probes.ports:make_ports_probe",
        options="aioscout._config:PortOptions",
        record="aioscout._models:PortResult",
        target="aioscout.probes.ports:PortTarget",
        command="aioscout.cli.ports_cmd:ports",
        function="aioscout.api:scan_ports",
        summary="Find open TCP ports and name the service on each.",
        worker_imports=("aioscout.probes._sweep", "aioscout.sinks.jsonl"),
    ),
    ProbeSpec(
        name="ssh",
        factory="aioscout.probes.ssh:make_ssh_probe",
        options="aioscout._config:SshOptions",
        record="aioscout._models:SshResult",
        target="aioscout.targets.ssh:SshTarget",
        command="aioscout.cli.ssh_cmd:ssh",
        function="aioscout.api:scan_ssh",
        summary="Run a command on many hosts over SSH, or audit their SSH servers.",
        worker_imports=("aioscout.sinks.jsonl",),
    ),
)

_SPECS: dict[str, ProbeSpec] = {spec.name: spec for spec in BUILTIN}


def register(spec: ProbeSpec) -> ProbeSpec:
    """Add a probe at run time (the built-in ones are :data:`BUILTIN`); returns ``spec``.

    Raises ``ValueError`` when its name or library name is taken by another probe.
    """
    for other in _SPECS.values():
        if other.name != spec.name and other.library_name == spec.library_name:
            raise ValueError(f"{spec.library_name!r} is already {other.name!r}'s function")
    known = _SPECS.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"a probe named {spec.name!r} is already registered")
    _SPECS[spec.name] = spec
    return spec


def names() -> list[str]:
    """The registered probes' names, sorted."""
    return sorted(_SPECS)


def get(name: str) -> ProbeSpec | None:
    """The registration of probe ``name``, or ``None``."""
    return _SPECS.get(name)


def load(ref: str) -> Any:
    """The object a ``"module:attr"`` reference names (importing the module)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True, slots=True)
class ProbeFactory:
    """A picklable ``f(config) -> probe`` for a registered probe: ``spec.factory(*args, config)``.

    This is what the engine is handed, and what a worker process unpickles and
    calls: it carries the registration itself, so a worker needs no registry
    look-up (a probe registered at run time works in workers too).
    """

    spec: ProbeSpec
    args: tuple[Any, ...] = ()

    def __call__(self, config: ScanConfig) -> Probe[Any]:
        from .engine.frames import fast_pickle

        make = load(self.spec.factory)
        fast_pickle(*(load(ref) for ref in (self.spec.record, self.spec.target) if ref))
        probe: Probe[Any] = make(*self.args, config)
        return probe

    def modules(self) -> tuple[str, ...]:
        """The modules a worker building this probe imports (see :meth:`ProbeSpec.modules`)."""
        return self.spec.modules()


def factory(name: str, *args: Any) -> ProbeFactory:
    """The factory of registered probe ``name`` with its leading arguments bound.

    Raises ``KeyError`` for an unknown name.
    """
    spec = _SPECS.get(name)
    if spec is None:
        raise KeyError(f"no probe named {name!r} (known: {', '.join(names())})")
    return ProbeFactory(spec, args)


def worker_modules(probe: object) -> tuple[str, ...]:
    """The modules a worker building ``probe`` imports, when it is a :class:`ProbeFactory`."""
    return probe.modules() if isinstance(probe, ProbeFactory) else ()


def function_names() -> list[str]:
    """The library functions of the registered probes (``scan_http``, ``fetch``, …)."""
    return sorted(spec.library_name for spec in _SPECS.values())

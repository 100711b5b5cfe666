"""A trivial probe, "echo the input": the whole of what a new probe's module holds.

With one registration (see tests/integration/test_registry.py) it is a command
(``aioscout echo``), a library function (``aioscout.scan_echo``) and runs in
worker processes, with nothing else edited.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aioscout import ConfigError, ErrorInfo, InvalidTarget, ScanConfig

__all__ = ["EchoOptions", "EchoProbe", "EchoResult", "make_echo_probe"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EchoOptions:
    """What the echo probe says back."""

    prefix: str = field(default="", metadata={"help": "Text put before each input."})
    upper: bool = field(default=False, metadata={"help": "Say it in capitals."})
    repeat: int = field(default=1, metadata={"help": "How many times to say it."})

    def __post_init__(self) -> None:
        if self.repeat < 1:
            raise ConfigError("repeat must be at least 1")


@dataclass(slots=True, kw_only=True)
class EchoResult:
    """One input said back, and which process said it."""

    input: str
    text: str | None = None
    pid: int | None = None
    error: ErrorInfo | None = None


class EchoProbe:
    """Says each input line back."""

    def __init__(self, options: EchoOptions) -> None:
        self.options = options

    def expand(self, line: str) -> Iterable[str]:
        text = line.strip()
        if not text:
            raise InvalidTarget("an empty line")
        return (text,)

    def host_of(self, target: str) -> str:
        return target

    def identity(self, target: str) -> str:
        return target

    async def probe(self, line: str, target: str) -> EchoResult:
        text = self.options.prefix + target * self.options.repeat
        return EchoResult(
            input=line, text=text.upper() if self.options.upper else text, pid=os.getpid()
        )

    def failed(self, line: str, target: str | None, error: ErrorInfo) -> EchoResult:
        return EchoResult(input=line, error=error)

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def make_echo_probe(options: EchoOptions, config: ScanConfig) -> Any:
    """The factory the registration names: ``f(options, config)``."""
    return EchoProbe(options)

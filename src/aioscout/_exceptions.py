"""aioscout's exceptions: raised only for misuse or unusable configuration.

A failed probe is never an exception: it is a record with an ``error``.

    AioscoutError                 root of everything aioscout raises
    ├── ConfigError               unusable options (bad flag value, unreadable file)
    ├── InvalidTarget             an input line that is not a usable target
    ├── ResolverError             no DNS resolver given can answer (all silent, refusing, lying)
    └── SinkError                 a sink could not take records (disk full, database gone)
"""

from __future__ import annotations

__all__ = ["AioscoutError", "ConfigError", "InvalidTarget", "ResolverError", "SinkError"]


class AioscoutError(Exception):
    """Root of every exception aioscout raises."""


class ConfigError(AioscoutError, ValueError):
    """The options cannot be used as given; the message says what to fix."""


class InvalidTarget(AioscoutError, ValueError):
    """An input line that is not a usable target; becomes an ``invalid_input`` record."""


class ResolverError(AioscoutError):
    """No resolver of the run can answer: the arguments were usable, the servers are not."""


class SinkError(AioscoutError):
    """A sink could not take records; the run stops with a resumable checkpoint."""

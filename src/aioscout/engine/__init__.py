"""The engine: a streaming pipeline that any probe plugs into."""

from ._protocols import Clock, Probe, Sink
from .checkpoint import Checkpoint
from .dedup import Deduper
from .limits import HostLimiter, MonotonicClock, TokenBucket
from .runner import DEFAULT_RETRY_ON, Positioned, Stopper, run_scan
from .stats import Stats

__all__ = [
    "DEFAULT_RETRY_ON",
    "Checkpoint",
    "Clock",
    "Deduper",
    "HostLimiter",
    "MonotonicClock",
    "Positioned",
    "Probe",
    "Sink",
    "Stats",
    "Stopper",
    "TokenBucket",
    "run_scan",
]

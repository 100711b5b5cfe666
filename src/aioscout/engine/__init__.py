"""The engine: a streaming pipeline that any probe plugs into (see ``protocols``)."""

from .checkpoint import Checkpoint
from .dedup import Deduper
from .limits import HostLimiter, MonotonicClock, TokenBucket
from .protocols import Clock, Positioned, Probe, Sink
from .runner import DEFAULT_RETRY_ON
from .scan import run_scan
from .stats import Stats
from .stopper import Stopper

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

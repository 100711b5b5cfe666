"""``run_scan``: the engine's entry point, in this process or in worker processes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Callable, Collection, Iterable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from .._config import ScanConfig
from .._models import ErrorKind, Record
from .checkpoint import Checkpoint
from .limits import MonotonicClock
from .protocols import Clock, OpensLane, Probe, Sink, own_filter
from .runner import DEFAULT_RETRY_ON, Run, batches, shared_encoder
from .stats import Stats
from .stopper import Stopper
from .workers import ProcessPool

__all__ = ["ProbeFactory", "run_scan"]

T = TypeVar("T")

ProbeFactory = Callable[[ScanConfig], Probe[T]]

Keep = Callable[[Record], bool]


@runtime_checkable
class _ProbeLike(Protocol):
    def expand(self, line: str) -> Iterable[object]: ...


async def run_scan(
    probe: Probe[T] | ProbeFactory[T],
    lines: AsyncIterable[str] | Iterable[str],
    sinks: Sequence[Sink],
    config: ScanConfig,
    *,
    keep: Keep | None = None,
    checkpoint: Checkpoint | None = None,
    stopper: Stopper | None = None,
    stats: Stats | None = None,
    clock: Clock | None = None,
    retry_on: Collection[ErrorKind] = DEFAULT_RETRY_ON,
    started: bool = False,
) -> Stats:
    """Probe every target of ``lines`` and write one record per item to ``sinks``.

    ``probe`` is a probe, or a picklable factory ``f(config) -> probe``; with
    ``config.workers > 1`` it must be a factory: each worker process builds its
    own probe from its share of the config, and this process keeps one
    (never started) for expanding lines. ``keep`` drops records before the
    sinks (they still count in the statistics); the probe's own filter
    (``protocols.OwnFilter``) applies as well, wherever the probe runs.
    Returns the run's statistics. Raises :class:`aioscout.SinkError` when a
    sink gives up (the checkpoint then holds exactly what was written).

    ``started``: ``probe`` is a probe its owner already started and will close
    (one probe shared by several runs): this run neither starts nor closes it.

    Example::

        probe = HttpProbe(HttpOptions(), Timeouts(), Limits(), concurrency=100, per_host=4)
        stats = await run_scan(probe, ["127.0.0.1:8080"], [JsonlSink("out.jsonl")], ScanConfig())
    """
    executor = None
    if isinstance(probe, _ProbeLike):
        if config.workers > 1:
            raise TypeError("with workers > 1, pass a picklable probe factory, not a probe")
        instance: Probe[T] = probe
    else:
        instance = probe(config)
    if config.workers > 1 and not isinstance(probe, _ProbeLike):
        blocks = isinstance(instance, OpensLane)
        # Records cross back already encoded when the writer would only encode
        # them: every sink takes the same encoding and no filter runs here.
        encoder = None if blocks or keep is not None else shared_encoder(sinks)
        executor = ProcessPool(
            probe, instance.host_of, config, retry_on, takes_blocks=blocks, encoder=encoder
        )
    # Here too: the records this process makes (invalid input, duplicates) and, without
    # workers, every record.
    keep = _both(own_filter(instance), keep)
    run = Run(
        instance,
        config,
        sinks=sinks,
        keep=keep,
        checkpoint=checkpoint,
        stopper=stopper,
        stats=stats,
        clock=clock or MonotonicClock(),
        retry_on=retry_on,
        executor=executor,
    )
    owned = executor is None and not started
    if owned:
        await instance.start()
    try:
        await run.run(batches(lines))
    finally:
        run.stats.finished = time.monotonic()
        if owned:
            await instance.aclose()
    return run.stats


def _both(first: Keep | None, second: Keep | None) -> Keep | None:
    """A filter keeping what both keep (``None`` stands for keeping everything)."""
    if first is None or second is None:
        return first or second

    def keep(record: Record) -> bool:
        return first(record) and second(record)

    return keep

"""The two-stage stop request shared by the signal handlers and the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Stopper"]


class Stopper:
    """Two-stage stop request shared by the signal handlers and the engine.

    ``request()`` once: stop gracefully (nothing new starts; what is on the
    wire finishes); twice: abort (cancel at once). ``stop()`` and ``abort()``
    name the stages directly. The engine hooks its reactions in with
    :meth:`on_stop` and :meth:`on_abort`.
    """

    def __init__(self) -> None:
        self.stopping = False
        self.aborting = False
        self._on_stop: list[Callable[[], object]] = []
        self._on_abort: list[Callable[[], object]] = []

    def request(self) -> None:
        """Stop on the first request, abort on the second."""
        if self.stopping:
            self.abort()
        else:
            self.stop()

    def stop(self) -> None:
        """Stop gracefully: nothing new starts."""
        self.stopping = True
        for callback in list(self._on_stop):
            callback()

    def abort(self) -> None:
        """Stop at once: what runs is cancelled."""
        self.stop()
        self.aborting = True
        for callback in list(self._on_abort):
            callback()

    @contextmanager
    def on_stop(self, callback: Callable[[], object]) -> Iterator[None]:
        """Call ``callback`` at the stop request while in this block (at once if stopping)."""
        with _hooked(self._on_stop, callback, now=self.stopping):
            yield

    @contextmanager
    def on_abort(self, callback: Callable[[], object]) -> Iterator[None]:
        """Call ``callback`` at the abort request while in this block (at once if aborting)."""
        with _hooked(self._on_abort, callback, now=self.aborting):
            yield


@contextmanager
def _hooked(
    hooks: list[Callable[[], object]], callback: Callable[[], object], *, now: bool
) -> Iterator[None]:
    hooks.append(callback)
    try:
        if now:
            callback()
        yield
    finally:
        hooks.remove(callback)

"""Streaming duplicate detection with bounded memory.

Exact within a window: the last ``window`` distinct keys are remembered in two
generations (a new one starts when the current is full, the oldest is then
dropped), so memory stays bounded on a ten-million-line input while
duplicates closer than ``window`` distinct keys apart are always caught. Keys
are reduced to 64-bit BLAKE2b digests: with a million keys remembered the
chance that a new key collides with one of them is about 5e-14.
"""

from __future__ import annotations

from hashlib import blake2b

__all__ = ["Deduper"]


class Deduper:
    """Remembers recently seen keys; ``seen(key)`` is True for a repeat."""

    __slots__ = ("_current", "_half", "_previous")

    def __init__(self, window: int = 1_000_000) -> None:
        if window < 2:
            raise ValueError("window must be at least 2")
        self._half = window // 2
        self._current: set[int] = set()
        self._previous: set[int] = set()

    def seen(self, key: str) -> bool:
        """Record ``key``; return whether it was already seen."""
        digest = int.from_bytes(
            blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
        )
        if digest in self._current or digest in self._previous:
            return True
        if len(self._current) >= self._half:
            self._previous = self._current
            self._current = set()
        self._current.add(digest)
        return False

"""Streaming duplicate detection with bounded memory.

Exact within a window: the last ``window`` distinct keys are remembered in two
generations (a new one starts when the current is full, the oldest is then
dropped), so memory stays bounded on a ten-million-line input while
duplicates closer than ``window`` distinct keys apart are always caught. Keys
are reduced to 64-bit hashes (the string's own SipHash, ``hash()`` on a 64-bit
build): with a million keys remembered the chance that a new key collides with
one of them is about 5e-14.

Each generation is an open-addressing table of 64-bit integers in an
``array`` (linear probing, at most half full): 16 bytes per remembered key
instead of the ~70 a ``set`` of Python ints costs, so the default window of
a million keys takes 16 MB, not 70.
"""

from __future__ import annotations

from array import array

__all__ = ["Deduper"]

_MASK64 = (1 << 64) - 1


class _Table:
    """A fixed-size set of non-zero 64-bit integers (0 marks an empty slot)."""

    __slots__ = ("_mask", "_slots", "count")

    def __init__(self, capacity: int) -> None:
        size = 1 << max(4, (2 * capacity - 1).bit_length())
        self._slots = array("Q", bytes(8 * size))
        self._mask = size - 1
        self.count = 0

    def __contains__(self, key: int) -> bool:
        slots, mask = self._slots, self._mask
        i = key & mask
        while (v := slots[i]) != 0:
            if v == key:
                return True
            i = (i + 1) & mask
        return False


class Deduper:
    """Remembers recently seen keys; ``seen(key)`` is True for a repeat."""

    __slots__ = ("_current", "_half", "_previous")

    def __init__(self, window: int = 1_000_000) -> None:
        if window < 2:
            raise ValueError("window must be at least 2")
        self._half = window // 2
        self._current = _Table(self._half)
        self._previous = _Table(1)

    def seen(self, key: str) -> bool:
        """Record ``key``; return whether it was already seen."""
        # The str's own 64-bit SipHash: computed in C and cached on the string, and
        # only ever compared within this process (the window is not persisted).
        digest = (hash(key) & _MASK64) or 1  # 0 marks an empty slot
        # _Table.__contains__ and .add inlined: this runs once per input item.
        prev = self._previous
        if prev.count:
            slots, mask = prev._slots, prev._mask
            i = digest & mask
            while (v := slots[i]) != 0:
                if v == digest:
                    return True
                i = (i + 1) & mask
        cur = self._current
        if cur.count >= self._half:
            if digest in cur:
                return True
            self._previous = cur
            cur = self._current = _Table(self._half)
        slots, mask = cur._slots, cur._mask
        i = digest & mask
        while (v := slots[i]) != 0:
            if v == digest:
                return True
            i = (i + 1) & mask
        slots[i] = digest
        cur.count += 1
        return False

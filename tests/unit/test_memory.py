"""glibc's mmap threshold pinned: a 256 KiB block stays mapped after the first one is freed.

Each case runs in a fresh interpreter (the setting is per process and for good).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
import ctypes, sys
from aioscout._memory import pin_mmap_threshold

libc = ctypes.CDLL(None)
if not hasattr(libc, "mallinfo2"):
    print("skip")
    sys.exit()

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
pinned = sys.argv[1] == "pin" and pin_mmap_threshold()
size = 256 * 1024  # an SSL protocol's read buffer
libc.free(libc.malloc(size))  # the first free moves glibc's threshold, unless pinned
before = libc.mallinfo2().hblks
block = libc.malloc(size)
print(pinned, libc.mallinfo2().hblks - before)  # 1: mapped; 0: from the heap
libc.free(block)
"""


def _mapped_after_a_free(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_freed_buffer_no_longer_sends_the_next_ones_to_the_heap() -> None:
    unpinned = _mapped_after_a_free("leave")
    if unpinned == "skip":
        pytest.skip("not glibc 2.33 or later")
    assert unpinned == "False 0"  # glibc moved its threshold: the next block is heap
    assert _mapped_after_a_free("pin") == "True 1"  # pinned: mapped, as the first one

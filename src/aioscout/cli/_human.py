"""Records as one short line each, for a person at a terminal.

On a terminal (and unless ``-j`` asks for JSON), every command prints one
line per record instead of its JSON: ``https://host:443 [200] [Title]
[nginx] [tech]`` for ``http``, ``name → A 1.2.3.4, CNAME x`` for ``dns``,
``url → path size sha256…`` for ``fetch``. A renderer is a function from a
record (as the JSON object it is written as) and a :class:`View` to one line;
a new command adds one function to :data:`RENDERERS` under its name, and
nothing else. Text that came from a server never reaches the terminal with a
control character in it (no escape sequence can clear the screen or retitle
the window).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._models import Record
from ..sinks.jsonl import encode_lines

__all__ = ["COLUMNS", "RENDERERS", "TerminalSink", "View", "clean", "color_wanted", "fmt_int"]

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+")

COLUMNS = ("sc", "cl", "ct", "rt", "title", "server", "td", "ip")
"""Columns of ``http``'s line that ``-sc``, ``-cl``, ``-ct``, ``-rt``, ``-title``,
``-server``, ``-td`` and ``-ip`` choose (default: status, title, server, tech)."""

_DEFAULT_COLUMNS = frozenset({"sc", "title", "server", "td"})

_RESET = "\x1b[0m"
_STYLES = {
    "ok": "\x1b[32m",  # green
    "redirect": "\x1b[33m",  # yellow
    "bad": "\x1b[31m",  # red
    "title": "\x1b[36m",  # cyan
    "server": "\x1b[35m",  # magenta
    "tech": "\x1b[34m",  # blue
    "dim": "\x1b[2m",
    "name": "\x1b[1m",  # bold
}


def clean(text: object, limit: int = 200) -> str:
    """``text`` without control characters (each run becomes one space), cut to ``limit``."""
    value = _CONTROL.sub(" ", str(text)).strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def fmt_int(n: int | float) -> str:
    """The one way numbers are shown to people: ``12,345``."""
    return f"{round(n):,}"


def color_wanted(no_color_flag: bool, stream_is_tty: bool) -> bool:
    """Colour unless ``-nc``, ``NO_COLOR`` (any value, https://no-color.org) or no terminal."""
    return stream_is_tty and not no_color_flag and "NO_COLOR" not in os.environ


@dataclass(frozen=True, slots=True)
class View:
    """How lines look: colour or not, and which columns ``http`` shows."""

    color: bool = True
    columns: frozenset[str] = field(default_factory=lambda: _DEFAULT_COLUMNS)

    def paint(self, style: str, text: str) -> str:
        """``text`` in ``style`` (or as it is without colour)."""
        return f"{_STYLES[style]}{text}{_RESET}" if self.color and text else text

    def box(self, style: str, text: str) -> str:
        """``[text]`` in ``style``."""
        return "[" + self.paint(style, text) + "]"


def _status_style(status: int) -> str:
    if status < 300:
        return "ok"
    return "redirect" if status < 400 else "bad"


def _error(record: Mapping[str, Any], view: View) -> str:
    err = record.get("error") or {}
    detail = clean(err.get("detail", ""), 120)
    return view.box("bad", clean(err.get("kind", "error"))) + (
        " " + view.paint("dim", detail) if detail else ""
    )


def _http_statuses(record: Mapping[str, Any], view: View) -> str:
    chain = record.get("chain") or []
    codes = [int(hop["status"]) for hop in chain if isinstance(hop.get("status"), int)]
    codes.append(int(record["status"]))
    return "[" + ",".join(view.paint(_status_style(c), str(c)) for c in codes) + "]"


def render_http(record: Mapping[str, Any], view: View) -> str:
    """``url [first,...,final status] [title] [server] [tech] ...`` (see :data:`COLUMNS`)."""
    url = clean(record.get("url") or record.get("input", ""), 300)
    parts = [url]
    cols = view.columns
    status = record.get("status")
    if status is not None:
        if "sc" in cols:
            parts.append(_http_statuses(record, view))
        final = record.get("final_url")
        if final and final != record.get("url"):
            parts.append("[→ " + clean(final, 300) + "]")
        if "cl" in cols and record.get("content_length") is not None:
            parts.append(f"[{fmt_int(record['content_length'])}]")
        if "ct" in cols and record.get("content_type"):
            parts.append(f"[{clean(record['content_type'], 60)}]")
        if "rt" in cols and record.get("time_ms") is not None:
            parts.append(f"[{fmt_int(record['time_ms'])} ms]")
        if "title" in cols and record.get("title"):
            parts.append(view.box("title", clean(record["title"], 120)))
        if "server" in cols and record.get("server"):
            parts.append(view.box("server", clean(record["server"], 60)))
        if "td" in cols and record.get("tech"):
            parts.append(view.box("tech", clean(",".join(record["tech"]), 200)))
        if "ip" in cols and record.get("ip"):
            parts.append(f"[{clean(record['ip'])}]")
        parts.extend(_http_extras(record))
    if record.get("error"):
        parts.append(_error(record, view))
    return " ".join(parts)


def _http_extras(record: Mapping[str, Any]) -> list[str]:
    """What the probe flags (--favicon, --cdn, --http2, ...) added to the record."""
    out = []
    if record.get("favicon") is not None:
        out.append(f"[favicon:{record['favicon']}]")
    if record.get("cdn"):
        out.append(f"[cdn:{clean(record['cdn'], 40)}]")
    if record.get("http2"):
        out.append("[h2]")
    if record.get("websocket"):
        out.append("[websocket]")
    if record.get("headers") is not None:
        out.append(f"[{fmt_int(len(record['headers']))} headers]")
    if record.get("stored"):
        out.append(f"[stored:{clean(record['stored'], 200)}]")
    return out


def render_dns(record: Mapping[str, Any], view: View) -> str:
    """``name → A 1.2.3.4, CNAME x`` (``[wildcard]`` marked), or the name and why not."""
    name = view.paint("name", clean(record.get("name") or record.get("input", ""), 260))
    answers = record.get("answers") or []
    if answers:
        text = ", ".join(clean(f"{a.get('type')} {a.get('data')}", 300) for a in answers)
        line = f"{name} → {text}"
        if record.get("wildcard"):
            line += " " + view.box("redirect", "wildcard")
        return line
    if record.get("error"):
        return f"{name} {_error(record, view)}"
    return f"{name} " + view.box("dim", clean(record.get("rcode") or "no answer"))


def render_fetch(record: Mapping[str, Any], view: View) -> str:
    """``url → path size sha256…``, or the URL and the error."""
    url = clean(record.get("url") or record.get("input", ""), 300)
    if record.get("error"):
        status = record.get("status")
        shown = f" [{view.paint('bad', str(status))}]" if status is not None else ""
        return f"{url}{shown} {_error(record, view)}"
    status = record.get("status")
    if record.get("path") is None:  # nothing written (a 4xx/5xx answer)
        shown = view.paint(_status_style(status), str(status)) if status is not None else "-"
        return f"{url} [{shown}] " + view.paint("dim", "no file written")
    size = record.get("size")
    sha = str(record.get("sha256") or "")
    parts = [url, "→", clean(record.get("path") or "", 300)]
    if size is not None:
        parts.append(f"{fmt_int(size)} B")
    if sha:
        parts.append(view.paint("dim", sha[:16] + "…"))
    return " ".join(parts)


def _ssh_where(record: Mapping[str, Any]) -> str:
    host = record.get("host")
    if host is None:
        return clean(record.get("input", ""), 300)
    user = record.get("user")
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return clean(f"{user + '@' if user else ''}{shown}:{record.get('port')}", 300)


def render_ssh(record: Mapping[str, Any], view: View) -> str:
    """``user@host:port [exit 0] first line of stdout``; with ``--scan`` the banner, the host
    key and the auth methods offered; or where and the error."""
    where = view.paint("name", _ssh_where(record))
    if record.get("error"):
        return f"{where} {_error(record, view)}"
    methods = record.get("auth_methods")
    if methods is not None:
        key = f"{record.get('host_key_type') or ''} {record.get('host_key_fingerprint') or ''}"
        return " ".join(
            [
                where,
                clean(record.get("server_version") or "", 120),
                view.paint("dim", clean(key, 120)),
                "[" + clean(",".join(map(str, methods)), 120) + "]",
            ]
        )
    status = record.get("exit_status")
    if status is None:
        shown = view.box("bad", clean(f"signal {record.get('exit_signal') or '?'}"))
    else:
        shown = view.box("ok" if status == 0 else "bad", f"exit {status}")
    if record.get("stdout_base64"):
        return f"{where} {shown} " + view.paint("dim", "[binary output]")
    lines = str(record.get("stdout") or "").strip().splitlines()
    text = clean(lines[0], 200) if lines else ""
    if len(lines) > 1:
        text += view.paint("dim", f" (+{fmt_int(len(lines) - 1)} lines)")
    return f"{where} {shown} {text}".rstrip()


def render_any(record: Mapping[str, Any], view: View) -> str:
    """A command without a renderer of its own: its input, and its error if any."""
    line = clean(record.get("input", ""), 300)
    return f"{line} {_error(record, view)}" if record.get("error") else line


Renderer = Callable[[Mapping[str, Any], View], str]

RENDERERS: dict[str, Renderer] = {
    "http": render_http,
    "dns": render_dns,
    "fetch": render_fetch,
    "ssh": render_ssh,
}
"""The line renderer of each command, by command name: a new command adds its own."""


class TerminalSink:
    """Records to a terminal on standard output: one human line each, or JSON Lines.

    Writes go through ``status`` (the progress line, if any), which is cleared
    before and redrawn after them, so records scroll above a pinned bar.
    It takes records already encoded as JSON Lines (the same encoding as the
    JSON Lines sink, so process workers encode once for both).
    """

    encode_lines = staticmethod(encode_lines)

    def __init__(
        self,
        render: Renderer | None,
        view: View,
        write: Callable[[bytes], None],
    ) -> None:
        self._render = render
        self._view = view
        self._write = write

    def _lines(self, objects: Sequence[Mapping[str, Any]]) -> bytes:
        assert self._render is not None
        view, render = self._view, self._render
        return "".join(render(o, view) + "\n" for o in objects).encode("utf-8", "replace")

    async def write(self, records: Sequence[Record]) -> None:
        """Print a batch of records."""
        if not records:
            return
        if self._render is None:
            self._write(b"".join(encode_lines(records)))
            return
        self._write(self._lines([orjson.loads(line) for line in encode_lines(records)]))

    async def write_encoded(self, data: bytes, count: int) -> None:
        """Print ``count`` records already encoded as JSON Lines."""
        if not data:
            return
        if self._render is None:
            self._write(data)
            return
        self._write(self._lines([orjson.loads(line) for line in data.splitlines()]))

    async def flush(self) -> None:
        """Nothing to do: every write reaches the terminal at once."""

    async def aclose(self) -> None:
        """Nothing to release: standard output stays open."""

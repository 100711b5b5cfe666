"""What changed between two scans: new, gone and changed results.

A scan's records are keyed by what they are about, which depends on the
command that made them, found from the records' own fields (no flag needed):

=========  ==========================  ===================================
command    recognised by               key
=========  ==========================  ===================================
dns        ``answers`` / ``rcode``     ``name``
fetch      ``sha256`` and ``path``     ``url`` (else ``input``)
http       ``status`` / ``title`` …    ``input`` (``input [ip]`` when one
                                       input has several addresses)
ssh        ``banner`` and a host key   ``host`` (``host:port`` off 22)
ports      ``host`` and ``port``       ``host:port``
other      —                           ``input``
=========  ==========================  ===================================

A record with an error is no result unless ``errors=True`` (so a host that
stops answering is gone, and one that starts is new); for ports, only an
open port is a result (a closed or filtered one, or a host's record saying
it has none, is absent). Two records under
one key are compared on the fields that describe the
service (status, title, server, TLS expiry, technologies, answers, banner,
the error's kind …), never on what varies from run to run by itself (time
taken, TTLs, the resolver that answered, the attempt count).

Example::

    from aioscout.diff import diff_records

    old = [{"input": "a:80", "status": 200, "title": "A"}]
    new = [{"input": "a:80", "status": 404, "title": "A"}]
    (change,) = diff_records(old, new).changes
    assert change.fields == {"status": (200, 404)}
"""

from __future__ import annotations

import collections
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

__all__ = [
    "Change",
    "ChangeSet",
    "command_of",
    "diff_records",
    "key_of",
    "load",
    "load_jsonl",
    "load_sqlite",
    "render_human",
    "render_jsonl",
    "render_markdown",
    "view_of",
]

Row = Mapping[str, Any]
"""One record as its JSON object."""

# Fields that change from one run to the next by themselves: never a change.
_VOLATILE = frozenset(
    {
        "time_ms",
        "attempts",
        "resolver",
        "elapsed",
        "elapsed_ms",
        "timestamp",
        "at",
        "stored",
        "path",
        "resumed_from",
        "pid",
    }
)
_HTTP_FIELDS = ("status", "title", "server", "final_url", "tech", "tls_not_after", "cdn", "favicon")


def command_of(row: Row) -> str:
    """The command that made ``row``: dns, fetch, http, ssh, ports or ``other``."""
    if "answers" in row or "rcode" in row:
        return "dns"
    if "sha256" in row and "path" in row:
        return "fetch"
    if "status" in row or "title" in row or "final_url" in row:
        return "http"
    if "banner" in row and any(k in row for k in ("host_key", "host_keys", "kex", "software")):
        return "ssh"
    if "host" in row and "port" in row:
        return "ports"
    return "other"


def key_of(row: Row, command: str | None = None) -> str:
    """What ``row`` is about, the key two scans are matched on (see the module's table)."""
    command = command or command_of(row)
    if command == "dns":
        return str(row.get("name") or row.get("input"))
    if command == "fetch":
        return str(row.get("url") or row.get("input"))
    if command == "ssh":
        port = row.get("port")
        host = str(row.get("host") or row.get("input"))
        return host if port in (None, 22) else f"{host}:{port}"
    if command == "ports":
        return f"{row.get('host')}:{row.get('port')}"
    return str(row.get("input"))


def view_of(row: Row, command: str | None = None) -> dict[str, Any]:
    """The fields of ``row`` a change is judged on, normalised (sets sorted, TTLs dropped)."""
    command = command or command_of(row)
    error = row.get("error")
    kind = error.get("kind") if isinstance(error, Mapping) else error
    if command == "http":
        tls = row.get("tls")
        flat = {**row, "tls_not_after": tls.get("not_after") if isinstance(tls, Mapping) else None}
        view = {name: flat.get(name) for name in _HTTP_FIELDS}
        if isinstance(view["tech"], list):
            view["tech"] = sorted(view["tech"])
    elif command == "dns":
        answers = row.get("answers") or []
        view = {
            "answers": sorted(
                f"{a.get('type')} {a.get('data')}" for a in answers if isinstance(a, Mapping)
            ),
            "rcode": row.get("rcode"),
            "wildcard": row.get("wildcard"),
        }
    else:
        view = {
            name: value
            for name, value in row.items()
            if name not in _VOLATILE and name not in ("input", "error")
        }
    view["error"] = kind
    return view


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: a result that is ``new``, ``gone``, or ``changed`` (and how)."""

    change: Literal["new", "gone", "changed"]
    key: str
    command: str
    record: Row
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The change as one JSON object (the ``-j`` line and the webhook's entry)."""
        out: dict[str, Any] = {"change": self.change, "key": self.key, "command": self.command}
        if self.fields:
            out["fields"] = {k: {"old": old, "new": new} for k, (old, new) in self.fields.items()}
        out["record"] = dict(self.record)
        return out


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Every change between two scans, in a stable order (gone, changed, new; by key)."""

    changes: list[Change]

    def __bool__(self) -> bool:
        return bool(self.changes)

    def count(self, change: str) -> int:
        """How many changes of kind ``change`` (new, gone, changed)."""
        return sum(1 for c in self.changes if c.change == change)

    def summary(self) -> str:
        """``2 new, 1 gone, 3 changed`` (or ``no changes``)."""
        if not self.changes:
            return "no changes"
        return ", ".join(f"{self.count(k)} {k}" for k in ("new", "gone", "changed"))


def _present(command: str, row: Row, errors: bool) -> bool:
    """Whether ``row`` is a result: no error (unless ``errors``); for ports, an open port."""
    if command == "ports" and (row.get("port") is None or row.get("state") != "open"):
        return errors and bool(row.get("error"))
    return errors or not row.get("error")


def _index(rows: Iterable[Row], errors: bool) -> dict[str, tuple[str, Row]]:
    listed = [(cmd, row) for row in rows if _present(cmd := command_of(row), row, errors)]
    counts = collections.Counter(key_of(row, cmd) for cmd, row in listed)
    out: dict[str, tuple[str, Row]] = {}
    for cmd, row in listed:
        key = key_of(row, cmd)
        if counts[key] > 1 and row.get("ip"):  # --all-ips: one record per address
            key = f"{key} [{row['ip']}]"
        out[key] = (cmd, row)
    return out


def diff_records(old: Iterable[Row], new: Iterable[Row], *, errors: bool = False) -> ChangeSet:
    """The changes from the records of scan ``old`` to those of scan ``new``.

    A record with an error (refused, timeout, no such name …) is no result:
    a host that stops answering is ``gone``, one that starts is ``new``, and
    a failure that changes kind is no change. With ``errors`` the error
    records are results too, and their error's kind is compared.
    """
    before, after = _index(old, errors), _index(new, errors)
    changes: list[Change] = []
    for key in sorted(before.keys() - after.keys()):
        cmd, row = before[key]
        changes.append(Change("gone", key, cmd, row))
    for key in sorted(before.keys() & after.keys()):
        (cmd, was), (_, now) = before[key], after[key]
        a, b = view_of(was, cmd), view_of(now, cmd)
        fields = {
            k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)
        }
        if fields:
            changes.append(Change("changed", key, cmd, now, fields))
    for key in sorted(after.keys() - before.keys()):
        cmd, row = after[key]
        changes.append(Change("new", key, cmd, row))
    return ChangeSet(changes)


def load_jsonl(path: str) -> Iterator[dict[str, Any]]:
    """The records of a JSON Lines file (blank and unparsable lines skipped).

    Raises ``OSError`` when the file cannot be read.
    """
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(row, dict):
                yield row


_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def load_sqlite(spec: str) -> Iterator[dict[str, Any]]:
    """The records an ``-o sqlite:///FILE.db[?table=NAME]`` run stored (its ``record`` column).

    Raises ``ValueError`` for a malformed spec, ``OSError``/``sqlite3.Error``
    when the database or its table cannot be read.
    """
    rest = spec[len("sqlite://") :]
    path, _, query = rest[1:].partition("?") if rest.startswith("/") else ("", "", "")
    if not path:
        raise ValueError(f"bad SQLite source {spec!r}: use sqlite:///file.db[?table=NAME]")
    table: str | None = None
    for part in filter(None, query.split("&")):
        name, _, value = part.partition("=")
        if name != "table" or not _TABLE.fullmatch(value):
            raise ValueError(f"bad SQLite source {spec!r}: only ?table=NAME (letters, digits, _)")
        table = value
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such database: {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        table = table or _only_record_table(conn, spec)
        for (text,) in conn.execute(f'SELECT record FROM "{table}" ORDER BY rowid'):
            row = orjson.loads(text)
            if isinstance(row, dict):
                yield row
    finally:
        conn.close()


def _only_record_table(conn: sqlite3.Connection, spec: str) -> str:
    """The one table of records in the database (the sink names it after the record type)."""
    names = [
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if name != "run"
        and any(col[1] == "record" for col in conn.execute(f'PRAGMA table_info("{name}")'))
    ]
    if len(names) != 1:
        raise ValueError(f"{spec}: holds tables {sorted(names)}: name one with ?table=NAME")
    return str(names[0])


def load(source: str) -> list[dict[str, Any]]:
    """The records of a scan's output: a JSON Lines file or ``sqlite:///FILE.db[?table=T]``."""
    if source.lower().startswith("sqlite://"):
        return list(load_sqlite(source))
    return list(load_jsonl(source))


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _what(change: Change) -> str:
    if change.change == "changed":
        return "; ".join(
            f"{name} {_short(old)} → {_short(new)}" for name, (old, new) in change.fields.items()
        )
    view = view_of(change.record, change.command)
    if view.get("final_url") == change.record.get("url"):
        view.pop("final_url")
    shown = [f"{k} {_short(v)}" for k, v in view.items() if v not in (None, [], "")]
    return ", ".join(shown)


_MARK = {"new": "+", "gone": "-", "changed": "~"}


def render_human(changes: ChangeSet) -> Iterator[str]:
    """One line per change: ``+ key  what`` (new), ``- key`` (gone), ``~ key  a → b``."""
    for change in changes.changes:
        what = _what(change)
        key = _short(change.key, 200)
        yield f"{_MARK[change.change]} {key}" + (f"  {what}" if what else "")


def render_jsonl(changes: ChangeSet) -> Iterator[bytes]:
    """One JSON object per change (see :meth:`Change.as_dict`), without the newline."""
    for change in changes.changes:
        yield orjson.dumps(change.as_dict())


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def render_markdown(changes: ChangeSet, title: str = "Scan changes") -> str:
    """A Markdown summary for a ticket or a chat: a heading, counts, a section per kind."""
    lines = [f"## {_md(title)}", "", f"**{changes.summary()}**"]
    for kind, heading in (("new", "New"), ("gone", "Gone"), ("changed", "Changed")):
        picked = [c for c in changes.changes if c.change == kind]
        if not picked:
            continue
        lines += ["", f"### {heading} ({len(picked)})", ""]
        for change in picked:
            what = _what(change)
            lines.append(f"- `{_md(change.key)}`" + (f": {_md(what)}" if what else ""))
    return "\n".join(lines) + "\n"

"""``aioscout report``: one self-contained HTML file from result files of any command.

The page needs no network: its stylesheet and script are inlined, the charts are
SVG drawn by that script, and the records are one JSON blob inside a
``<script type="application/json">`` element. Every ``<`` in the blob is written
as ``\\u003c``, so no string a server sent (a title holding ``</script>``) can
end the element; the script shows every such string with ``textContent``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import IO, Any

import orjson

from ._collect import COLUMNS, Collector, iter_records

__all__ = ["ReportStats", "build_report", "write_report"]

_BATCH = 2000  # rows encoded per write


class ReportStats(dict[str, Any]):
    """What :func:`build_report` wrote: ``records``, ``groups``, ``bytes``."""


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _safe_json(value: Any) -> bytes:
    return orjson.dumps(value).replace(b"<", b"\\u003c")


def _lines(paths: Iterable[str]) -> Iterable[tuple[str, bytes]]:
    for path in paths:
        with open(path, "rb") as handle:
            for line in handle:
                yield path, line


def write_report(
    paths: Iterable[str], out: IO[bytes], *, base_dir: str | None = None, title: str = ""
) -> ReportStats:
    """Write the report of the records in ``paths`` (JSON Lines) to ``out``.

    ``base_dir`` is where the HTML will live: screenshot paths are made relative
    to it so the thumbnails load from a ``file:`` page.
    """
    paths = list(paths)
    started = time.monotonic()
    collector = Collector()
    head = _asset("report.html").replace("/*CSS*/", _asset("report.css"))
    head = head.replace("<!--TITLE-->", _html_text(title or "aioscout report"))
    before, after = head.split("<!--DATA-->")
    out.write(before.encode())
    out.write(b'<script type="application/json" id="rows">[')
    batch: list[list[Any]] = []
    first = True
    for rec in iter_records(line for _, line in _lines(paths)):
        row = collector.unreadable_line() if rec is None else collector.add(rec)
        if row[11] and base_dir is not None:
            row[11] = _relative(row[11], base_dir)
        batch.append(row)
        if len(batch) >= _BATCH:
            out.write((b"" if first else b",") + _safe_json(batch)[1:-1])
            first, batch = False, []
    if batch:
        out.write((b"" if first else b",") + _safe_json(batch)[1:-1])
    out.write(b"]</script>\n")
    groups = collector.groups()
    for group in groups:
        if group["screenshot"] and base_dir is not None:
            group["screenshot"] = _relative(group["screenshot"], base_dir)
    meta = {
        "columns": COLUMNS,
        "summary": collector.summary(),
        "groups": groups[:2000],
        "group_count": len(groups),
        "row_groups": collector.row_groups(),
        "sources": [os.path.basename(p) for p in paths],
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "build_s": round(time.monotonic() - started, 2),
    }
    out.write(b'<script type="application/json" id="meta">')
    out.write(_safe_json(meta))
    out.write(b"</script>\n<script>\n")
    out.write(_asset("report.js").encode())
    out.write(b"\n</script>\n")
    out.write(after.encode())
    return ReportStats(records=collector.total, groups=len(groups))


def build_report(paths: Iterable[str], output: str, *, title: str = "") -> ReportStats:
    """Write the report of ``paths`` to the file ``output`` (through a temp file, then renamed).

    Example::

        build_report(["http.jsonl", "dns.jsonl"], "report.html")
    """
    target = Path(output)
    tmp = target.with_name(f".{target.name}.tmp")
    base = str(target.resolve().parent)
    with open(tmp, "wb") as out:
        stats = write_report(paths, out, base_dir=base, title=title)
    os.replace(tmp, target)
    stats["bytes"] = target.stat().st_size
    return stats


def _relative(path: str, base_dir: str) -> str:
    try:
        return os.path.relpath(path, base_dir)
    except ValueError:
        return path


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

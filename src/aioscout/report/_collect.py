"""Read result files one line at a time into compact table rows and chart counts.

Why streaming: a report of millions of records must not hold the records. Each
line becomes one short list (the table row, written out at once by the caller)
and a few counters; the only per-record state kept is the page-group id.

Page groups (the aquatone idea): pages built from one template belong together.
Two HTTP records share a group when they have the same body hash, or the same
*title shape* (the title lower-cased with digits removed) and the same favicon
hash. A union-find over those keys merges the two relations, so 500 default
nginx pages on 500 hosts show as one group.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["COLUMNS", "Collector", "iter_records", "kind_of"]

# The table's columns, in order; every row is a list of exactly these values.
COLUMNS = (
    "kind",
    "target",
    "status",
    "title",
    "server",
    "tech",
    "ip",
    "port",
    "error",
    "time_ms",
    "group",
    "screenshot",
)

_TOP = 25  # bars per chart; the rest are summed into "(other)"
_SAMPLES = 5  # URLs kept per page group
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


def iter_records(lines: Iterable[bytes]) -> Iterator[dict[str, Any] | None]:
    """Each JSON object in ``lines`` (arrays are flattened); ``None`` for an unreadable line."""
    for line in lines:
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield None
            continue
        for item in value if isinstance(value, list) else [value]:
            yield item if isinstance(item, dict) else None


def kind_of(rec: dict[str, Any]) -> str:
    """Which command made ``rec``, told from its fields (the JSONL schema of each record)."""
    if "answers" in rec or "rcode" in rec:
        return "dns"
    if "state" in rec or "scanned" in rec:
        return "ports"
    if "sha256" in rec or "resumed_from" in rec:
        return "fetch"
    if "url" in rec or "final_url" in rec or "title" in rec:
        return "http"
    return "other"


class _Groups:
    """Union-find over record ids with keyed joins (see the module docstring)."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.owner: dict[str, int] = {}

    def add(self, keys: Iterable[str]) -> int:
        node = len(self.parent)
        self.parent.append(node)
        for key in keys:
            other = self.owner.setdefault(key, node)
            if other != node:
                self._union(node, other)
        return node

    def find(self, node: int) -> int:
        parent = self.parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def _union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _text(value: Any, limit: int = 300) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text[:limit]


def title_shape(title: str) -> str:
    """A title with case, digits and spacing evened out: the key of similar titles."""
    return _SPACES.sub(" ", _DIGITS.sub("#", title.lower())).strip()


@dataclass
class _GroupInfo:
    count: int = 0
    title: str = ""
    samples: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    screenshot: str = ""


class Collector:
    """Turns records into rows (returned at once) and keeps the counts the charts show."""

    def __init__(self) -> None:
        self.total = 0
        self.unreadable = 0
        self.kinds: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.charts: dict[str, Counter[str]] = {
            name: Counter()
            for name in ("status", "tech", "server", "tls_expiry", "dns_answers", "ports")
        }
        self.times: list[float] = []
        self._groups = _Groups()
        self._row_node: list[int] = []  # row index -> union-find node, -1 when not a page
        self._pages: list[tuple[int, str, str, str, str]] = []  # node, url, title, status, shot

    def unreadable_line(self) -> list[Any]:
        """The row of a line that is not a JSON object (still one row: nothing is dropped)."""
        self.total += 1
        self.unreadable += 1
        self.kinds["unreadable"] += 1
        self.errors["unreadable"] += 1
        self._row_node.append(-1)
        return ["unreadable", "", "", "", "", "", "", "", "unreadable", None, -1, ""]

    def add(self, rec: dict[str, Any]) -> list[Any]:
        """Count ``rec`` and return its table row (``group`` is filled in by :meth:`groups`)."""
        self.total += 1
        kind = kind_of(rec)
        self.kinds[kind] += 1
        error = rec.get("error")
        error_kind = _text(error.get("kind")) if isinstance(error, dict) else ""
        if error_kind:
            self.errors[error_kind] += 1
        time_ms = rec.get("time_ms")
        if isinstance(time_ms, int | float):
            self.times.append(float(time_ms))
        else:
            time_ms = None
        row = getattr(self, f"_{kind}")(rec)
        target, status, title, server, tech, ip, port = row
        shot = _text(rec.get("screenshot"), 1000)
        node = -1
        if kind == "http" and status and not error_kind:
            node = self._page(rec, target, title, status, shot)
        self._row_node.append(node)
        return [kind, target, status, title, server, tech, ip, port, error_kind, time_ms, -1, shot]

    def _page(self, rec: dict[str, Any], url: str, title: str, status: str, shot: str) -> int:
        keys = []
        body = rec.get("body_sha256")
        if body:
            keys.append(f"b:{body}")
        keys.append(f"t:{title_shape(title)}|{rec.get('favicon')}")
        node = self._groups.add(keys)
        self._pages.append((node, url, title, status, shot))
        return node

    def _http(self, rec: dict[str, Any]) -> tuple[Any, ...]:
        status = rec.get("status")
        if status is not None:
            self.charts["status"][str(status)] += 1
        server = _text(rec.get("server"), 120)
        if server:
            self.charts["server"][server] += 1
        tech = rec.get("tech") or []
        for name in tech:
            self.charts["tech"][_text(name, 80)] += 1
        tls = rec.get("tls")
        if isinstance(tls, dict) and tls.get("not_after"):
            self.charts["tls_expiry"][_text(tls["not_after"])[:7]] += 1
        target = rec.get("final_url") or rec.get("url") or rec.get("input")
        return (
            _text(target, 1000),
            _text(status),
            _text(rec.get("title")),
            server,
            ", ".join(_text(t, 80) for t in tech),
            _text(rec.get("ip")),
            _text(rec.get("port")),
        )

    def _dns(self, rec: dict[str, Any]) -> tuple[Any, ...]:
        answers = rec.get("answers") or []
        name = _text(rec.get("name") or rec.get("input"), 300)
        if not rec.get("error"):
            self.charts["dns_answers"][str(len(answers))] += 1
        data = [_text(a.get("data"), 100) for a in answers if isinstance(a, dict)]
        ips = [d for a, d in zip(answers, data, strict=False) if a.get("type") in ("A", "AAAA")]
        return (
            name,
            _text(rec.get("rcode")),
            " ".join(data)[:300],
            "",
            "",
            " ".join(ips)[:200],
            "",
        )

    def _ports(self, rec: dict[str, Any]) -> tuple[Any, ...]:
        state = _text(rec.get("state"))
        service = _text(rec.get("service"), 60)
        if state == "open":
            self.charts["ports"][service or "unknown"] += 1
        target = rec.get("url") or rec.get("host") or rec.get("input")
        return (
            _text(target, 1000),
            state,
            _text(rec.get("banner")),
            service,
            "",
            _text(rec.get("ip")),
            _text(rec.get("port")),
        )

    def _fetch(self, rec: dict[str, Any]) -> tuple[Any, ...]:
        status = rec.get("status")
        if status is not None:
            self.charts["status"][str(status)] += 1
        return (
            _text(rec.get("url") or rec.get("input"), 1000),
            _text(status),
            _text(rec.get("path")),
            "",
            "",
            "",
            "",
        )

    def _other(self, rec: dict[str, Any]) -> tuple[Any, ...]:
        return (_text(rec.get("input"), 1000), "", "", "", "", _text(rec.get("ip")), "")

    def row_groups(self) -> list[int]:
        """Each row's page-group number (``-1`` for rows that are not pages)."""
        roots: dict[int, int] = {}
        numbers = []
        for node in self._row_node:
            if node < 0:
                numbers.append(-1)
                continue
            root = self._groups.find(node)
            numbers.append(roots.setdefault(root, len(roots)))
        self._roots = roots
        return numbers

    def groups(self) -> list[dict[str, Any]]:
        """The page groups, largest first: size, a title, sample URLs, statuses, a screenshot."""
        if not hasattr(self, "_roots"):
            self.row_groups()
        infos: dict[int, _GroupInfo] = {}
        for node, url, title, status, shot in self._pages:
            number = self._roots[self._groups.find(node)]
            info = infos.setdefault(number, _GroupInfo())
            info.count += 1
            info.title = info.title or title
            info.statuses[status] += 1
            if len(info.samples) < _SAMPLES:
                info.samples.append(url)
            info.screenshot = info.screenshot or shot
        ordered = sorted(infos.items(), key=lambda kv: (-kv[1].count, kv[0]))
        return [
            {
                "id": number,
                "count": info.count,
                "title": info.title,
                "samples": info.samples,
                "statuses": dict(info.statuses.most_common(5)),
                "screenshot": info.screenshot,
            }
            for number, info in ordered
        ]

    def summary(self) -> dict[str, Any]:
        """Counts, time figures and every chart's bars (top :data:`_TOP`, the rest summed)."""
        times = sorted(self.times)
        timing = {}
        if times:
            timing = {
                "count": len(times),
                "median_ms": round(times[len(times) // 2], 1),
                "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
                "max_ms": round(times[-1], 1),
            }
        return {
            "total": self.total,
            "kinds": dict(self.kinds.most_common()),
            "errors": dict(self.errors.most_common()),
            "ok": self.total - sum(self.errors.values()),
            "timing": timing,
            "charts": {name: _bars(name, counts) for name, counts in self.charts.items()},
        }


def _bars(name: str, counts: Counter[str]) -> list[list[Any]]:
    if name in ("tls_expiry", "dns_answers"):
        key = (lambda kv: int(kv[0])) if name == "dns_answers" else (lambda kv: kv[0])
        items = sorted(counts.items(), key=key)
    else:
        items = counts.most_common()
    if len(items) <= _TOP:
        return [[label, n] for label, n in items]
    head = counts.most_common(_TOP) if name not in ("tls_expiry", "dns_answers") else items[:_TOP]
    rest = sum(counts.values()) - sum(n for _, n in head)
    return [[label, n] for label, n in head] + [["(other)", rest]]

"""Technology detection from headers, cookies, meta tags, script sources and HTML.

Why it is shaped this way: the fingerprints (Wappalyzer's, MIT, shipped under
``extract/data``) hold thousands of regexes. Running them all over a 256 KB
body would cost tens of milliseconds, so everything is indexed once at first
use: header and meta patterns by name, cookies by name, and every ``scriptSrc``
and ``html`` regex gets a mandatory literal taken from its parse tree. The body
is scanned once for ``<script>``/``<meta>``/``<link>`` tags; ``html`` patterns
see those tags plus the first few KB of the page, and a regex runs only when
its literal occurs. Patterns with no usable literal run on that small digest.

Output: sorted ``"Name"`` or ``"Name:version"`` strings, e.g. ``"Nginx:1.24.0"``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["detect"]

_HTML_WINDOW = 4096
_MAX_TAGS = 256
_MAX_ATTR = 512
_MIN_LITERAL = 3

_TAG = re.compile(r"<(script|meta|link)(?=[\s/>])", re.IGNORECASE)
_ATTR = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")


@dataclass(slots=True, frozen=True)
class _Pattern:
    tech: str
    regex: re.Pattern[str] | None  # None: presence is enough
    version: str | None
    literal: tuple[str, ...] | None  # lower-case texts, one of which every match contains


@dataclass(slots=True, frozen=True)
class _Index:
    headers: dict[str, list[_Pattern]]
    cookies: dict[str, list[_Pattern]]
    cookie_prefixes: list[tuple[str, _Pattern]]
    meta: dict[str, list[_Pattern]]
    script_src: list[_Pattern]
    html: list[_Pattern]
    banks: dict[str, _Bank]
    implies: dict[str, list[str]]
    excludes: dict[str, list[str]]


# Fragments that occur in nearly every page: a literal made only of these filters nothing.
_COMMON = (
    "<script",
    "<link",
    "<meta",
    "<html",
    "<div",
    "<a ",
    "<img",
    "<span",
    "<body",
    "<!--",
    "class=",
    "href=",
    "src=",
    "rel=",
    "name=",
    "content=",
    "type=",
    "id=",
    "stylesheet",
    "text/javascript",
    "https://",
    "http://",
    "www.",
    ".min",
    ".js",
    ".css",
    ".com",
    ".net",
    "/js/",
    "/",
    '"',
    "'",
    " ",
    ">",
    "<",
    "=",
    ".",
)


def _weight(literal: str) -> int:
    rest = literal
    for token in _COMMON:
        rest = rest.replace(token, "")
    return len(rest)


def _required(items: Any) -> list[tuple[str, ...]]:
    """Required text of a parsed sequence: each entry is a tuple of alternatives (any-of)."""
    from re import _constants as c  # type: ignore[attr-defined]

    found: list[tuple[str, ...]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            found.append(("".join(run).lower(),))
            run.clear()

    for op, arg in items:
        if op is c.LITERAL:
            run.append(chr(arg))
            continue
        flush()
        if op is c.SUBPATTERN:
            found.extend(_required(arg[-1]))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and arg[0] >= 1:
            found.extend(_required(arg[2]))
        elif op is c.BRANCH:
            best_of_each = [_best(_required(branch)) for branch in arg[1]]
            if all(best_of_each):
                found.append(tuple(lit for alts in best_of_each if alts for lit in alts))
    flush()
    return found


def _best(candidates: list[tuple[str, ...]]) -> tuple[str, ...] | None:
    scored = [(min(_weight(lit) for lit in alts), alts) for alts in candidates if alts]
    scored = [(w, alts) for w, alts in scored if w >= _MIN_LITERAL and len(alts) <= 8]
    if not scored:
        return None
    return max(scored, key=lambda item: item[0])[1]


def _literal(regex: str) -> tuple[str, ...] | None:
    """Lower-case strings one of which every match must contain, or None if unknown."""
    try:
        from re import _parser  # type: ignore[attr-defined]

        return _best(_required(_parser.parse(regex, re.IGNORECASE)))
    except Exception:
        return None


def _compile(tech: str, spec: str) -> _Pattern | None:
    parts = spec.split("\\;")
    version = None
    for extra in parts[1:]:
        if extra.startswith("version:"):
            version = extra[len("version:") :]
    source = parts[0]
    if not source:
        return _Pattern(tech, None, version, None)
    try:
        regex = re.compile(source, re.IGNORECASE)
    except re.error:
        return None
    return _Pattern(tech, regex, version, _literal(source))


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


@functools.cache
def _index() -> _Index:
    raw = resources.files("aioscout.extract").joinpath("data/technologies.json").read_text("utf-8")
    data: dict[str, dict[str, Any]] = json.loads(raw)
    index = _Index({}, {}, [], {}, [], [], {}, {}, {})
    for tech, entry in data.items():
        for kind, table in (("headers", index.headers), ("meta", index.meta)):
            for name, specs in entry.get(kind, {}).items():
                for spec in _as_list(specs):
                    pattern = _compile(tech, spec)
                    if pattern is not None:
                        table.setdefault(name.lower(), []).append(pattern)
        for name, spec in entry.get("cookies", {}).items():
            pattern = _compile(tech, str(spec))
            if pattern is None:
                continue
            if name.endswith("*"):
                index.cookie_prefixes.append((name[:-1].lower(), pattern))
            else:
                index.cookies.setdefault(name.lower(), []).append(pattern)
        for kind, patterns in (("scriptSrc", index.script_src), ("html", index.html)):
            for spec in entry.get(kind, []):
                pattern = _compile(tech, spec)
                if pattern is not None and pattern.regex is not None:
                    patterns.append(pattern)
        if "implies" in entry:
            index.implies[tech] = [s.split("\\;")[0] for s in entry["implies"]]
        if "excludes" in entry:
            index.excludes[tech] = [s.split("\\;")[0] for s in entry["excludes"]]
    index.banks["scriptSrc"] = _Bank(index.script_src)
    index.banks["html"] = _Bank(index.html)
    return index


def _version(pattern: _Pattern, match: re.Match[str] | None) -> str:
    template = pattern.version
    if not template or match is None:
        return ""

    def group(num: str) -> str:
        idx = int(num)
        if idx > (match.re.groups if match is not None else 0):
            return ""
        return match.group(idx) or ""

    # Ternary form: \1?yes:no
    ternary = re.fullmatch(r"\\(\d)\?(.*?):(.*)", template)
    if ternary is not None:
        return ternary.group(2) if group(ternary.group(1)) else ternary.group(3)
    value = re.sub(r"\\(\d)", lambda m: group(m.group(1)), template)
    return value.strip()[:64]


class _Found:
    def __init__(self) -> None:
        self.versions: dict[str, str] = {}

    def add(self, pattern: _Pattern, match: re.Match[str] | None) -> None:
        version = _version(pattern, match)
        if version and not re.fullmatch(r"[\w.\-+ ]{1,64}", version):
            version = ""
        old = self.versions.get(pattern.tech)
        if old is None or (version and len(version) > len(old)):
            self.versions[pattern.tech] = version

    def check(self, pattern: _Pattern, value: str, limit: int = _MAX_ATTR) -> bool:
        if pattern.regex is None:
            self.add(pattern, None)
            return True
        match = pattern.regex.search(value, 0, limit)
        if match is not None:
            self.add(pattern, match)
            return True
        return False


def _attrs(tag: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for m in _ATTR.finditer(tag):
        name = m.group(1).lower()
        if name not in attrs:
            attrs[name] = (m.group(2) or m.group(3) or m.group(4) or "")[:_MAX_ATTR]
    return attrs


def _scan_tags(body: str) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """Script sources, (meta name, content) pairs and the raw tags, bounded in count."""
    srcs: list[str] = []
    metas: list[tuple[str, str]] = []
    tags: list[str] = []
    pos = 0
    for _ in range(_MAX_TAGS):
        m = _TAG.search(body, pos)
        if m is None:
            break
        end = body.find(">", m.end(), m.end() + 4 * _MAX_ATTR)
        if end < 0:
            pos = m.end()
            continue
        pos = end + 1
        raw = body[m.start() : pos]
        tags.append(raw[:_MAX_ATTR])
        attrs = _attrs(raw[m.end() - m.start() : -1])
        kind = m.group(1).lower()
        if kind == "script" and attrs.get("src"):
            srcs.append(attrs["src"])
        elif kind == "meta" and "content" in attrs:
            name = attrs.get("name") or attrs.get("property") or attrs.get("http-equiv")
            if name:
                metas.append((name.lower(), attrs["content"]))
    return srcs, metas, tags


def _cookie_names(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for name, value in headers:
        if name.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            key, _, val = pair.partition("=")
            if key.strip():
                cookies.setdefault(key.strip(), val.strip())
    return cookies


class _Bank:
    """Patterns indexed by the first 4 characters of their literals (a poor man's Aho-Corasick)."""

    __slots__ = ("by_gram", "patterns", "scan")

    def __init__(self, patterns: list[_Pattern]) -> None:
        self.patterns = patterns
        self.by_gram: dict[str, list[int]] = {}
        self.scan: list[int] = []  # no usable 4-gram: always checked
        for i, pattern in enumerate(patterns):
            lits = pattern.literal
            if lits is None or any(len(lit) < 4 for lit in lits):
                self.scan.append(i)
                continue
            for lit in set(lits):
                self.by_gram.setdefault(lit[:4], []).append(i)

    def candidates(self, lowered: str) -> list[_Pattern]:
        hits = set(self.scan)
        by_gram = self.by_gram
        for i in range(len(lowered) - 3):
            found = by_gram.get(lowered[i : i + 4])
            if found is not None:
                hits.update(found)
        out: list[_Pattern] = []
        for i in sorted(hits):
            pattern = self.patterns[i]
            if pattern.literal is None or any(lit in lowered for lit in pattern.literal):
                out.append(pattern)
        return out


def _match_many(
    found: _Found, patterns: Sequence[_Pattern], haystack: str, items: list[str]
) -> None:
    lowered = haystack.lower()
    for pattern in patterns:
        if pattern.literal is not None and not any(lit in lowered for lit in pattern.literal):
            continue
        for item in items:
            if found.check(pattern, item, len(item)):
                break


def _match_bank(found: _Found, bank: _Bank, haystack: str, items: list[str]) -> None:
    for pattern in bank.candidates(haystack.lower()):
        for item in items:
            if found.check(pattern, item, len(item)):
                break


def _resolve(found: _Found, index: _Index) -> list[str]:
    versions = found.versions
    queue = list(versions)
    for _ in range(10_000):
        if not queue:
            break
        tech = queue.pop()
        for implied in index.implies.get(tech, []):
            if implied not in versions:
                versions[implied] = ""
                queue.append(implied)
    for tech in list(versions):
        for excluded in index.excludes.get(tech, []):
            if excluded != tech:
                versions.pop(excluded, None)
    return sorted(f"{t}:{v}" if v else t for t, v in versions.items())


def detect(
    headers: Sequence[tuple[str, str]],
    body: str,
    cookies: Mapping[str, str] | None = None,
) -> list[str]:
    """Name the technologies a response reveals.

    Args:
        headers: the response headers as (name, value) pairs, repeats allowed;
            ``Set-Cookie`` headers also feed the cookie fingerprints.
        body: the decoded head of the body (as :func:`aioscout.extract.title.decode_html`
            returns it).
        cookies: extra cookies by name (for example from a cookie jar).

    Returns:
        Sorted, de-duplicated names, each ``"Name"`` or ``"Name:version"`` when a
        version is known, using the fingerprint data set's names (``"Nginx:1.24.0"``,
        ``"PHP:8.2.1"``, ``"WordPress:6.4.2"``, ``"jQuery:3.7.1"``), with implied
        technologies added (WordPress implies PHP and MySQL).

    >>> detect([("Server", "nginx/1.24.0")], "")
    ['Nginx:1.24.0']
    """
    index = _index()
    found = _Found()
    for name, value in headers[:256]:
        value = value[:_MAX_ATTR]
        _match_many(found, index.headers.get(name.lower(), ()), value, [value])
    jar = _cookie_names(headers)
    if cookies:
        jar.update(cookies)
    for name, value in list(jar.items())[:256]:
        lowered = name.lower()
        for pattern in index.cookies.get(lowered, ()):
            found.check(pattern, value)
        for prefix, pattern in index.cookie_prefixes:
            if lowered.startswith(prefix):
                found.check(pattern, value)
    if body:
        srcs, metas, tags = _scan_tags(body)
        for name, content in metas:
            _match_many(found, index.meta.get(name, ()), content, [content])
        if srcs:
            srcs = [src[:_MAX_ATTR] for src in srcs]
            _match_bank(found, index.banks["scriptSrc"], "\n".join(srcs), srcs)
        digest = body[:_HTML_WINDOW] + "\n" + "\n".join(tags)
        _match_bank(found, index.banks["html"], digest, [digest])
    return _resolve(found, index)

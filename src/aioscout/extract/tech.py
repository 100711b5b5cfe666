"""Technology detection from headers, cookies, meta tags, script sources and HTML.

Why it is shaped this way: the fingerprints (Wappalyzer's, MIT, shipped under
``extract/data``) hold thousands of regexes. Running them all over a 256 KB
body would cost tens of milliseconds, so everything is indexed once at first
use: header and meta patterns by name, cookies by name, and every ``scriptSrc``
and ``html`` regex gets a mandatory literal taken from its parse tree. The body
is scanned once for ``<script>``/``<meta>``/``<link>`` tags; ``html`` patterns
see those tags plus the first few KB of the page, and a regex runs only when
its literal occurs.

Bounded work: Python's regex engine backtracks, and a pattern such as
``<[^>]+data-react`` costs time quadratic in the text it searches when the
text is full of ``<`` and short of ``>``. So no regex ever searches more than
a window of 512 characters: around each of the first few occurrences of its
literal (from the first tag start before it to the last ``>`` after it, so a
pattern that needs the closing ``>`` still finds it). Patterns whose literal
is too common to select them (``<link``, ``<html``) still get windows around
it. Every search is charged its length times the places a match can start
(what a quadratic search can cost) in :class:`Work`; one response never gets
more than ``MAX_COST`` of it, and :func:`detect_steps` hands control back
after every ``STEP_COST`` or 16 searches, so that an event loop stays
responsive and a deadline can stop it. The few patterns that nest repeats
(Bootstrap's version capture) cost more per start than that model says; their
four windows bound them (``bench/tech_hostile.py`` measures every pattern).

Output: sorted ``"Name"`` or ``"Name:version"`` strings, e.g. ``"Nginx:1.24.0"``.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["MAX_COST", "STEP_COST", "Work", "detect", "detect_steps", "is_loaded", "load"]

_HTML_WINDOW = 4096
_MAX_TAGS = 256
_MAX_ATTR = 512
_MIN_LITERAL = 3
_BEFORE = 192  # characters a search window reaches before a literal ...
_AFTER = 192  # ... and after it
_MAX_WINDOW = 512  # longest text any one regex search sees
_MAX_WINDOWS = 4  # searches per pattern and response
_MAX_CHUNKS = 16  # searches per pattern with no literal at all
MAX_COST = 16 * 1024 * 1024  # search cost (see Work) per response
STEP_COST = 256 * 1024  # the same between two hand-backs of detect_steps
_STEP_CALLS = 16  # searches between two hand-backs, whatever their cost
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_TAG = re.compile(r"<(script|meta|link)(?=[\s/>])", re.IGNORECASE)
_ATTR = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")


class _Pattern:
    """One fingerprint regex, compiled on first use (most never run in a process)."""

    __slots__ = ("_compiled", "anchor", "lead", "literal", "source", "tech", "version")

    def __init__(
        self,
        tech: str,
        source: str | None,  # None: presence is enough
        version: str | None,
        literal: tuple[str, ...] | None = None,  # lower-case texts every match holds one of
        anchor: tuple[str, ...] | None = None,  # the same, however common: where windows go
        lead: str = "",  # the first character of every match (both cases), if fixed
    ) -> None:
        self.tech = tech
        self.source = source
        self.version = version
        self.literal = literal
        self.anchor = anchor
        self.lead = lead
        self._compiled: re.Pattern[str] | None = None

    @property
    def regex(self) -> re.Pattern[str] | None:
        """The compiled regex; ``None`` for a presence-only fingerprint."""
        if self.source is None:
            return None
        if self._compiled is None:
            try:
                self._compiled = re.compile(self.source, re.IGNORECASE)
            except re.error:  # pragma: no cover - the parse in _compile catches these
                self._compiled = re.compile(r"(?!)")
        return self._compiled


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


def _anchor(found: list[tuple[str, ...]]) -> tuple[str, ...] | None:
    """The longest required texts (two characters at least), common or not."""
    usable = [alts for alts in found if alts and min(len(lit) for lit in alts) >= 2]
    if not usable:
        return None
    return max(usable, key=lambda alts: min(len(lit) for lit in alts))


def _lead(tree: Any) -> str:
    """The first character of every match in both cases, or "" when it is not fixed."""
    from re import _constants as c  # type: ignore[attr-defined]

    if not len(tree) or tree[0][0] is not c.LITERAL:
        return ""
    ch = chr(tree[0][1])
    return "".join(sorted({ch.lower(), ch.upper()}))


def _compile(tech: str, spec: str) -> _Pattern | None:
    """The pattern of one fingerprint entry, parsed once; None when it does not parse."""
    from re import _parser  # type: ignore[attr-defined]

    parts = spec.split("\\;")
    version = None
    for extra in parts[1:]:
        if extra.startswith("version:"):
            version = extra[len("version:") :]
    source = parts[0]
    if not source:
        return _Pattern(tech, None, version)
    try:
        tree = _parser.parse(source, re.IGNORECASE)
        found = _required(tree)
    except Exception:  # re.error, or a tree this walk does not know
        return None
    literal = _best(found)
    return _Pattern(tech, source, version, literal, literal or _anchor(found), _lead(tree))


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


_LOAD_LOCK = threading.Lock()
_LOADED: list[_Index] = []


def is_loaded() -> bool:
    """Whether the fingerprints are compiled (the first :func:`detect` compiles them)."""
    return bool(_LOADED)


def load() -> None:
    """Compile the fingerprints now: about half a second of CPU, once per process.

    Safe to call from a worker thread (``asyncio.to_thread(load)``), so that an
    event loop does not stall while thousands of regexes compile; concurrent
    callers wait for one compilation.
    """
    _index()


def _index() -> _Index:
    if not _LOADED:
        with _LOAD_LOCK:
            if not _LOADED:
                _LOADED.append(_build_index())
    return _LOADED[0]


def _build_index() -> _Index:
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
                if pattern is not None and pattern.source is not None:
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


class Work:
    """What one detection searched: regex calls, characters, their cost, the longest text.

    The cost of one search bounds the steps a backtracking engine can take on
    it: its length times the places a match can start (the occurrences of the
    pattern's fixed first character, or every place when it has none), plus
    the length. ``cost`` sums them; once it reaches ``budget`` no further search
    runs.
    """

    __slots__ = ("budget", "calls", "chars", "cost", "longest")

    def __init__(self, budget: int = 0) -> None:
        self.budget = budget or MAX_COST
        self.calls = 0
        self.chars = 0
        self.cost = 0
        self.longest = 0

    @property
    def exhausted(self) -> bool:
        """Whether the budget is spent."""
        return self.cost >= self.budget

    def spend(self, size: int, starts: int) -> bool:
        """Count a search of ``size`` characters from ``starts`` places; False when spent."""
        if self.cost >= self.budget:
            return False
        self.calls += 1
        self.chars += size
        self.cost += size * (starts + 1)
        self.longest = max(self.longest, size)
        return True


class _Found:
    def __init__(self, work: Work) -> None:
        self.versions: dict[str, str] = {}
        self.work = work

    def add(self, pattern: _Pattern, match: re.Match[str] | None) -> None:
        version = _version(pattern, match)
        if version and not re.fullmatch(r"[\w.\-+ ]{1,64}", version):
            version = ""
        old = self.versions.get(pattern.tech)
        if old is None or (version and len(version) > len(old)):
            self.versions[pattern.tech] = version

    def check(self, pattern: _Pattern, value: str, start: int = 0, end: int = _MAX_ATTR) -> bool:
        """Search ``value[start:end]`` (at most ``_MAX_ATTR`` characters of it)."""
        if pattern.regex is None:
            self.add(pattern, None)
            return True
        end = min(end, len(value), start + _MAX_WINDOW)
        if end < start:
            return False
        if pattern.lead:
            starts = sum(value.count(ch, start, end) for ch in pattern.lead)
        else:
            starts = end - start
        if not self.work.spend(end - start, starts):
            return False
        match = pattern.regex.search(value, start, end)
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


def _lower(text: str) -> str:
    """Lower-case with the same length (so offsets agree with ``text``)."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


def _match_items(found: _Found, pattern: _Pattern, items: Sequence[str]) -> None:
    """Search each short item that holds the pattern's literal, a few at most."""
    tries = 0
    for item in items:
        if pattern.literal is not None:
            lowered = _lower(item)
            if not any(lit in lowered for lit in pattern.literal):
                continue
        if found.check(pattern, item, 0, len(item)):
            return
        tries += 1
        if tries >= _MAX_WINDOWS:
            return


def _windows(text: str, lowered: str, literals: tuple[str, ...]) -> Iterator[tuple[int, int]]:
    """Tag-bounded windows around the first occurrences of any of ``literals``.

    A window starts at the first ``<`` within ``_BEFORE`` characters before the
    occurrence and ends after the last ``>`` within ``_AFTER`` characters after
    it; occurrences inside a window already given are skipped.
    """
    starts = sorted(p for p in (lowered.find(lit) for lit in literals) if p >= 0)
    if not starts:
        return
    pos = starts[0]
    for _ in range(_MAX_WINDOWS):
        hits = [p for p in (lowered.find(lit, pos) for lit in literals) if p >= 0]
        if not hits:
            return
        at = min(hits)
        size = max(len(lit) for lit in literals)
        low = max(0, at - _BEFORE)
        tag = text.find("<", low, at + 1)
        start = tag if tag >= 0 else low
        high = min(len(text), at + size + _AFTER)
        gt = text.rfind(">", at + size, high)
        end = gt + 1 if gt >= 0 else high
        yield start, end
        pos = max(end, at + 1)


def _chunks(text: str) -> Iterator[tuple[int, int]]:
    """``text`` cut into windows of at most ``_MAX_WINDOW`` characters ending after a ``>``."""
    start = 0
    n = len(text)
    while start < n:
        high = min(n, start + _MAX_WINDOW)
        gt = text.rfind(">", start + _MAX_WINDOW // 2, high) if high < n else -1
        end = gt + 1 if gt >= 0 else high
        yield start, end
        start = end


def _match_text(found: _Found, pattern: _Pattern, text: str, lowered: str) -> Iterator[None]:
    """Search ``text`` in bounded windows (around the literal, else the first tag-bounded
    chunks), yielding after each search."""
    spans: Iterator[tuple[int, int]]
    if pattern.anchor is None:
        spans = itertools.islice(_chunks(text), _MAX_CHUNKS)
    else:
        spans = _windows(text, lowered, pattern.anchor)
    for start, end in spans:
        if found.check(pattern, text, start, end) or found.work.exhausted:
            return
        yield


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


def _searches(
    found: _Found,
    index: _Index,
    headers: Sequence[tuple[str, str]],
    body: str,
    cookies: Mapping[str, str] | None,
) -> Iterator[None]:
    """Every search of one detection, one pattern at a time, yielding after each."""
    for name, value in headers[:256]:
        for pattern in index.headers.get(name.lower(), ()):
            _match_items(found, pattern, [value[:_MAX_ATTR]])
            yield
    jar = _cookie_names(headers)
    if cookies:
        jar.update(cookies)
    for name, value in list(jar.items())[:256]:
        lowered = name.lower()
        for pattern in index.cookies.get(lowered, ()):
            found.check(pattern, value)
            yield
        for prefix, pattern in index.cookie_prefixes:
            if lowered.startswith(prefix):
                found.check(pattern, value)
                yield
    if not body:
        return
    srcs, metas, tags = _scan_tags(body)
    for name, content in metas:
        for pattern in index.meta.get(name, ()):
            _match_items(found, pattern, [content])
            yield
    if srcs:
        srcs = [src[:_MAX_ATTR] for src in srcs]
        for pattern in index.banks["scriptSrc"].candidates("\n".join(srcs).lower()):
            _match_items(found, pattern, srcs)
            yield
    digest = body[:_HTML_WINDOW] + "\n" + "\n".join(tags)
    lowered = _lower(digest)
    for pattern in index.banks["html"].candidates(lowered):
        yield from _match_text(found, pattern, digest, lowered)
        yield


def detect_steps(
    headers: Sequence[tuple[str, str]],
    body: str,
    cookies: Mapping[str, str] | None = None,
    *,
    work: Work | None = None,
) -> Generator[None, None, list[str]]:
    """:func:`detect` in steps: a generator that yields after every ``STEP_COST`` or 16 searches.

    Its return value (``StopIteration.value``) is what :func:`detect` returns. An
    async caller resumes it between awaits, so that no response holds the event
    loop for more than one step, and a deadline can stop it between two steps.
    ``work``, when given, counts what the searches cost.

    >>> steps = detect_steps([("Server", "nginx/1.24.0")], "")
    >>> while True:
    ...     try:
    ...         next(steps)
    ...     except StopIteration as done:
    ...         break
    >>> done.value
    ['Nginx:1.24.0']
    """
    index = _index()
    found = _Found(work if work is not None else Work())
    mark = calls = 0
    for _ in _searches(found, index, headers, body, cookies):
        if found.work.exhausted:
            break
        work = found.work
        if work.cost - mark >= STEP_COST or work.calls - calls >= _STEP_CALLS:
            mark, calls = work.cost, work.calls
            yield
    return _resolve(found, index)


def detect(
    headers: Sequence[tuple[str, str]],
    body: str,
    cookies: Mapping[str, str] | None = None,
    *,
    work: Work | None = None,
) -> list[str]:
    """Name the technologies a response reveals.

    Args:
        headers: the response headers as (name, value) pairs, repeats allowed;
            ``Set-Cookie`` headers also feed the cookie fingerprints.
        body: the decoded head of the body (as :func:`aioscout.extract.title.decode_html`
            returns it).
        cookies: extra cookies by name (for example from a cookie jar).
        work: counts the searches made (see :class:`Work`); at most
            ``MAX_COST`` is searched (see :class:`Work`), each search at most a
            window of 512 characters.

    Returns:
        Sorted, de-duplicated names, each ``"Name"`` or ``"Name:version"`` when a
        version is known, using the fingerprint data set's names (``"Nginx:1.24.0"``,
        ``"PHP:8.2.1"``, ``"WordPress:6.4.2"``, ``"jQuery:3.7.1"``), with implied
        technologies added (WordPress implies PHP and MySQL).

    >>> detect([("Server", "nginx/1.24.0")], "")
    ['Nginx:1.24.0']
    """
    steps = detect_steps(headers, body, cookies, work=work)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            names: list[str] = done.value
            return names

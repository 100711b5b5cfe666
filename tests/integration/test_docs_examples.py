"""Every example of the documentation runs, against the lab.

The fenced ``python`` blocks of docs/*.md and of the README's Library
section, and the ``Example::`` blocks of the modules the API pages render,
are run as scripts. They are written for a lab started with ``aioscout lab
up --http-port 8080 --dns-port 5353``; here a lab on free ports stands in,
its ports written into the examples before they run.
"""

from __future__ import annotations

import importlib
import inspect
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioscout.lab import Lab
from tests._support.lab_thread import lab_in_thread

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
_DIRECTIVE = re.compile(r"^::: (\S+)\n((?:    .*\n)*)", re.M)


def _rendered() -> Iterator[tuple[str, list[str] | None]]:
    """Each module the API pages render (``::: module``) and its listed members, if listed."""
    for path in sorted((ROOT / "docs" / "reference").glob("*.md")):
        for match in _DIRECTIVE.finditer(path.read_text(encoding="utf-8")):
            listed = re.search(r"members: \[(.*?)\]", match[2])
            yield match[1], [m.strip() for m in listed[1].split(",")] if listed else None


def _markdown_examples() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "docs").rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            yield f"{path.relative_to(ROOT)}:{line}", match[1]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    library = readme.split("\n## Library\n", 1)[1].split("\n## ", 1)[0]
    for n, match in enumerate(_FENCE.finditer(library), 1):
        yield f"README.md#library-{n}", match[1]


def _docstring_examples() -> Iterator[tuple[str, str]]:
    for name, members in _rendered():
        module = importlib.import_module(name)
        shown = members if members is not None else getattr(module, "__all__", ())
        objects = [module, *(getattr(module, n) for n in shown)]
        for obj in objects:
            doc = inspect.getdoc(obj) or ""
            for n, block in enumerate(re.findall(r"Example::\n\n((?:(?: {4}.*)?\n)+)", doc + "\n")):
                where = f"{name}.{getattr(obj, '__name__', '')}" if obj is not module else name
                yield f"{where}#example-{n + 1}", textwrap.dedent(block)


EXAMPLES = [*_markdown_examples(), *_docstring_examples()]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with lab_in_thread(sites=60, hostile=False, dns_names=50) as lab:
        yield lab


def test_the_examples_are_found() -> None:
    where = [w for w, _ in EXAMPLES]
    assert any(w.startswith("docs/sync.md") for w in where)
    assert any(w.startswith("README.md") for w in where)
    assert "aioscout.scanner#example-1" in where and "aioscout.diff#example-1" in where


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_example_runs(where: str, code: str, lab: Lab) -> None:
    assert lab.dns_address is not None
    code = code.replace("127.0.0.1:5353", lab.dns_address).replace(":8080", f":{lab.http_port}")
    exec(compile(code, where, "exec"), {"__name__": "__main__"})

"""CPU time of technology detection on pages built to make each fingerprint backtrack.

For every ``html`` and ``scriptSrc`` pattern of the fingerprint data, the
pages of ``tests/unit/_tech_pages.py`` (near misses drawn from the pattern's
own parse tree, and ``<script `` tags full of ``<``), then a page holding every
pattern's literal at once. Prints the slowest pages, the total, and the work
counted (characters searched) for each::

    .venv/bin/python bench/tech_hostile.py [--size 96]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit._tech_pages import adversarial_pages

from aioscout.extract import tech


def main() -> None:
    """Run every page through detect and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=96, help="page size in KB")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    index = tech._index()
    rows: list[tuple[float, str, str, int, int]] = []
    started = time.process_time()
    for kind, patterns in (("html", index.html), ("scriptSrc", index.script_src)):
        for pattern in patterns:
            assert pattern.regex is not None
            literal = (pattern.literal or ("",))[0]
            for page in adversarial_pages(pattern.regex.pattern, literal, args.size * 1024):
                if kind == "scriptSrc":
                    page = page.replace("<script ", '<script src="')
                work = tech.Work()
                began = time.process_time()
                tech.detect([], page, work=work)
                spent = time.process_time() - began
                rows.append((spent, kind, pattern.tech, work.chars, work.longest))
    total = time.process_time() - started
    rows.sort(reverse=True)
    print(f"{len(rows)} pages of {args.size} KB, {total:.1f} s CPU in all")
    print("slowest: CPU ms, kind, technology, characters searched, longest window")
    for spent, kind, name, chars, longest in rows[: args.top]:
        print(f"  {spent * 1000:7.1f}  {kind:9}  {name:30}  {chars:8}  {longest}")
    literals = sorted({(p.literal or ("",))[0] for p in index.html + index.script_src})
    every = "".join(f'<script src="{lit}{"<" * 200}">' for lit in literals)
    work = tech.Work()
    began = time.process_time()
    tech.detect([("Server", "<" * 100_000)] * 300, every, work=work)
    spent = time.process_time() - began
    print(
        f"every literal ({len(every) // 1024} KB): {spent * 1000:.1f} ms CPU, "
        f"{work.chars} characters in {work.calls} searches"
    )


if __name__ == "__main__":
    main()

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


def _search_only(kind: str, pattern: tech._Pattern, page: str) -> float:
    """CPU seconds of the searches of ``pattern`` alone on ``page`` (as detect makes them)."""
    found = tech._Found(tech.Work())
    began = time.process_time()
    if kind == "html":
        for _ in tech._match_text(found, pattern, page, tech._lower(page)):
            pass
    else:
        srcs = [unit[-512:] for unit in page.split('<script src="')[1:256]]
        tech._match_items(found, pattern, srcs)
    return time.process_time() - began


def main() -> None:
    """Run every page through detect and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=96, help="page size in KB")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    index = tech._index()
    rows: list[tuple[float, str, str, int, int]] = []  # CPU, kind, name, cost, longest
    started = time.process_time()
    worst_sum = 0.0  # each pattern's slowest page, summed: a bound for one page aimed at all
    for kind, patterns in (("html", index.html), ("scriptSrc", index.script_src)):
        for pattern in patterns:
            assert pattern.regex is not None
            literal = (pattern.literal or ("",))[0]
            worst = 0.0
            for page in adversarial_pages(pattern.regex.pattern, literal, args.size * 1024):
                if kind == "scriptSrc":
                    page = page.replace("<script ", '<script src="')
                work = tech.Work()
                began = time.process_time()
                tech.detect([], page, work=work)
                spent = time.process_time() - began
                rows.append((spent, kind, pattern.tech, work.cost, work.longest))
                worst = max(worst, _search_only(kind, pattern, page))
            worst_sum += worst
    total = time.process_time() - started
    rows.sort(reverse=True)
    print(f"{len(rows)} pages of {args.size} KB, {total:.1f} s CPU in all")
    print(f"one pattern's own searches on its slowest page, summed: {worst_sum * 1000:.0f} ms")
    print("slowest pages: CPU ms of detect, kind, technology, cost, longest window")
    for spent, kind, name, cost, longest in rows[: args.top]:
        print(f"  {spent * 1000:7.1f}  {kind:9}  {name:30}  {cost:10}  {longest}")
    literals = sorted({(p.literal or ("",))[0] for p in index.html + index.script_src})
    every = "".join(f'<script src="{lit}{"<" * 200}">' for lit in literals)
    work = tech.Work()
    began = time.process_time()
    tech.detect([("Server", "<" * 100_000)] * 300, every, work=work)
    spent = time.process_time() - began
    print(
        f"every literal ({len(every) // 1024} KB): {spent * 1000:.1f} ms CPU, "
        f"{work.chars} characters in {work.calls} searches, cost {work.cost}"
    )


if __name__ == "__main__":
    main()

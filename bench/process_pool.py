"""The tutorial's process pool: blocking requests in a ``ProcessPoolExecutor``.

One process per core (by default), each fetching one URL at a time with the
same blocking ``urllib`` code as bench/thread_pool.py; URLs are handed out in
chunks. One JSON line per URL.

Usage::

    python bench/process_pool.py -l urls.txt -o out.jsonl [--processes N] [--timeout 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from thread_pool import fetch


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-l", "--list", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args(argv)
    with open(args.list, encoding="utf-8") as f:
        urls = [ln.strip() for ln in f if ln.strip()]
    with ProcessPoolExecutor(max_workers=args.processes) as pool, open(args.output, "w") as out:
        for rec in pool.map(fetch, urls, chunksize=16):
            out.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

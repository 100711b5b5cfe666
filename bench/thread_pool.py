"""The tutorial's thread pool: blocking ``urllib`` requests in a ``ThreadPoolExecutor``.

Each thread opens a connection, sends a GET (urllib follows redirects), reads
the body and takes the title with a regex. One JSON line per URL.

Usage::

    python bench/thread_pool.py -l urls.txt -o out.jsonl [--threads 100] [--timeout 10]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, timeout: float = 10.0) -> dict[str, object]:
    """GET ``url`` with urllib and return its status and title, or the error."""
    try:
        try:
            with _OPENER.open(url, timeout=timeout) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as exc:  # 4xx/5xx still carry a page
            status, body = exc.code, exc.read()
    except (OSError, ValueError) as exc:
        return {"url": url, "status": None, "title": None, "error": type(exc).__name__}
    m = TITLE.search(body)
    title = m.group(1).decode("utf-8", "replace").strip() if m else None
    return {"url": url, "status": status, "title": title, "error": None}


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-l", "--list", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--threads", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args(argv)
    with open(args.list, encoding="utf-8") as f:
        urls = [ln.strip() for ln in f if ln.strip()]
    with ThreadPoolExecutor(max_workers=args.threads) as pool, open(args.output, "w") as out:
        for rec in pool.map(lambda u: fetch(u, args.timeout), urls):
            out.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

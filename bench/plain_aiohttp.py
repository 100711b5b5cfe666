"""The tutorial baseline: aiohttp + asyncio.Semaphore + gather, the title read with a regex.

This is how the asyncio tutorials fetch many pages: one ``ClientSession``, one
task per URL created up front and awaited with ``gather``, a ``Semaphore``
bounding how many are in flight, the body read whole and the title taken with
a regular expression. Names resolve the aiohttp default way (getaddrinfo in a
thread). The connector's own limit is lifted so the semaphore alone sets the
concurrency. One JSON line per URL: ``{"url", "status", "title", "error"}``.

Usage::

    python bench/plain_aiohttp.py -l urls.txt -o out.jsonl [-c 200] [--timeout 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys

import aiohttp

TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


async def fetch(
    session: aiohttp.ClientSession, sem: asyncio.Semaphore, url: str
) -> dict[str, object]:
    """GET ``url`` (following redirects) and return its status and title, or the error."""
    async with sem:
        try:
            async with session.get(url) as resp:
                text = await resp.text(errors="replace")
                m = TITLE.search(text)
                return {
                    "url": url,
                    "status": resp.status,
                    "title": m.group(1).strip() if m else None,
                    "error": None,
                }
        except (aiohttp.ClientError, TimeoutError) as exc:
            return {"url": url, "status": None, "title": None, "error": type(exc).__name__}


async def main_async(urls: list[str], out: str, concurrency: int, timeout: float) -> None:
    """Fetch every URL, then write the records."""
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=0, ssl=False)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:
        results = await asyncio.gather(*(fetch(session, sem, u) for u in urls))
    with open(out, "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-l", "--list", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("-c", "--concurrency", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args(argv)
    with open(args.list, encoding="utf-8") as f:
        urls = [ln.strip() for ln in f if ln.strip()]
    asyncio.run(main_async(urls, args.output, args.concurrency, args.timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())

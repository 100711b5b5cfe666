"""How long a report of N records takes to write, and to open in headless Chromium.

    .venv/bin/python bench/report_bench.py [--records 100000]

Prints: build time and size, then the time from navigation to the table being
ready (load event + data parsed + first rows drawn), and one filter's time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import orjson

from aioscout.browser.cdp import Browser
from aioscout.report import build_report

SERVERS = ("nginx/1.24.0", "Apache/2.4.58", "Microsoft-IIS/10.0", "lighttpd/1.4", "caddy")
TECH = ("PHP", "jQuery", "WordPress", "Bootstrap", "React", "Nginx")


def generate(path: Path, n: int) -> None:
    """``n`` records shaped like a scan of a farm: HTTP mostly, some DNS, ports and errors."""
    rnd = random.Random(7)
    with path.open("wb") as out:
        for i in range(n):
            r = rnd.random()
            if r < 0.05:
                rec: dict[str, object] = {
                    "input": f"d{i}.farm",
                    "error": {"kind": rnd.choice(["timeout", "refused", "tls"]), "detail": ""},
                }
            elif r < 0.15:
                answers = [{"name": f"n{i}.farm", "type": "A", "ttl": 60, "data": "127.0.0.1"}]
                rec = {"input": f"n{i}.farm", "name": f"n{i}.farm", "rcode": "NOERROR",
                       "answers": answers * rnd.randint(0, 3), "error": None}  # fmt: skip
            elif r < 0.2:
                rec = {"input": "127.0.0.1", "host": "127.0.0.1", "port": 1000 + i % 5000,
                       "state": "open", "service": rnd.choice(["http", "ssh", "tls"]),
                       "error": None}  # fmt: skip
            else:
                default = rnd.random() < 0.2
                rec = {
                    "input": f"h{i}.farm",
                    "url": f"https://h{i}.farm/",
                    "status": rnd.choice([200, 200, 200, 301, 302, 403, 404, 500]),
                    "title": "Welcome to nginx!" if default else f"Site {i} - home page",
                    "server": rnd.choice(SERVERS),
                    "tech": rnd.sample(TECH, rnd.randint(0, 3)),
                    "ip": f"127.0.{i // 256 % 256}.{i % 256}",
                    "port": 443,
                    "time_ms": rnd.random() * 300,
                    "body_sha256": "default" if default else f"{i:064x}",
                    "tls": {"not_after": f"2027-{rnd.randint(1, 12):02d}-01T00:00:00Z"},
                    "error": None,
                }
            out.write(orjson.dumps(rec) + b"\n")


async def open_report(html: Path, needle: str) -> None:
    """Open ``html`` in a fresh headless Chromium and print the times."""
    async with await Browser.launch() as browser:
        page = await browser.new_page()
        viewport = {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False}
        await page.send("Emulation.setDeviceMetricsOverride", viewport)
        started = time.monotonic()
        await page.goto(html.as_uri(), timeout=120)
        await page.wait_for("window.aioscoutReport && window.aioscoutReport.ready", timeout=120)
        opened = time.monotonic() - started
        rows = await page.evaluate("window.aioscoutReport.rows")
        started = time.monotonic()
        await page.evaluate(f"window.aioscoutReport.search({orjson.dumps(needle).decode()})")
        found = await page.evaluate("window.aioscoutReport.visible()")
        searched = time.monotonic() - started
        print(f"open (navigate -> table ready): {opened:.2f} s for {rows} rows")
        print(f"filter {needle!r}: {searched * 1000:.0f} ms, {found} rows")
        print(f"browser RSS after opening: {browser.rss_bytes() / 2**20:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, html = Path(tmp, "results.jsonl"), Path(tmp, "report.html")
        generate(src, args.records)
        started = time.monotonic()
        stats = build_report([str(src)], str(html))
        print(f"build: {time.monotonic() - started:.2f} s, {stats['records']} records, "
              f"{stats['bytes'] / 1e6:.1f} MB, {stats['groups']} page groups")  # fmt: skip
        asyncio.run(open_report(html, f"Site {args.records - 7} - home page"))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

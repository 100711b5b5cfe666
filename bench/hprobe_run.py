"""Run hprobe (a Rust/Tokio prober with a Python API) over a URL list; one JSON line per result.

Runs under the benchmark's own hprobe environment, never the project's::

    /tmp/aioscout-bench-hprobe/bin/python bench/hprobe_run.py -l urls.txt -o out.jsonl [-c 200]

hprobe takes comma-separated targets in one call (here: batches of ``-c`` targets,
see bench/README.md); names resolve the system way
(hickory reads /etc/resolv.conf, which the benchmark points at the lab DNS).
"""

from __future__ import annotations

import argparse
import json
import sys

import hprobe  # type: ignore[import-not-found]


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
    # hprobe 0.6.0 stalls for good once targets outnumber about twice its threads: feed it
    # batches of at most ``threads`` targets, one call each.
    batch = args.concurrency
    with open(args.output, "w", encoding="utf-8") as out:
        for start in range(0, len(urls), batch):
            config = {
                "target": ",".join(urls[start : start + batch]),
                "threads": args.concurrency,
                "timeout": args.timeout,
                "silent": True,
                "max_redirects": 10,
            }
            for r in hprobe.scan_target_with_config(config):
                rec = {
                    "url": r.get("target"),
                    "status": r.get("status_code"),
                    "title": r.get("title"),
                }
                out.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

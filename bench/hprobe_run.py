"""Run hprobe (a Rust/Tokio prober with a Python API) over /24 ranges; one JSON line per result.

Runs under the benchmark's own hprobe environment, never the project's::

    /tmp/aioscout-bench-hprobe/bin/python bench/hprobe_run.py -l ranges.txt -o out.jsonl \
        --port 80 [-c 200]

Each line of the list is one hprobe target, a ``A.B.C.0/24`` range, scanned by
one call, the calls one after the other: this is how hprobe is fed at its
best (``scan_target_with_config`` with a /24 and ``threads`` 200; it stalls for
good on ranges larger than a /24, and on comma-separated lists longer than
about twice its ``threads``). A /24 expands to its 254 host addresses
(.1 to .254). Each record is ``{"url", "status", "title", "scheme"}``, with
``url`` built from what hprobe reports (its scheme and host, the port when not
the scheme's default), so a host answered over the wrong scheme does not match
the benchmark's URL and counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import sys

import hprobe  # type: ignore[import-not-found]

DEFAULT_PORTS = {"http": 80, "https": 443}


def record(r: dict[str, object]) -> dict[str, object]:
    """The benchmark's record for one hprobe result."""
    scheme, host, port = r.get("scheme"), r.get("host"), r.get("port")
    authority = str(host) if port == DEFAULT_PORTS.get(str(scheme)) else f"{host}:{port}"
    return {
        "url": f"{scheme}://{authority}/",
        "status": r.get("status_code"),
        "title": r.get("title"),
        "scheme": scheme,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run one call per listed target."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-l", "--list", required=True, help="one hprobe target per line (a /24)")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("-c", "--threads", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--max-redirects", type=int, default=10)
    args = ap.parse_args(argv)
    with open(args.list, encoding="utf-8") as f:
        targets = [ln.strip() for ln in f if ln.strip()]
    with open(args.output, "w", encoding="utf-8") as out:
        for target in targets:
            config = {
                "target": target,
                "ports": [args.port],
                "threads": args.threads,
                "timeout": args.timeout,
                "max_redirects": args.max_redirects,
                "silent": True,
            }
            for r in hprobe.scan_target_with_config(config):
                out.write(json.dumps(record(r)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

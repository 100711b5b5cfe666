"""``python -m aioscout.lab``: run the lab in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aioscout.lab.control import LabError, serve


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the lab, return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m aioscout.lab", description=__doc__)
    parser.add_argument("--state-file", default=None)
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--https-port", type=int, default=0)
    parser.add_argument("--dns-port", type=int, default=0)
    parser.add_argument("--no-dns", action="store_true")
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--dns-names", type=int, default=100_000)
    parser.add_argument("--no-hostile", action="store_true")
    parser.add_argument("--addresses", default="127.0.0.1,127.0.0.2,127.0.0.3")
    args = parser.parse_args(argv)
    try:
        serve(
            args.state_file,
            http_port=args.http_port,
            https_port=args.https_port,
            dns_port=None if args.no_dns else args.dns_port,
            sites=args.sites,
            latency=args.latency,
            hostile=not args.no_hostile,
            dns_names=args.dns_names,
            addresses=[a for a in args.addresses.split(",") if a],
        )
    except (ValueError, LabError) as exc:
        print(f"aioscout lab: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

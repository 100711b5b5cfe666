"""Compile aioscout's hot modules with mypyc, in place, or leave the sources to run.

    .venv/bin/python scripts/build_native.py          # build (make setup runs this)
    .venv/bin/python scripts/build_native.py --clean  # remove the build: pure Python

The modules below are the per-query and per-request paths (the DNS lane and
wire codec, the HTTP fast path and its record, the engine's fast-path
stream); ``bench/RESULTS.md`` has what compiling them saves. The extension
modules are written next to their sources under ``src/`` (git ignores them),
with ``src/aioscout/_native.json`` naming each one and the SHA-256 of the
source it came from: ``aioscout._native`` uses the build only while every
source still matches, and ``AIOSCOUT_PURE=1`` turns it off.

Without a C compiler or mypyc the sources run, as they always can: this
script says so and exits 0. A compiler that is there and fails is an error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
MANIFEST = SRC / "aioscout" / "_native.json"
MODULES = [
    "aioscout/_deadline.py",
    "aioscout/dnsproto/lane.py",
    "aioscout/dnsproto/resolver.py",
    "aioscout/dnsproto/wildcard.py",
    "aioscout/dnsproto/wire.py",
    "aioscout/engine/_stream.py",
    "aioscout/engine/dedup.py",
    "aioscout/engine/frames.py",
    "aioscout/extract/title.py",
    "aioscout/probes/_fast_http.py",
    "aioscout/probes/_http_common.py",
    "aioscout/probes/_http_conn.py",
    "aioscout/probes/_http_record.py",
    "aioscout/probes/dns.py",
    "aioscout/probes/http.py",
]

_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
paths, tmp = sys.argv[1:-1], sys.argv[-1]
setup(
    name="aioscout-native",
    ext_modules=mypycify(["--config-file", "../pyproject.toml", *paths], opt_level="3"),
    script_args=["build_ext", "--inplace", "--build-temp", tmp],
)
"""


def clean() -> None:
    """Remove every compiled module and the manifest: the sources run."""
    MANIFEST.unlink(missing_ok=True)
    # Every extension module under the package is this script's (including modules an
    # earlier list named), and so is the runtime library mypyc puts beside it.
    for built in [*SRC.glob("aioscout/**/*.so"), *SRC.glob("*__mypyc.*.so")]:
        built.unlink()


def why_not(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why this machine cannot build (no compiler, no mypyc), or None.

    The compiler is the one the build would use: ``$CC`` when set (as setuptools
    takes it), else the one Python was built with.
    """
    cc = shlex.split(environ.get("CC") or sysconfig.get_config_var("CC") or "cc")[:1]
    if not cc or shutil.which(cc[0]) is None:
        return f"no C compiler ({cc[0] if cc else 'CC unset'})"
    try:
        import mypyc  # noqa: F401
    except ImportError:
        return "mypyc is not installed"
    return None


def build() -> int:
    clean()
    reason = why_not()
    if reason is not None:
        print(f"build_native: {reason}: the pure-Python sources run", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="aioscout-native-") as tmp:
        env = {**os.environ, "MYPY_CACHE_DIR": str(ROOT / ".mypyc_cache")}  # faster rebuilds
        done = subprocess.run(
            [sys.executable, "-c", _SETUP, *MODULES, str(Path(tmp) / "build")],
            cwd=SRC,
            env=env,
            capture_output=True,
            text=True,
        )
    shutil.rmtree(SRC / "build", ignore_errors=True)
    if done.returncode != 0:
        clean()
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        print("build_native: mypyc failed (above); nothing compiled is left", file=sys.stderr)
        return 1
    digests = {
        rel[:-3].replace("/", "."): hashlib.sha256((SRC / rel).read_bytes()).hexdigest()
        for rel in MODULES
    }
    MANIFEST.write_text(json.dumps({"modules": digests}, indent=1) + "\n")
    print(f"build_native: {len(MODULES)} modules compiled with mypyc", file=sys.stderr)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", action="store_true", help="remove the build and exit")
    if ap.parse_args().clean:
        clean()
        return 0
    return build()


if __name__ == "__main__":
    sys.exit(main())

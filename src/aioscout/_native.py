"""Which form of the hot modules runs: compiled with mypyc, or the sources.

``scripts/build_native.py`` (run by ``make setup`` where a C compiler is
found) compiles the modules on the hot paths (the DNS lane and wire codec,
the HTTP fast path, the engine's fast-path stream) with mypyc, in place, and
writes ``_native.json``: each compiled module's name and the SHA-256 of the
source it was built from. Python loads an extension module before a source
file of the same name, so a built tree runs compiled code with nothing else
to do.

This module, imported first by the package, keeps that safe:

- ``AIOSCOUT_PURE=1`` runs the sources even where a build exists;
- a build whose sources have changed since (an edit, a checkout) is not used
  at all, with one line on stderr saying so: half a build would mix old and
  new code;
- no build, no manifest: nothing is done.

In both fallbacks a finder placed first on ``sys.meta_path`` hands out the
source file of every module the manifest names. :data:`MODE` says which form
runs: ``"native"``, ``"pure"`` (no build, or asked for) or ``"stale"``.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["MANIFEST", "MODE", "install", "stale_modules"]

MANIFEST = "_native.json"
_ROOT = Path(__file__).resolve().parent.parent  # the directory that holds the package


def _source(root: Path, module: str) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def stale_modules(root: Path, built: Mapping[str, str]) -> list[str]:
    """The compiled modules whose source no longer hashes to what was built."""
    out = []
    for module, digest in built.items():
        try:
            now = hashlib.sha256(_source(root, module).read_bytes()).hexdigest()
        except OSError:
            now = ""
        if now != digest:
            out.append(module)
    return out


class _Sources(importlib.abc.MetaPathFinder):
    """Loads the listed modules from their source files, never from a compiled build."""

    def __init__(self, root: Path, modules: Sequence[str]) -> None:
        self._root = root
        self._modules = frozenset(modules)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._modules:
            return None
        return importlib.util.spec_from_file_location(fullname, _source(self._root, fullname))


def install(root: Path = _ROOT, environ: Mapping[str, str] = os.environ) -> str:
    """Decide which form runs (see the module's text); return the mode."""
    try:
        built: dict[str, str] = json.loads((root / "aioscout" / MANIFEST).read_bytes())["modules"]
    except (OSError, ValueError, KeyError, TypeError):
        return "pure"
    if environ.get("AIOSCOUT_PURE", "") not in ("", "0"):
        mode = "pure"
    else:
        stale = stale_modules(root, built)
        if not stale:
            return "native"
        mode = "stale"
        print(
            f"aioscout: {len(stale)} compiled module(s) older than their sources "
            f"({', '.join(sorted(stale)[:3])}...): running the sources; rebuild with "
            "`make setup` (or scripts/build_native.py)",
            file=sys.stderr,
        )
    sys.meta_path.insert(0, _Sources(root, list(built)))
    return mode


MODE = install()

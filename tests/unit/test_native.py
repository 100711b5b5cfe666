"""The choice between the mypyc build of the hot modules and their sources (aioscout._native)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import aioscout
from aioscout import _native

_MOD = "aioscout_native_probe_mod"  # a top-level module no other test imports


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A root with the source of ``_MOD`` and its manifest, and a rival "build" of it
    earlier on sys.path (standing in for the extension module that Python would load)."""
    root = tmp_path / "root"
    (root / "aioscout").mkdir(parents=True)
    source = root / f"{_MOD}.py"
    source.write_text("FORM = 'source'\n")
    (root / "aioscout" / _native.MANIFEST).write_text(
        json.dumps({"modules": {_MOD: _digest(source)}})
    )
    rival = tmp_path / "rival"
    rival.mkdir()
    (rival / f"{_MOD}.py").write_text("FORM = 'build'\n")
    finders, path = list(sys.meta_path), list(sys.path)
    sys.path.insert(0, str(rival))
    try:
        yield root, source
    finally:
        sys.meta_path[:] = finders
        sys.path[:] = path
        sys.modules.pop(_MOD, None)


def _form() -> str:
    sys.modules.pop(_MOD, None)
    return str(__import__(_MOD).FORM)


def test_a_current_build_is_used(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    assert _native.install(root, environ={}) == "native"
    assert _form() == "build"


def test_a_changed_source_runs_instead_of_the_build(
    tree: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, source = tree
    source.write_text("FORM = 'source'\nEDITED = True\n")
    assert _native.stale_modules(root, {_MOD: "0" * 64}) == [_MOD]
    assert _native.install(root, environ={}) == "stale"
    assert _form() == "source"
    assert "older than their sources" in capsys.readouterr().err


def test_the_sources_run_when_asked(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    assert _native.install(root, environ={"AIOSCOUT_PURE": "1"}) == "pure"
    assert _form() == "source"


def test_no_manifest_no_change(tmp_path: Path) -> None:
    finders = list(sys.meta_path)
    assert _native.install(tmp_path, environ={}) == "pure"
    assert sys.meta_path == finders


def test_a_missing_source_counts_as_changed(tmp_path: Path) -> None:
    assert _native.stale_modules(tmp_path, {"gone.module": "0" * 64}) == ["gone.module"]


@pytest.mark.skipif(_native.MODE != "native", reason="the hot modules are not compiled here")
def test_this_tree_runs_its_build_and_its_sources_on_request() -> None:
    """The installed tree: compiled hot modules, and their sources under AIOSCOUT_PURE=1."""
    import aioscout.dnsproto.lane as lane

    assert Path(lane.__file__ or "").suffix == ".so"
    code = "import aioscout._native as n, aioscout.dnsproto.lane as l; print(n.MODE, l.__file__)"
    env = {**os.environ, "AIOSCOUT_PURE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "pure"
    assert out[1].endswith("lane.py")
    assert Path(aioscout.__file__ or "").parent == Path(out[1]).parent.parent


def _build_script() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "scripts" / "build_native.py"
    spec = importlib.util.spec_from_file_location("aioscout_build_native", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_falls_back_to_the_sources_without_a_compiler(tmp_path: Path) -> None:
    """No compiler: the build script names why and builds nothing (the sources run)."""
    script = _build_script()
    assert "no C compiler" in (script.why_not({"CC": str(tmp_path / "no-such-cc")}) or "")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is not None:
        assert script.why_not({"CC": cc}) in (None, "mypyc is not installed")

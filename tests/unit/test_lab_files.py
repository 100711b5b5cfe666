"""The lab's state file and log: a private directory, no symlink followed, no hard link accepted."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from aioscout.lab import control
from aioscout.lab.control import LabError, default_state_file


@pytest.fixture
def tmpdir_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_without_xdg_runtime_dir_the_files_live_in_a_private_directory(tmpdir_base: Path) -> None:
    path = default_state_file()
    private = tmpdir_base / f"aioscout-lab-{os.getuid()}"
    assert path == private / "aioscout-lab.json"
    info = os.lstat(private)
    assert stat.S_ISDIR(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert default_state_file() == path  # an existing private directory is reused


def test_xdg_runtime_dir_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert default_state_file() == tmp_path / "aioscout-lab.json"


def test_a_shared_or_planted_directory_is_refused(tmpdir_base: Path) -> None:
    private = tmpdir_base / f"aioscout-lab-{os.getuid()}"
    private.mkdir(mode=0o755)
    private.chmod(0o755)
    with pytest.raises(LabError, match="private"):
        default_state_file()
    private.rmdir()
    elsewhere = tmpdir_base / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    private.symlink_to(elsewhere)
    with pytest.raises(LabError, match="private"):
        default_state_file()
    private.unlink()
    private.write_text("not a directory")
    with pytest.raises(LabError, match="private"):
        default_state_file()


def test_state_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    state = tmp_path / "lab.json"
    state.symlink_to(victim)
    control._write_atomic(state, {"pid": 1})
    assert victim.read_text() == "precious"
    assert not state.is_symlink()
    assert control._read(state) == {"pid": 1}
    tmp = tmp_path / f".lab.json.{os.getpid()}.tmp"
    tmp.symlink_to(victim)  # a planted temporary name is removed, not followed
    control._write_atomic(state, {"pid": 2})
    assert victim.read_text() == "precious"


def test_a_planted_state_file_is_not_read(tmp_path: Path) -> None:
    target = tmp_path / "target.json"
    target.write_text('{"pid": 1}')
    link = tmp_path / "symlinked.json"
    link.symlink_to(target)
    assert control._read(link) is None
    hard = tmp_path / "hard.json"
    os.link(target, hard)
    assert control._read(hard) is None
    assert control.status(hard) is None  # and "down" has no pid to signal
    assert target.read_text() == '{"pid": 1}'


def test_the_log_is_refused_through_a_symlink_or_a_hard_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    log = tmp_path / "lab.log"
    log.symlink_to(victim)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    with pytest.raises(LabError):
        control._open_private(log, flags)
    log.unlink()
    os.link(victim, log)
    with pytest.raises(LabError, match="hard links"):
        control._open_private(log, flags)
    with pytest.raises(LabError, match="hard links"):
        control._spawn(["/bin/true"], log)
    assert victim.read_text() == "precious"
    log.unlink()
    fd = control._open_private(log, flags)
    os.close(fd)
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600

"""The argument checks on their own: what each refuses, and that refusing creates nothing."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest

from aioscout.cli._checks import (
    NothingToResume,
    check_dir_arg,
    check_file_arg,
    check_output,
    check_ports,
    check_resolvers,
    checkpoint_path,
)


def test_checkpoint_only_beside_a_regular_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert checkpoint_path(str(out)) == f"{out}.ckpt"  # to be made: a regular file
    out.write_text("")
    assert checkpoint_path(str(out)) == f"{out}.ckpt"
    for special in ("/dev/null", "/dev/stdout", "-", "sqlite:///x.db", None):
        assert checkpoint_path(special) is None
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert checkpoint_path(str(fifo)) is None


@pytest.mark.parametrize(
    ("output", "as_csv", "resume", "message"),
    [
        ("", False, False, "empty output"),
        ("sqlite:///x.db", True, False, "--csv writes a file"),
        ("redis://127.0.0.1:1/0", False, True, "Redis output keeps no checkpoint"),
        (None, False, True, "--resume needs -o FILE"),
        ("/dev/null", False, True, "not a regular file"),
        ("nodir/out.jsonl", False, False, "does not exist"),
        ("sqlite:///nodir/x.db", False, False, "does not exist"),
    ],
)
def test_unusable_outputs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    output: str | None,
    as_csv: bool,
    resume: bool,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(click.UsageError, match=message):
        check_output(output, as_csv=as_csv, resume=resume, fingerprint="f")
    assert os.listdir(tmp_path) == []


def test_resume_checks(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    check_output(str(out), as_csv=False, resume=True, fingerprint="f")  # nothing yet: starts
    out.write_text("{}\n")
    with pytest.raises(NothingToResume):
        check_output(str(out), as_csv=False, resume=True, fingerprint="f")
    ckpt = tmp_path / "out.jsonl.ckpt"
    ckpt.write_text("aioscout-checkpoint 1 f\n3 0\n")
    check_output(str(out), as_csv=False, resume=True, fingerprint="f")
    with pytest.raises(click.UsageError, match="other targets or options"):
        check_output(str(out), as_csv=False, resume=True, fingerprint="g")
    ckpt.write_text("something else\n")
    with pytest.raises(click.UsageError, match="not an aioscout checkpoint"):
        check_output(str(out), as_csv=False, resume=True, fingerprint="f")
    out.unlink()
    ckpt.write_text("aioscout-checkpoint 1 f\n3 0\n")
    with pytest.raises(click.UsageError, match="is gone"):
        check_output(str(out), as_csv=False, resume=True, fingerprint="f")


def test_files_directories_ports_and_resolvers(tmp_path: Path) -> None:
    afile = tmp_path / "a.txt"
    afile.write_text("x")
    check_file_arg("-l", str(afile))
    check_file_arg("-l", "-")
    for bad, why in ((str(tmp_path), "is a directory"), (str(tmp_path / "no"), "No such")):
        with pytest.raises(click.UsageError, match=why):
            check_file_arg("-l", bad)
    check_dir_arg("-d", str(tmp_path / "new" / "deeper"))
    with pytest.raises(click.UsageError, match="not a directory"):
        check_dir_arg("-d", str(afile))
    with pytest.raises(click.UsageError, match="not a directory"):
        check_dir_arg("-d", str(afile / "below"))
    check_ports(["80,443,8000-8100,https:8443"])
    for spec in ("", "0", "foo", "70000", "ftp:21"):
        with pytest.raises(click.UsageError):
            check_ports([spec])
    check_resolvers("-r", ["127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1"])
    for spec in ("", "nope", "1.2.3.4:x", "1.2.3.4:0", "999.1.1.1"):
        with pytest.raises(click.UsageError):
            check_resolvers("-r", [spec])
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]

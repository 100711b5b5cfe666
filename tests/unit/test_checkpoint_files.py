"""The checkpoint file is never written through a symlink or a second hard link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aioscout._exceptions import SinkError
from aioscout.engine.checkpoint import Checkpoint


@pytest.mark.parametrize("resume", [False, True])
def test_a_planted_symlink_is_refused(tmp_path: Path, resume: bool) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    ckpt = tmp_path / "out.jsonl.ckpt"
    ckpt.symlink_to(victim)
    with pytest.raises(SinkError, match="checkpoint"):
        Checkpoint.open(str(ckpt), resume=resume, fingerprint="f")
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("resume", [False, True])
def test_a_planted_hard_link_is_refused(tmp_path: Path, resume: bool) -> None:
    victim = tmp_path / "victim"
    victim.write_text("aioscout-checkpoint 1 f\n12 0-3\nprecious\n")
    ckpt = tmp_path / "out.jsonl.ckpt"
    os.link(victim, ckpt)
    with pytest.raises(SinkError, match="hard links"):
        Checkpoint.open(str(ckpt), resume=resume, fingerprint="f")
    assert victim.read_text().endswith("precious\n")


def test_resume_still_reads_and_trims_its_own_file(tmp_path: Path) -> None:
    path = str(tmp_path / "out.jsonl.ckpt")
    ckpt = Checkpoint.open(path, resume=False, fingerprint="f")
    ckpt.commit([0, 1, 2], 30)
    ckpt.close()
    with open(path, "ab") as f:
        f.write(b"45 3-")  # a torn line
    again = Checkpoint.open(path, resume=True, fingerprint="f")
    assert again.position == 30
    assert [again.is_done(i) for i in range(4)] == [True, True, True, False]
    again.commit([3], 40)
    again.close()
    assert Path(path).read_text().splitlines()[-1] == "40 3"

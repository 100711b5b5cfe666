"""The console entry point ends the process itself: statuses, exit handlers, streams."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from aioscout.cli import _exit_status


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as usual
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_exit_handlers_run_and_output_is_flushed() -> None:
    done = _run(
        "import atexit, sys\n"
        "from aioscout.cli import main\n"
        "atexit.register(lambda: sys.stdout.write('handler ran\\n'))\n"
        "sys.stdout.write('unflushed ')\n"
        "main(['--version'], prog_name='aioscout')\n"
    )
    assert done.returncode == 0
    assert done.stdout.startswith("unflushed aioscout, version ")
    assert done.stdout.endswith("handler ran\n")


def test_usage_error_keeps_its_status() -> None:
    done = _run("from aioscout.cli import main; main(['http', '--no-such-flag'])")
    assert done.returncode == 2
    assert "No such option" in done.stderr


@pytest.mark.parametrize(
    ("code", "status"), [(None, 0), (0, 0), (3, 3), (130, 130), (256 + 7, 7), ("boom", 1)]
)
def test_exit_status_matches_sys_exit(code: object, status: int) -> None:
    assert _exit_status(code) == status
    done = _run(f"import sys; sys.exit({code!r})")
    assert done.returncode == status

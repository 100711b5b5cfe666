"""One registration makes a probe a command, a library function and a worker's job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import aioscout
from aioscout import ScanConfig, registry
from tests._support.echo_probe import EchoOptions, EchoResult

# The registration: the one line besides the probe's module that a new probe needs.
ECHO = registry.ProbeSpec(
    name="echo",
    factory="tests._support.echo_probe:make_echo_probe",
    options="tests._support.echo_probe:EchoOptions",
    record="tests._support.echo_probe:EchoResult",
    summary="Say each input back.",
)

_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> Iterator[registry.ProbeSpec]:
    """The echo probe registered for one test (and importable by worker processes)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(_ROOT), *sys.path]))
    monkeypatch.setattr(registry, "_SPECS", dict(registry._SPECS))  # forgotten after the test
    yield registry.register(ECHO)
    monkeypatch.delitem(aioscout.__dict__, "scan_echo", raising=False)


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    code = (
        "from aioscout import registry; from tests.integration.test_registry import ECHO;"
        " registry.register(ECHO); from aioscout.cli import main; main(prog_name='aioscout')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=_ROOT,
        timeout=50,
        check=False,
    )


def test_a_registered_probe_is_a_command_with_its_options_as_flags() -> None:
    run = _cli("--help")
    assert run.returncode == 0, run.stderr
    assert "echo" in run.stdout and "Say each input back." in run.stdout
    run = _cli("echo", "--help")
    assert run.returncode == 0, run.stderr
    for flag in ("--prefix", "--upper / --no-upper", "--repeat", "--concurrency", "--output"):
        assert flag in run.stdout


@pytest.mark.slow
def test_the_generated_command_runs_the_probe_in_this_process_and_in_workers(
    tmp_path: Path,
) -> None:
    words = [f"w{i}" for i in range(60)]
    run = _cli("echo", "--prefix", "> ", "--upper", "--repeat", "2", "-s", *words[:3])
    assert run.returncode == 0, run.stderr
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert sorted(r["text"] for r in out) == ["> W0W0", "> W1W1", "> W2W2"]
    listing = tmp_path / "words.txt"
    listing.write_text("\n".join(words) + "\n")
    out_file = tmp_path / "out.jsonl"
    run = _cli("echo", "-l", str(listing), "--workers", "2", "-o", str(out_file), "-s")
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert sorted(r["text"] for r in records) == sorted(words)
    assert len({r["pid"] for r in records if r["pid"]}) == 2  # both workers took some


def test_an_unusable_option_is_one_line_and_status_2() -> None:
    run = _cli("echo", "--repeat", "0", "x")
    assert run.returncode == 2
    assert "repeat must be at least 1" in run.stderr


async def test_a_registered_probe_is_a_library_function(echo: registry.ProbeSpec) -> None:
    assert "scan_echo" in dir(aioscout)
    scan_echo = aioscout.scan_echo
    got = [r async for r in scan_echo(["a", "b"], options=EchoOptions(prefix="+"))]
    assert all(isinstance(r, EchoResult) for r in got)
    assert sorted(r.text for r in got) == ["+a", "+b"]
    assert {r.pid for r in got} == {os.getpid()}


@pytest.mark.slow
async def test_the_library_function_runs_in_worker_processes(echo: registry.ProbeSpec) -> None:
    words = [f"n{i}" for i in range(40)]
    config = ScanConfig(workers=2)
    got = [r async for r in aioscout.scan_echo(words, config=config)]
    assert sorted(r.text for r in got) == sorted(words)
    pids = {r.pid for r in got}
    assert len(pids) == 2 and os.getpid() not in pids


def test_unknown_names_and_clashing_registrations_are_refused() -> None:
    with pytest.raises(KeyError, match="no probe named"):
        registry.factory("nope")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(
            registry.ProbeSpec(name="http", factory="x:y", options="x:y", record="x:y")
        )
    with pytest.raises(AttributeError):
        _ = aioscout.scan_nope

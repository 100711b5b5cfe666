"""Backend of ``aioscout lab up|down|status``: the lab as a detached background process.

``up`` starts ``python -m aioscout.lab`` in its own session and waits until it
has written its JSON state file (pid, ports, DNS address, certificate paths),
which it does only once every server listens. ``down`` sends SIGTERM, waits
(bounded), then SIGKILL. ``status`` reads the state file and checks that the
recorded process is alive and is the lab (stale files are removed).

Files: without ``XDG_RUNTIME_DIR`` the state file and log live in a private
directory ``aioscout-lab-UID`` of the temporary directory, created with mode
0700 and refused when it exists as anything else (a symlink, another owner,
other permissions). The files themselves are never opened through a symlink
(``O_NOFOLLOW``), the state is replaced atomically from a file made with
``O_EXCL``, and a file with a second hard link or another owner is refused: a
local user cannot make the lab overwrite a file or choose which process
``down`` signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aioscout._exceptions import AioscoutError
from aioscout.lab._farm import DEFAULT_ADDRESSES, Lab, check_loopback

__all__ = ["LabError", "default_state_file", "down", "serve", "status", "up"]

_STATE_NAME = "aioscout-lab.json"
_POLL = 0.05


class LabError(AioscoutError):
    """The lab could not be started or stopped; the message says why."""


def _private_dir(base: Path) -> Path:
    """``base/aioscout-lab-UID``, made with mode 0700; LabError unless it is ours alone."""
    path = base / f"aioscout-lab-{os.getuid()}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise LabError(f"cannot create {path}: {exc.strerror}") from exc
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise LabError(
            f"{path} is not a private directory of this user (a directory with mode 0700): "
            "remove it, or set XDG_RUNTIME_DIR, or pass --state-file"
        )
    return path


def default_state_file() -> Path:
    """``$XDG_RUNTIME_DIR/aioscout-lab.json``, else ``aioscout-lab.json`` in a private
    directory ``aioscout-lab-UID`` (mode 0700) of the temporary directory.

    Raises :class:`LabError` when that directory exists but is not private.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / _STATE_NAME
    return _private_dir(Path(tempfile.gettempdir())) / _STATE_NAME


def _check_file(fd: int, path: Path) -> None:
    """LabError (``fd`` closed) unless ``fd`` is a regular file of ours with one link."""
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "is not a regular file"
    elif info.st_nlink != 1:
        problem = f"has {info.st_nlink} hard links"
    elif info.st_uid != os.getuid():
        problem = "belongs to another user"
    if problem is not None:
        os.close(fd)
        raise LabError(f"refusing {path}: it {problem}")


def _open_private(path: Path, flags: int) -> int:
    """Open ``path`` never through a symlink, as a file of ours with one link (else LabError)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise LabError(f"cannot open {path}: {exc.strerror}") from exc
    _check_file(fd, path)
    return fd


def _read(state_file: Path) -> dict[str, Any] | None:
    try:
        fd = _open_private(state_file, os.O_RDONLY | os.O_NONBLOCK)
    except LabError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def _reap(pid: int) -> bool:
    """True when ``pid`` is gone (reaping it if it is our exited child)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _is_lab(pid: int) -> bool:
    """Whether ``pid`` runs the lab (best effort: /proc where it exists)."""
    if _reap(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"aioscout.lab" in cmdline.read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return False


def status(state_file: Path | str | None = None) -> dict[str, Any] | None:
    """The running lab's state (as written by it), or ``None`` when none is running."""
    path = Path(state_file) if state_file is not None else default_state_file()
    state = _read(path)
    if state is None:
        return None
    if not _is_lab(state["pid"]):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return state


def _lab_args(
    http_port: int,
    https_port: int,
    dns_port: int | None,
    sites: int,
    latency: float,
    hostile: bool,
    dns_names: int,
    addresses: Sequence[str],
) -> list[str]:
    args = [
        f"--http-port={http_port}",
        f"--https-port={https_port}",
        f"--sites={sites}",
        f"--latency={latency}",
        f"--dns-names={dns_names}",
        f"--addresses={','.join(addresses)}",
    ]
    args.append("--no-dns" if dns_port is None else f"--dns-port={dns_port}")
    if not hostile:
        args.append("--no-hostile")
    return args


def up(
    state_file: Path | str | None = None,
    *,
    foreground: bool = False,
    http_port: int = 0,
    https_port: int = 0,
    dns_port: int | None = 0,
    sites: int = 200,
    latency: float = 0.0,
    hostile: bool = True,
    dns_names: int = 100_000,
    addresses: Sequence[str] = DEFAULT_ADDRESSES,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Start the lab and return its state.

    In the background (default), spawn a detached process and wait up to
    ``timeout`` seconds for its state file. With ``foreground=True``, run the
    lab in this process until SIGINT/SIGTERM, then return the state it had.
    Raises :class:`LabError` when a lab already runs with this state file or
    the process fails to start; ``ValueError`` for a non-loopback address.
    """
    check_loopback(addresses)
    path = Path(state_file) if state_file is not None else default_state_file()
    running = status(path)
    if running is not None:
        raise LabError(f"a lab is already running (pid {running['pid']}, state file {path})")
    if foreground:
        return serve(
            path,
            http_port=http_port,
            https_port=https_port,
            dns_port=dns_port,
            sites=sites,
            latency=latency,
            hostile=hostile,
            dns_names=dns_names,
            addresses=addresses,
        )
    path.unlink(missing_ok=True)
    log_path = path.with_suffix(".log")
    cmd = [sys.executable, "-m", "aioscout.lab", f"--state-file={path}"]
    cmd += _lab_args(http_port, https_port, dns_port, sites, latency, hostile, dns_names, addresses)
    pid = _spawn(cmd, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _read(path)
        if state is not None and state["pid"] == pid:
            return state
        done, code = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            raise LabError(f"the lab exited with status {code >> 8}; see {log_path}")
        time.sleep(_POLL)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise LabError(f"the lab did not start within {timeout:g}s; see {log_path}")


def _spawn(cmd: list[str], log_path: Path) -> int:
    """Start ``cmd`` in a new session, output appended to ``log_path``; return its pid.

    posix_spawn rather than Popen: the lab outlives this call, and nothing
    here waits for it (``down`` and ``status`` reap it if it is our child).
    The log is opened here (never through a symlink, refused with a second
    hard link) and handed to the child as its stdout and stderr.
    """
    log = _open_private(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, log, 1),
            (os.POSIX_SPAWN_DUP2, log, 2),
        ]
        return os.posix_spawn(cmd[0], cmd, dict(os.environ), file_actions=actions, setsid=True)
    finally:
        os.close(log)


def down(state_file: Path | str | None = None, *, timeout: float = 10.0) -> bool:
    """Stop the lab: SIGTERM, wait up to ``timeout`` s, then SIGKILL.

    Returns ``False`` when no lab was running, ``True`` once it is stopped.
    """
    path = Path(state_file) if state_file is not None else default_state_file()
    state = status(path)
    if state is None:
        return False
    pid: int = state["pid"]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while not _reap(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 5.0
            while not _reap(pid) and time.monotonic() < kill_deadline:
                time.sleep(_POLL)
            break
        time.sleep(_POLL)
    path.unlink(missing_ok=True)
    return True


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write a new file (``O_EXCL``, never through a symlink) and rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = _open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _remove_if_ours(path: Path) -> None:
    current = _read(path)
    if current is not None and current.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _serve(state_file: Path, lab: Lab) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with lab:
            state: dict[str, Any] = {"pid": os.getpid(), "started": time.time(), **lab.state()}
            _write_atomic(state_file, state)
            try:
                await stop.wait()
            finally:
                _remove_if_ours(state_file)
            return state
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def serve(
    state_file: Path | str | None = None,
    *,
    http_port: int = 0,
    https_port: int = 0,
    dns_port: int | None = 0,
    sites: int = 200,
    latency: float = 0.0,
    hostile: bool = True,
    dns_names: int = 100_000,
    addresses: Sequence[str] = DEFAULT_ADDRESSES,
) -> dict[str, Any]:
    """Run the lab in this process (uvloop when installed) until SIGTERM or SIGINT.

    Writes the state file once listening and removes it on the way out.
    """
    path = Path(state_file) if state_file is not None else default_state_file()
    lab = Lab(
        http_port=http_port,
        https_port=https_port,
        dns_port=dns_port,
        sites=sites,
        latency=latency,
        hostile=hostile,
        dns_names=dns_names,
        addresses=addresses,
    )
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(path, lab))

"""Starting a worker process: a fresh interpreter and one socket pair, nothing else.

Why not :mod:`multiprocessing`: its ``spawn`` start method also starts a
resource-tracker process (about 12 MB that a worker never uses) and re-runs
the command's main module in every worker (the CLI and its imports). Here a
worker is ``python -c`` importing only this module; the function to run and
its arguments arrive as the first frame on its socket (a pickle, between two
copies of this program), and the socket's other end stays with the parent.
When the parent dies, the worker reads end-of-file and exits.

A command that knows before its event loop starts that it will run workers
can :func:`prefork` them instead: copies of itself, made while it has one
thread and no loop, with the worker's modules already imported. They wait on
their socket for the same first frame, and :func:`spawn` hands them out
before it starts any interpreter. That saves each worker its start-up
(an interpreter and about 150 ms of imports on a 2-core machine), which is
most of the time a short scan spends before its first request.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .._memory import pin_mmap_threshold

__all__ = ["Forked", "prefork", "spawn"]

_LEN = struct.Struct(">I")
_ENV = "AIOSCOUT_WORKER_FD"
_BOOT = "from aioscout.engine._spawn import boot; boot()"


class Forked:
    """A pre-forked worker, with the part of :class:`subprocess.Popen` the pool uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status once the process has ended (reaped here), else None."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 0  # reaped elsewhere
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit; raises :class:`subprocess.TimeoutExpired` after ``timeout``."""
        until = None if timeout is None else time.monotonic() + timeout
        if self.poll() is None and hasattr(os, "pidfd_open"):
            # Woken by the exit itself, not by a poll that may come late.
            with contextlib.suppress(OSError):
                fd = os.pidfd_open(self.pid)
                try:
                    select.select([fd], [], [], timeout)
                finally:
                    os.close(fd)
        delay = 0.001
        while (code := self.poll()) is None:
            if until is not None and time.monotonic() >= until:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return code

    def kill(self) -> None:
        """SIGKILL, unless it has already been reaped."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


_ready: list[tuple[Forked, socket.socket]] = []


def prefork(count: int, modules: Sequence[str] = ()) -> int:
    """Fork ``count`` idle workers now, after importing ``modules``; return how many.

    Only while this process has a single thread (no loop running, no executor):
    otherwise forks none, and :func:`spawn` starts interpreters as usual. Workers
    that are never handed out exit when this process does.
    """
    if count <= 0 or not hasattr(os, "fork") or threading.active_count() != 1:
        return 0
    for name in ("aioscout.engine.workers", *modules):
        importlib.import_module(name)
    sys.stdout.flush()
    sys.stderr.flush()
    made = 0
    for _ in range(count):
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                ours.close()
                for _, earlier in _ready:
                    earlier.close()
                _ready.clear()
                _wait_for_work(theirs)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                code = 1
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        theirs.close()
        _ready.append((Forked(pid), ours))
        made += 1
    return made


def _wait_for_work(sock: socket.socket) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides (as _child_main says)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # never the parent's input
    os.close(devnull)
    _run_first_frame(sock, forked=True)


@atexit.register
def _discard_unused() -> None:
    """Unused pre-forked workers read end-of-file and exit; reap them."""
    while _ready:
        proc, sock = _ready.pop()
        sock.close()
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def forked_ready() -> int:
    """How many pre-forked workers are left to hand out (handing one out never blocks)."""
    return len(_ready)


def spawn(
    target: Callable[..., None], *args: Any, name: str
) -> tuple[subprocess.Popen[bytes] | Forked, socket.socket]:
    """Start ``target(sock, *args)`` in a worker; return its process and our socket end.

    A pre-forked worker (see :func:`prefork`) is used when one is left, else a
    new interpreter. ``name`` is shown in a new interpreter's command line
    (``ps``). ``target`` and ``args`` must be picklable.
    """
    blob = pickle.dumps((target, args, name), protocol=pickle.HIGHEST_PROTOCOL)
    while _ready:
        forked, sock = _ready.pop(0)
        try:
            sock.sendall(_LEN.pack(len(blob)) + blob)
        except OSError:  # it died waiting: try the next, or start one
            sock.close()
            forked.kill()
            forked.wait()
            continue
        return forked, sock
    ours, theirs = socket.socketpair()
    try:
        env = dict(os.environ)
        env[_ENV] = str(theirs.fileno())
        proc = subprocess.Popen(
            [sys.executable, "-B", "-c", _BOOT, name],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    try:
        ours.sendall(_LEN.pack(len(blob)) + blob)
    except OSError:
        ours.close()
        proc.kill()
        proc.wait()
        raise
    return proc, ours


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise EOFError("the parent closed the worker's socket before it started")
        buf += chunk
    return bytes(buf)


def boot() -> None:
    """The worker's entry point: read the first frame and run what it names."""
    pin_mmap_threshold()  # a fresh interpreter: as the command line's (see aioscout._memory)
    _run_first_frame(socket.socket(fileno=int(os.environ.pop(_ENV))))


def _run_first_frame(sock: socket.socket, *, forked: bool = False) -> None:
    try:
        size = _LEN.unpack(_read_exactly(sock, _LEN.size))[0]
        target, args, name = pickle.loads(_read_exactly(sock, size))
    except EOFError:
        os._exit(0)
    if forked:
        _name_process(name)
    target(sock, *args)


def _name_process(name: str) -> None:
    """A copy's name in ``ps`` (its command line stays its parent's): the kernel keeps
    15 characters, so ``aioscout-worker-3`` shows as ``aioscout-wkr-3``."""
    short = name.replace("-worker-", "-wkr-")[:15]
    with (
        contextlib.suppress(OSError),
        open("/proc/self/comm", "w", encoding="ascii", errors="replace") as f,
    ):
        f.write(short)

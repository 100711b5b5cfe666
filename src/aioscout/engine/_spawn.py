"""Starting a worker process: a fresh interpreter and one socket pair, nothing else.

Why not :mod:`multiprocessing`: its ``spawn`` start method also starts a
resource-tracker process (about 12 MB that a worker never uses) and re-runs
the command's main module in every worker (the CLI and its imports). Here a
worker is ``python -c`` importing only this module; the function to run and
its arguments arrive as the first frame on its socket (a pickle, between two
copies of this program), and the socket's other end stays with the parent.
When the parent dies, the worker reads end-of-file and exits.
"""

from __future__ import annotations

import os
import pickle
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["spawn"]

_LEN = struct.Struct(">I")
_ENV = "AIOSCOUT_WORKER_FD"
_BOOT = "from aioscout.engine._spawn import boot; boot()"


def spawn(
    target: Callable[..., None], *args: Any, name: str
) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start ``target(sock, *args)`` in a new interpreter; return it and our socket end.

    ``name`` is shown in the worker's command line (``ps``). ``target`` and
    ``args`` must be picklable.
    """
    ours, theirs = socket.socketpair()
    try:
        blob = pickle.dumps((target, args), protocol=pickle.HIGHEST_PROTOCOL)
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
    sock = socket.socket(fileno=int(os.environ.pop(_ENV)))
    try:
        size = _LEN.unpack(_read_exactly(sock, _LEN.size))[0]
        target, args = pickle.loads(_read_exactly(sock, size))
    except EOFError:
        os._exit(0)
    target(sock, *args)

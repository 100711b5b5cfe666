"""Real proxies on loopback for the HTTP tests: pproxy (SOCKS5) and proxy.py (HTTP)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import orjson
import pytest
from aiohttp import web

from tests._support.http_servers import HOST

__all__ = ["PASSWORD", "USER", "echo_app", "free_port", "pproxy", "stop_process", "wait_listening"]

USER, PASSWORD = "scout", "pr0xy-s3cret-9f2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not start listening")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def pproxy(auth: bool) -> Iterator[int]:
    pytest.importorskip("pproxy")
    port = free_port()
    listen = f"socks5://{HOST}:{port}" + (f"#{USER}:{PASSWORD}" if auth else "")
    # pproxy installs uvloop when importable and then asks for a loop uvloop won't make.
    runner = "import sys; sys.modules['uvloop'] = None; from pproxy.server import main; main()"
    # --auth 0: no "authenticated IP" memory, every connection authenticates.
    cmd = [sys.executable, "-c", runner, "-l", listen, "--auth", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc, "pproxy")
        yield port
    finally:
        stop_process(proc)


def echo_app() -> web.Application:
    """Answers every request with its method, path, headers and peer as JSON."""

    async def echo(request: web.Request) -> web.Response:
        body = {
            "method": request.method,
            "path": request.path_qs,
            "headers": {str(k): v for k, v in request.headers.items()},
            "peer": request.remote,
        }
        html = "<title>echo</title><pre>" + orjson.dumps(body).decode() + "</pre>"
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return app

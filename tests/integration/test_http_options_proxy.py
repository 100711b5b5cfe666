"""The HTTP prober through real proxies: proxy.py (HTTP) and pproxy (SOCKS5), with credentials."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from aioscout._config import HttpOptions, Limits, Timeouts
from aioscout._models import ErrorKind, HttpResult
from aioscout.probes.http import HttpProbe
from tests.integration.test_http_probe_servers import HOST, web_server

USER, PASSWORD = "scout", "pr0xy-s3cret-9f2"
TIMEOUTS = Timeouts(connect=2, read=2, total=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _pproxy(auth: bool) -> Iterator[int]:
    pytest.importorskip("pproxy")
    port = _free_port()
    listen = f"socks5://{HOST}:{port}" + (f"#{USER}:{PASSWORD}" if auth else "")
    # pproxy installs uvloop when importable and then asks for a loop uvloop won't make.
    runner = "import sys; sys.modules['uvloop'] = None; from pproxy.server import main; main()"
    # --auth 0: no "authenticated IP" memory, every connection authenticates.
    cmd = [sys.executable, "-c", runner, "-l", listen, "--auth", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc, "pproxy")
        yield port
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def socks_port() -> Iterator[int]:
    """pproxy as an open SOCKS5 proxy on 127.0.0.1."""
    yield from _pproxy(auth=False)


@pytest.fixture(scope="module")
def socks_auth_port() -> Iterator[int]:
    """pproxy as a SOCKS5 proxy with user/password authentication."""
    yield from _pproxy(auth=True)


@pytest.fixture(scope="module")
def http_proxy_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """proxy.py with basic auth on 127.0.0.1."""
    pytest.importorskip("proxy")
    port_file: Path = tmp_path_factory.mktemp("proxy") / "port"
    cmd = [
        sys.executable, "-m", "proxy", "--hostname", HOST, "--port", "0",
        "--port-file", str(port_file), "--basic-auth", f"{USER}:{PASSWORD}",
        "--num-acceptors", "1", "--num-workers", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("proxy.py did not start")
            time.sleep(0.05)
        yield int(port_file.read_text())
    finally:
        _stop(proc)


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


async def probe_one(opts: HttpOptions, url: str) -> HttpResult:
    async with HttpProbe(opts, TIMEOUTS, Limits(), concurrency=4, per_host=2) as probe:
        (target,) = probe.expand(url)
        return await probe.probe(url, target)


def echoed(record: HttpResult) -> dict[str, object]:
    assert record.body_preview is not None
    text = record.body_preview
    data = orjson.loads(text[text.index("<pre>") + 5 : text.index("</pre>")])
    assert isinstance(data, dict)
    return data


@pytest.mark.slow
async def test_socks5_without_and_with_credentials(socks_port: int, socks_auth_port: int) -> None:
    async with web_server(echo_app()) as port:
        url = f"http://{HOST}:{port}/via?x=1"
        open_ = await probe_one(
            HttpOptions(body_preview=10_000, proxy=f"socks5://{HOST}:{socks_port}"), url
        )
        inline = await probe_one(
            HttpOptions(
                body_preview=10_000, proxy=f"socks5://{USER}:{PASSWORD}@{HOST}:{socks_auth_port}"
            ),
            url,
        )
        split = await probe_one(
            HttpOptions(
                body_preview=10_000,
                proxy=f"socks5://{HOST}:{socks_auth_port}",
                proxy_auth=f"{USER}:{PASSWORD}",
            ),
            url,
        )
    for record in (open_, inline, split):
        assert (record.error, record.status, record.ip) == (None, 200, None), record.error
        assert echoed(record)["path"] == "/via?x=1"
    for record in (open_, inline, split):
        assert PASSWORD not in repr(record)


@pytest.mark.slow
async def test_socks5_refused_credentials_are_a_proxy_error(socks_auth_port: int) -> None:
    async with web_server(echo_app()) as port:
        url = f"http://{HOST}:{port}/"
        denied = await probe_one(
            HttpOptions(proxy=f"socks5://{USER}:wrong-pw-77@{HOST}:{socks_auth_port}"), url
        )
        no_creds = await probe_one(HttpOptions(proxy=f"socks5://{HOST}:{socks_auth_port}"), url)
    for record in (denied, no_creds):
        assert "wrong-pw-77" not in repr(record)
        assert record.error is not None and record.error.kind == ErrorKind.PROXY, record.error


@pytest.mark.slow
async def test_http_proxy_request_shaping(http_proxy_port: int) -> None:
    async with web_server(echo_app()) as port:
        opts = HttpOptions(
            method="PUT",
            headers=(("X-Trace", "t-1"),),
            params=(("k", "v"),),
            body_preview=10_000,
            proxy=f"http://{HOST}:{http_proxy_port}",
            proxy_auth=f"{USER}:{PASSWORD}",
        )
        record = await probe_one(opts, f"http://{HOST}:{port}/p")
        denied = await probe_one(
            HttpOptions(proxy=f"http://{HOST}:{http_proxy_port}"), f"http://{HOST}:{port}/p"
        )
    assert (record.error, record.status) == (None, 200), record.error
    seen = echoed(record)
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert (seen["method"], seen["path"], headers.get("X-Trace")) == ("PUT", "/p?k=v", "t-1")
    assert "Proxy-Authorization" not in headers  # the proxy consumed it
    assert denied.error is not None and denied.error.kind == ErrorKind.PROXY
    assert PASSWORD not in repr(record) + repr(denied)

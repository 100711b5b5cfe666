"""The HTTP prober through real proxies: proxy.py (HTTP) and pproxy (SOCKS5), with credentials."""

from __future__ import annotations

import orjson
import pytest

from aioscout._config import HttpOptions, Limits, Timeouts
from aioscout._models import ErrorKind, HttpResult
from aioscout.probes.http import HttpProbe
from tests._support.http_servers import HOST, web_server
from tests._support.proxies import PASSWORD, USER, echo_app

TIMEOUTS = Timeouts(connect=2, read=2, total=5)


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

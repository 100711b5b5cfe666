"""The HTTP prober against real servers on 127.0.0.1: fields, redirects, TLS, requests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from aioscout._config import HttpOptions, Limits
from aioscout._models import ErrorInfo, ErrorKind
from aioscout.probes.http import HttpProbe
from aioscout.targets._types import HttpTarget
from tests._support.http_servers import (
    HOST,
    CertFiles,
    closed_port,
    make_cert,
    open_probe,
    target,
    web_server,
)

PAGE = b"<html><head><title>Hello  &amp; welcome</title></head><body>one two\nthree</body></html>"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_cert(tmp_path_factory.mktemp("tls"))


def site() -> tuple[web.Application, dict[str, int]]:
    """An app with pages, statuses and redirects; ``hits`` counts requests per path."""
    hits: dict[str, int] = {}
    app = web.Application()

    @web.middleware
    async def count(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        hits[request.path] = hits.get(request.path, 0) + 1
        return await handler(request)

    app.middlewares.append(count)

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html", headers={"Server": "lab/1"})

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.Response(
            status=code, text=f"<title>status {code}</title>", content_type="text/html"
        )

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(
            status=int(request.query.get("code", "302")), headers={"Location": request.query["to"]}
        )

    async def nested(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return await page(request)
        return web.Response(status=301, headers={"Location": f"/nested/{n - 1}"})

    async def loop(request: web.Request) -> web.Response:
        return web.Response(
            status=302, headers={"Location": "/loop2" if request.path == "/loop" else "/loop"}
        )

    async def set_cookie(request: web.Request) -> web.Response:
        resp = web.Response(status=303, headers={"Location": "check"})
        resp.set_cookie("session", "abc123")
        return resp

    async def check(request: web.Request) -> web.Response:
        return web.json_response(
            {"method": request.method, "cookie": request.headers.get("Cookie")}
        )

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": list(request.query.items()),
                "headers": dict(request.headers),
                "cookies": dict(request.cookies),
                "body": body.decode("latin-1"),
            }
        )

    app.router.add_get("/", page)
    app.router.add_get("/status/{code}", status)
    app.router.add_route("*", "/redirect", redirect)
    app.router.add_get("/nested/{n}", nested)
    app.router.add_get("/loop", loop)
    app.router.add_get("/loop2", loop)
    app.router.add_route("*", "/set-cookie", set_cookie)
    app.router.add_route("*", "/check", check)
    app.router.add_route("*", "/echo", echo)
    return app, hits


async def test_page_fields() -> None:
    app, _ = site()
    async with web_server(app) as port, open_probe() as probe:
        r = await probe.probe("line", target(f"http://{HOST}:{port}/"))
    assert r.error is None
    assert (r.status, r.title, r.scheme, r.host, r.ip, r.port) == (
        200,
        "Hello & welcome",
        "http",
        HOST,
        HOST,
        port,
    )
    assert r.url == r.final_url == f"http://{HOST}:{port}/"
    assert r.server == "lab/1"
    assert r.content_type is not None and r.content_type.startswith("text/html")
    assert r.content_length == len(PAGE)
    assert r.body_sha256 == hashlib.sha256(PAGE).hexdigest()
    assert (r.words, r.lines) == (len(PAGE.split()), 2)
    assert r.time_ms is not None and r.time_ms > 0
    assert r.tls is None and r.chain == [] and r.headers is None


@pytest.mark.parametrize("code", [404, 500, 204])
async def test_statuses(code: int) -> None:
    app, _ = site()
    async with web_server(app) as port, open_probe() as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/status/{code}"))
    assert r.error is None and r.status == code
    assert r.title == (None if code == 204 else f"status {code}")


async def test_redirect_chain_cookies_and_303() -> None:
    app, _ = site()
    async with (
        web_server(app) as port,
        open_probe(HttpOptions(method="POST", data=b"x=1")) as probe,
    ):
        start = f"http://{HOST}:{port}/redirect?to=/set-cookie&code=307"
        r = await probe.probe("x", target(start))
    assert r.error is None, r.error
    assert [(h.status, h.location) for h in r.chain] == [(307, "/set-cookie"), (303, "check")]
    assert r.chain[0].url == start
    assert r.final_url == f"http://{HOST}:{port}/check"
    assert r.body_preview is None
    async with (
        web_server(site()[0]) as port2,
        open_probe(HttpOptions(method="POST", body_preview=200)) as probe,
    ):
        r2 = await probe.probe("x", target(f"http://{HOST}:{port2}/set-cookie"))
    assert r2.body_preview is not None
    assert json.loads(r2.body_preview) == {"method": "GET", "cookie": "session=abc123"}


async def test_redirect_cross_port_keeps_cookies_per_probe() -> None:
    app, _ = site()
    async with web_server(app) as port, open_probe(HttpOptions(body_preview=300)) as probe:
        r1 = await probe.probe("x", target(f"http://{HOST}:{port}/set-cookie"))
        r2 = await probe.probe("y", target(f"http://{HOST}:{port}/check"))
    assert r1.body_preview is not None and "abc123" in r1.body_preview
    assert r2.body_preview is not None and json.loads(r2.body_preview)["cookie"] is None


async def test_redirect_loop() -> None:
    app, hits = site()
    async with web_server(app) as port, open_probe() as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/loop"))
    assert r.error is not None and r.error.kind == ErrorKind.REDIRECT_LOOP
    assert [h.location for h in r.chain] == ["/loop2", "/loop"]
    assert hits == {"/loop": 1, "/loop2": 1}


async def test_redirect_cap() -> None:
    app, hits = site()
    async with web_server(app) as port, open_probe(limits=Limits(max_redirects=5)) as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/nested/30"))
        ok = await probe.probe("x", target(f"http://{HOST}:{port}/nested/5"))
    assert r.error is not None and r.error.kind == ErrorKind.TOO_MANY_REDIRECTS
    assert len(r.chain) == 6 and r.status == 301
    assert sum(hits.values()) == 6 + 6
    assert ok.error is None and ok.title == "Hello & welcome" and len(ok.chain) == 5


async def test_redirect_not_followed_when_disabled() -> None:
    app, _ = site()
    async with web_server(app) as port, open_probe(HttpOptions(follow_redirects=False)) as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/nested/3"))
    assert r.error is None and r.status == 301
    assert [h.location for h in r.chain] == ["/nested/2"]


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ftp://127.0.0.1/x",
        "data:text/html,hi",
        "gopher://127.0.0.1:70/",
    ],
)
async def test_blocked_scheme_never_fetched(location: str) -> None:
    app, hits = site()
    async with web_server(app) as port, open_probe() as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/redirect?to={location}"))
    assert r.error is not None and r.error.kind == ErrorKind.BLOCKED_SCHEME
    assert r.status == 302 and r.chain[0].location == location
    assert hits == {"/redirect": 1}


async def test_https_cert_facts(cert: CertFiles) -> None:
    app, _ = site()
    ctx = cert.server_context(alpn=("http/1.1",))
    async with web_server(app, ctx) as port, open_probe() as probe:
        r = await probe.probe("x", target(f"https://{HOST}:{port}/"))
    assert r.error is None and r.status == 200 and r.scheme == "https"
    assert r.tls is not None
    assert r.tls.version in ("TLSv1.2", "TLSv1.3")
    assert r.tls.cipher and r.tls.alpn == "http/1.1"
    assert r.tls.subject_cn == "aioscout.test"
    assert "aioscout.test" in r.tls.sans
    assert r.tls.self_signed is True and r.tls.expired is False


async def test_verify_rejects_self_signed_and_accepts_ca_file(cert: CertFiles) -> None:
    app, _ = site()
    async with web_server(app, cert.server_context()) as port:
        async with open_probe(HttpOptions(verify=True)) as probe:
            bad = await probe.probe("x", target(f"https://{HOST}:{port}/"))
        async with open_probe(HttpOptions(verify=True, ca_file=str(cert.cert))) as probe:
            good = await probe.probe("x", target(f"https://{HOST}:{port}/"))
        async with open_probe(
            HttpOptions(verify=True, ca_file=str(cert.cert), sni="other.test")
        ) as probe:
            wrong_name = await probe.probe("x", target(f"https://{HOST}:{port}/"))
    assert bad.error is not None and bad.error.kind == ErrorKind.TLS
    assert "certificate" in bad.error.detail
    assert good.error is None and good.status == 200
    assert wrong_name.error is not None and wrong_name.error.kind == ErrorKind.TLS


async def test_bare_host_on_tls_port_is_https(cert: CertFiles) -> None:
    app, hits = site()
    async with web_server(app, cert.server_context()) as port, open_probe() as probe:
        t = next(iter(probe.expand(f"{HOST}:{port}")))
        assert t.scheme is None
        r = await probe.probe("x", t)
    assert r.error is None
    assert (r.scheme, r.status, r.url) == ("https", 200, f"https://{HOST}:{port}/")
    assert hits == {"/": 1}


async def test_bare_host_on_plain_port_is_http() -> None:
    app, _ = site()
    async with web_server(app) as port, open_probe() as probe:
        r = await probe.probe("x", target(f"{HOST}:{port}"))
    assert r.error is None and (r.scheme, r.status) == ("http", 200)


async def test_tls_hint_400_is_never_reported_as_http() -> None:
    async def nginx_ssl_port(request: web.Request) -> web.Response:
        return web.Response(
            status=400,
            text="<title>400 The plain HTTP request was sent to HTTPS port</title>"
            "The plain HTTP request was sent to HTTPS port",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/", nginx_ssl_port)
    async with web_server(app) as port, open_probe() as probe:
        r = await probe.probe("x", target(f"{HOST}:{port}"))
    assert r.scheme == "https"
    assert r.status is None and r.error is not None and r.error.kind == ErrorKind.TLS


async def test_refused() -> None:
    port = closed_port()
    async with open_probe() as probe:
        bare = await probe.probe("x", target(f"{HOST}:{port}"))
        explicit = await probe.probe("x", target(f"https://{HOST}:{port}/"))
    assert bare.error == explicit.error == ErrorInfo(ErrorKind.REFUSED, "connection refused")
    assert bare.scheme == "http"


async def test_request_options_reach_the_server(tmp_path: Path) -> None:
    upload = tmp_path / "up.txt"
    upload.write_bytes(b"file-content")
    app, _ = site()
    opts = HttpOptions(
        method="put",
        headers=(("X-Test", "1"), ("X-Test", "2")),
        params=(("a", "1"), ("a", "2"), ("b", "x y")),
        cookies=(("c1", "v1"),),
        form=(("f", "g"),),
        files=(("upload", str(upload)),),
        user_agent="probe-agent/9",
        body_preview=5000,
    )
    async with web_server(app) as port, open_probe(opts) as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/echo?z=0"))
    assert r.error is None and r.body_preview is not None
    echo = json.loads(r.body_preview)
    assert echo["method"] == "PUT"
    assert echo["query"] == [["z", "0"], ["a", "1"], ["a", "2"], ["b", "x y"]]
    assert echo["headers"]["User-Agent"] == "probe-agent/9"
    assert echo["cookies"] == {"c1": "v1"}
    assert echo["headers"]["Content-Type"].startswith("multipart/form-data")
    assert 'name="upload"; filename="up.txt"' in echo["body"] and "file-content" in echo["body"]
    assert 'name="f"' in echo["body"]


@pytest.mark.parametrize(
    ("opts", "content_type", "body"),
    [
        (HttpOptions(method="POST", json='{"k": [1]}'), "application/json", '{"k": [1]}'),
        (
            HttpOptions(method="POST", form=(("a", "1"), ("b", "x&y"))),
            "application/x-www-form-urlencoded",
            "a=1&b=x%26y",
        ),
        (HttpOptions(method="POST", data=b"raw"), "application/octet-stream", "raw"),
    ],
)
async def test_bodies(opts: HttpOptions, content_type: str, body: str) -> None:
    app, _ = site()
    async with web_server(app) as port, open_probe(replacement_preview(opts)) as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/echo"))
    assert r.body_preview is not None
    echo = json.loads(r.body_preview)
    assert echo["headers"]["Content-Type"].startswith(content_type)
    assert echo["body"] == body
    assert echo["headers"]["User-Agent"].startswith("Mozilla/5.0 (compatible; aioscout/")


def replacement_preview(opts: HttpOptions) -> HttpOptions:
    from dataclasses import replace

    return replace(opts, body_preview=5000)


async def test_random_agent_comes_from_the_list() -> None:
    from aioscout.probes._http_session import USER_AGENTS

    app, _ = site()
    async with (
        web_server(app) as port,
        open_probe(HttpOptions(random_agent=True, body_preview=5000)) as probe,
    ):
        r = await probe.probe("x", target(f"http://{HOST}:{port}/echo"))
    assert r.body_preview is not None
    assert json.loads(r.body_preview)["headers"]["User-Agent"] in USER_AGENTS


async def test_headers_included_and_request_credentials_absent() -> None:
    app, _ = site()
    secret = "Bearer top-secret-token"
    opts = HttpOptions(include_headers=True, headers=(("Authorization", secret),))
    async with web_server(app) as port, open_probe(opts) as probe:
        r = await probe.probe("x", target(f"http://{HOST}:{port}/set-cookie"))
    assert r.headers is not None
    assert r.headers["content-type"].startswith("application/json")
    assert "top-secret-token" not in repr(r)


async def test_http2_check(cert: CertFiles) -> None:
    app, _ = site()
    async with open_probe(HttpOptions(http2=True)) as probe:
        async with web_server(app, cert.server_context(alpn=("h2", "http/1.1"))) as port:
            h2 = await probe.probe("x", target(f"https://{HOST}:{port}/"))
        async with web_server(site()[0], cert.server_context()) as port:
            h1 = await probe.probe("x", target(f"https://{HOST}:{port}/"))
        async with web_server(site()[0]) as port:
            plain = await probe.probe("x", target(f"http://{HOST}:{port}/"))
    assert (h2.error, h2.http2) == (None, True)
    assert (h1.error, h1.http2) == (None, False)
    assert (plain.error, plain.http2) == (None, False)


def test_engine_side_helpers() -> None:
    from aioscout._config import Timeouts

    probe = HttpProbe(
        HttpOptions(ports=("80,https:8443",)), Timeouts(), Limits(), concurrency=1, per_host=1
    )
    targets = list(probe.expand("example.com"))
    assert [(t.scheme, t.port) for t in targets] == [(None, 80), ("https", 8443)]
    assert probe.host_of(targets[0]) == "example.com"
    assert probe.identity(targets[0]) == "*://example.com:80/"
    assert probe.identity(targets[1]) == "https://example.com:8443/"
    assert probe.identity(HttpTarget("http", "a.b", 80, "/")) == probe.identity(
        HttpTarget("http", "a.b", None, "/")
    )
    rec = probe.failed("l", targets[1], ErrorInfo(ErrorKind.INVALID_INPUT, "bad"))
    assert (rec.input, rec.host, rec.port, rec.error) == (
        "l",
        "example.com",
        8443,
        ErrorInfo(ErrorKind.INVALID_INPUT, "bad"),
    )
    assert probe.failed("zz", None, ErrorInfo(ErrorKind.DUPLICATE, "d")).host is None

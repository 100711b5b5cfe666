"""The HTTP prober's optional probes against the lab and small loopback servers.

favicon, tech, CDN hint, websocket, HTTP/2, body preview, headers, stored
responses, random agent, --resolver through the lab DNS, TLS verification and
SNI, port and path expansion.
"""

from __future__ import annotations

import random
import ssl
from pathlib import Path

import pytest
from aiohttp import web

from aioscout._config import HttpOptions, Limits, Timeouts
from aioscout._models import ErrorKind, HttpResult
from aioscout.lab import Lab, decode_echo
from aioscout.probes._http_session import USER_AGENTS
from aioscout.probes.http import HttpProbe
from tests._support.http_servers import HOST, CertFiles, make_cert, web_server

TIMEOUTS = Timeouts(connect=2, read=2, total=5)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_cert(tmp_path_factory.mktemp("tls"))


async def probe_all(
    opts: HttpOptions, *urls: str, rng: random.Random | None = None
) -> list[HttpResult]:
    """One record per URL, in order, from one probe."""
    async with HttpProbe(opts, TIMEOUTS, Limits(), concurrency=8, per_host=4, rng=rng) as probe:
        return [await probe.probe(url, t) for url in urls for t in probe.expand(url)]


def lab_options(lab: Lab, **kw: object) -> HttpOptions:
    assert lab.dns_address is not None
    return HttpOptions(resolvers=(lab.dns_address,), **kw)  # type: ignore[arg-type]


def echo_header(body: bytes, name: str) -> str:
    """The value of request header ``name`` as the lab's echo site saw it."""
    pairs = decode_echo(body)["headers"]
    assert isinstance(pairs, list)
    return next(str(v) for k, v in pairs if str(k).lower() == name.lower())


def names(tech: list[str] | None) -> set[str]:
    return {t.partition(":")[0].lower() for t in tech or []}


async def test_favicon_from_link_and_from_default_path() -> None:
    async with Lab(sites=20, hostile=False) as lab:
        urls = [lab.url(f"{s}.lab.test") for s in ("favicon", "icon-link", "site-00001")]
        on = await probe_all(lab_options(lab, favicon=True), *urls)
        off = await probe_all(lab_options(lab), urls[0])
        for site, record in zip(("favicon", "icon-link"), on[:2], strict=True):
            want = lab.expected(f"{site}.lab.test")
            assert record.error is None, record.error
            assert record.favicon == want.favicon_mmh3 and want.favicon_mmh3 is not None
            assert record.favicon_url == lab.url(f"{site}.lab.test", path=want.favicon_path or "")
        assert (on[2].error, on[2].favicon, on[2].favicon_url) == (None, None, None)
        assert (off[0].favicon, off[0].favicon_url) == (None, None)


@pytest.mark.slow  # loads the fingerprint data set
async def test_tech_names_server_language_and_cms() -> None:
    async with Lab(sites=20, hostile=False) as lab:
        tech_url, plain_url = lab.url("tech.lab.test"), lab.url("site-00001.lab.test")
        tech, plain = await probe_all(lab_options(lab, tech=True), tech_url, plain_url)
        (off,) = await probe_all(lab_options(lab), tech_url)
    assert set(lab.expected("tech.lab.test").tech) <= names(tech.tech)
    assert "Nginx:1.24.0" in (tech.tech or [])
    assert not names(plain.tech) & {"nginx", "php", "wordpress"}
    assert off.tech is None


async def test_cdn_hint_is_always_on() -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<title>edge</title>", headers={"CF-Ray": "8a1-AMS"})

    app = web.Application()
    app.router.add_get("/", page)
    async with web_server(app) as port, Lab(sites=20, hostile=False) as lab:
        edge, plain = await probe_all(
            lab_options(lab), f"http://{HOST}:{port}/", lab.url("site-00001.lab.test")
        )
    assert (edge.error, edge.cdn) == (None, "cloudflare")
    assert (plain.error, plain.cdn) == (None, None)


async def test_websocket_upgrade_on_the_final_url() -> None:
    async with Lab(sites=20, hostile=False) as lab:
        urls = [lab.url("ws.lab.test", path="/ws"), lab.url("ws.lab.test", "https", "/ws")]
        urls.append(lab.url("site-00001.lab.test"))
        ws, wss, plain = await probe_all(lab_options(lab, websocket=True), *urls)
        (off,) = await probe_all(lab_options(lab), urls[0])
    assert (ws.status, ws.websocket) == (426, True)
    assert (wss.status, wss.websocket) == (426, True)
    assert (plain.status, plain.websocket) == (200, False)
    assert off.websocket is None


async def test_http2_by_alpn(cert: CertFiles) -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<title>h2</title>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    async with (
        web_server(app, cert.server_context(("h2", "http/1.1"))) as h2_port,
        web_server(app, cert.server_context(("http/1.1",))) as h1_port,
        web_server(app) as plain_port,
    ):
        h2, h1, plain = await probe_all(
            HttpOptions(http2=True),
            f"https://{HOST}:{h2_port}/",
            f"https://{HOST}:{h1_port}/",
            f"http://{HOST}:{plain_port}/",
        )
    assert (h2.error, h2.http2) == (None, True)
    assert h2.tls is not None and h2.tls.alpn == "http/1.1"  # the probe itself stays on 1.1
    assert (h1.error, h1.http2) == (None, False)
    assert (plain.error, plain.http2) == (None, False)


async def test_body_preview_and_headers() -> None:
    async with Lab(sites=20, hostile=False) as lab:
        url = lab.url("tech.lab.test")
        (on,) = await probe_all(lab_options(lab, body_preview=40, include_headers=True), url)
        (off,) = await probe_all(lab_options(lab), url)
    assert on.body_preview is not None and len(on.body_preview) == 40
    assert on.body_preview.lstrip().lower().startswith("<!doctype html") or "<" in on.body_preview
    assert on.headers is not None and on.headers["server"] == "nginx/1.24.0"
    assert "phpsessid=" in on.headers["set-cookie"].lower()
    assert (off.body_preview, off.headers) == (None, None)


async def test_store_responses(tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with Lab(sites=20, hostile=False) as lab:
        urls = [lab.url("tech.lab.test"), lab.url("site-00002.lab.test")]
        records = await probe_all(lab_options(lab, store_responses=str(store)), *urls)
    for url, record in zip(urls, records, strict=True):
        assert record.error is None and record.stored is not None
        saved = (store / record.stored).read_bytes()
        head, _, body = saved.partition(b"\n\n")
        assert head.splitlines()[0].decode() == url
        assert b"200" in head.splitlines()[1]
        assert body and record.title is not None and record.title.encode()[:10] in body
    index = (store / "index.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in index) == sorted(r.stored or "" for r in records)


async def test_random_agent_and_explicit_agent() -> None:
    async with Lab(sites=20, hostile=False) as lab:
        url = lab.url("echo.lab.test", path="/ua")
        seen = set()
        for seed in range(6):
            (rec,) = await probe_all(
                lab_options(lab, random_agent=True, body_preview=100_000),
                url,
                rng=random.Random(seed),
            )
            assert rec.body_preview is not None
            seen.add(echo_header(rec.body_preview.encode(), "User-Agent"))
        (rec,) = await probe_all(lab_options(lab, user_agent="probe/9", body_preview=100_000), url)
    assert seen <= set(USER_AGENTS) and len(seen) > 1
    assert rec.body_preview is not None and '"probe/9"' in rec.body_preview


async def test_resolver_gives_the_lab_address() -> None:
    async with Lab(sites=20, hostile=False) as lab:
        name = "site-00007.lab.test"  # generated sites ending in 7 live on 127.0.0.2
        (rec,) = await probe_all(lab_options(lab), lab.url(name))
        (missing,) = await probe_all(lab_options(lab), lab.url("no-such-name.lab.test"))
    assert (rec.error, rec.status, rec.ip) == (None, 200, lab.address_of(name))
    assert rec.ip == "127.0.0.2"
    assert missing.error is not None and missing.error.kind == ErrorKind.DNS


async def test_verify_with_ca_file_and_without() -> None:
    async with Lab(sites=20, hostile=False) as lab:
        assert lab.certs is not None
        ca = str(lab.certs.ca.cert)
        signed = f"https://site-00001.lab.test:{lab.tls_ports['ca-signed']}/"
        self_signed = lab.url("site-00001.lab.test", "https")
        ok, bad_self = await probe_all(
            lab_options(lab, verify=True, ca_file=ca), signed, self_signed
        )
        (no_ca,) = await probe_all(lab_options(lab, verify=True), signed)
        (lenient,) = await probe_all(lab_options(lab), self_signed)
    assert (ok.error, ok.status) == (None, 200)
    for rec in (bad_self, no_ca):
        assert rec.error is not None and rec.error.kind == ErrorKind.TLS, rec.error
    assert (lenient.error, lenient.status) == (None, 200)
    assert lenient.tls is not None and lenient.tls.self_signed


async def test_sni_is_sent(cert: CertFiles) -> None:
    seen: list[str | None] = []
    ctx = cert.server_context()

    def on_sni(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        seen.append(name)

    ctx.sni_callback = on_sni

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<title>sni</title>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    async with web_server(app, ctx) as port:
        (named,) = await probe_all(HttpOptions(sni="chosen.example"), f"https://{HOST}:{port}/")
        (bare,) = await probe_all(HttpOptions(), f"https://{HOST}:{port}/")
    assert (named.error, bare.error) == (None, None)
    assert seen == ["chosen.example", None]


def test_port_and_path_expansion_is_exact() -> None:
    opts = HttpOptions(ports=("80", "https:8443", "8000-8002"), paths=("/", "/admin"))
    probe = HttpProbe(opts, TIMEOUTS, Limits(), concurrency=1, per_host=1)
    got = [probe.identity(t) for t in probe.expand("host.test")]
    want = [
        f"{scheme}://host.test{port}{path}"
        for scheme, port in (
            ("*", ":80"),
            ("https", ":8443"),
            ("*", ":8000"),
            ("*", ":8001"),
            ("*", ":8002"),
        )
        for path in ("/", "/admin")
    ]
    assert sorted(got) == sorted(want) and len(got) == len(set(got)) == 10

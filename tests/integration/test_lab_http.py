"""The lab's HTTP/HTTPS servers serve exactly what their expectations imply.

Every request goes to an IP literal with a Host header: nothing is resolved.
Titles are checked with a deliberately tiny reader (regex + html.unescape)
that is independent of aioscout.extract: it checks the lab's data, not the
extractor.
"""

from __future__ import annotations

import asyncio
import html
import importlib.util
import re
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
import pytest

from aioscout.lab import Expectation, Lab, control, decode_echo
from aioscout.lab.sites import TITLE_CAP, Catalogue, favicon_hash, generated_title

pytestmark = [pytest.mark.timeout(30), pytest.mark.lab(sites=20, dns_names=50, hostile=False)]

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SLOW = {"slow", "slow-body"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


def _title_of(body: bytes, charset: str | None) -> str | None:
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    match = _TITLE.search(body)
    if match is None:
        return None
    text = html.unescape(match.group(1).decode(charset or "utf-8"))
    return " ".join(re.split(r"[ \t\n\r\f]+", text)).strip()[:TITLE_CAP].rstrip()


async def _get(
    session: aiohttp.ClientSession,
    lab: Lab,
    scheme: str,
    host: str,
    path: str = "/",
    **kw: object,
) -> tuple[aiohttp.ClientResponse, bytes]:
    url = f"{scheme}://{lab.address_of(host)}:{lab.port_for(scheme)}{path}"
    async with session.get(
        url,
        headers={"Host": host},
        allow_redirects=False,
        ssl=scheme != "https",
        **kw,  # type: ignore[arg-type]
    ) as resp:
        return resp, await resp.read()


async def _follow(
    session: aiohttp.ClientSession, lab: Lab, scheme: str, site: str, exp: Expectation
) -> tuple[aiohttp.ClientResponse, bytes, str, str, str, int]:
    """Follow redirects by hand for exactly the hops the expectation counts."""
    host, path, hops = site, "/", 0
    while True:
        resp, body = await _get(session, lab, scheme, host, path)
        location = resp.headers.get("Location")
        if hops == exp.hops or location is None:
            return resp, body, scheme, host, path, hops
        assert 300 <= resp.status < 400
        url = f"{scheme}://{host}:{lab.port_for(scheme)}{path}"
        parts = urlsplit(urljoin(url, location))
        assert parts.port == lab.port_for(parts.scheme), location
        scheme, host = parts.scheme, parts.hostname or ""
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        hops += 1


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_every_special_site_serves_its_expectation(
    lab: Lab, session: aiohttp.ClientSession, scheme: str
) -> None:
    checked = 0
    for site in lab.sites.special:
        if site.label in _SLOW:
            continue
        exp = lab.expected(site.name, scheme)
        resp, body, fscheme, fhost, fpath, hops = await _follow(
            session, lab, scheme, site.name, exp
        )
        where = f"{scheme}://{site.name}/"
        assert hops == exp.hops, where
        assert resp.status == exp.status, where
        if exp.error is not None:
            assert 300 <= resp.status < 400 and "Location" in resp.headers, where
            continue
        assert (fscheme, fhost, fpath) == (exp.final_scheme, exp.final_host, exp.final_path)
        assert _title_of(body, exp.charset) == exp.title, where
        assert resp.headers.get("Server") == exp.server, where
        checked += 1
    assert checked >= 40


async def test_charset_declarations_are_where_the_site_says(
    lab: Lab, session: aiohttp.ClientSession
) -> None:
    cases = {
        "gbk-header": ("gbk", None),
        "gbk-meta": (None, b"charset=gbk"),
        "gb2312-meta": (None, b'charset="gb2312"'),
        "gbk-nocharset": (None, None),
        "utf8-nocharset": (None, None),
        "bom-utf8": (None, None),
        "windows-1251": ("windows-1251", None),
    }
    for label, (header_charset, meta) in cases.items():
        resp, body = await _get(session, lab, "http", f"{label}.lab.test")
        assert resp.charset == header_charset, label
        assert (b"charset" in body.lower()) == (meta is not None), label
        if meta is not None:
            assert meta in body, label
    resp, body = await _get(session, lab, "http", "bom-utf8.lab.test")
    assert body.startswith(b"\xef\xbb\xbf")


async def test_undeclared_gbk_is_detectable(lab: Lab, session: aiohttp.ClientSession) -> None:
    charset_normalizer = pytest.importorskip("charset_normalizer")
    _, body = await _get(session, lab, "http", "gbk-nocharset.lab.test")
    best = charset_normalizer.from_bytes(body).best()
    exp = lab.expected("gbk-nocharset.lab.test")
    assert best is not None and exp.title is not None
    assert exp.title in str(best)


async def test_generated_and_unknown_hosts(lab: Lab, session: aiohttp.ClientSession) -> None:
    for i in (1, 7, 13, 20):
        name = f"site-{i:05d}.lab.test"
        resp, body = await _get(session, lab, "http", name)
        assert resp.status == 200
        assert _title_of(body, "utf-8") == generated_title(i) == lab.expected(name).title
    assert lab.address_of("site-00007.lab.test") == "127.0.0.2"
    for host in ("site-00021.lab.test", "nope.lab.test", "example.com"):
        url = f"http://127.0.0.1:{lab.http_port}/"
        async with session.get(url, headers={"Host": host}) as resp:
            assert resp.status == 404
            assert _title_of(await resp.read(), "utf-8") == "aioscout lab: unknown host"
    resp, body = await _get(session, lab, "http", "utf8.lab.test", "/missing")
    assert resp.status == 404 and _title_of(body, "utf-8") == "aioscout lab: not found"


async def test_truth_and_targets_cover_every_site(lab: Lab) -> None:
    truth = lab.truth()
    assert len(truth) == 2 * len(lab.sites) == 2 * (len(lab.sites.special) + 20)
    url, exp = truth[0]
    assert url == f"http://lab.test:{lab.http_port}/" and exp.site == "lab.test"
    to_https = lab.expected("to-https.lab.test", "http")
    assert to_https.final_url(lab.http_port, lab.https_port) == (
        f"https://to-https.lab.test:{lab.https_port}/"
    )
    assert len(lab.http_urls("https")) == len(lab.host_port_targets()) == len(lab.sites)
    assert lab.host_port_targets()[-1] == f"site-00020.lab.test:{lab.http_port}"


async def test_https_verifies_with_the_generated_certificates(
    lab: Lab, session: aiohttp.ClientSession
) -> None:
    assert lab.certs is not None
    trusted_self = ssl.create_default_context(cafile=str(lab.certs.self_signed.cert))
    url = f"https://127.0.0.1:{lab.https_port}/"
    async with session.get(url, headers={"Host": "utf8.lab.test"}, ssl=trusted_self) as resp:
        assert resp.status == 200
    trusted_ca = ssl.create_default_context(cafile=str(lab.certs.ca.cert))
    port = lab.tls_ports["ca-signed"]
    async with session.get(f"https://127.0.0.1:{port}/", ssl=trusted_ca) as resp:
        assert resp.status == 404  # the right certificate; no Host known
    for variant, reason in (("expired", "expired"), ("wrong-host", "match")):
        port = lab.tls_ports[variant]
        with pytest.raises(aiohttp.ClientConnectorCertificateError, match=reason):
            await session.get(f"https://127.0.0.1:{port}/", ssl=trusted_ca)
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await session.get(url, ssl=ssl.create_default_context())


async def test_keep_alive_reuses_one_connection(lab: Lab) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(5):
            resp, _ = await _get(session, lab, "http", "utf8.lab.test")
            assert resp.headers["Connection"] == "keep-alive"
    assert lab.http is not None and lab.http.accepted == 1 and lab.http.requests == 5


async def test_connection_close_option(session: aiohttp.ClientSession) -> None:
    async with Lab(sites=0, dns_port=None, hostile=False, keep_alive=False) as lab:
        for _ in range(3):
            resp, _ = await _get(session, lab, "http", "utf8.lab.test")
            assert resp.headers["Connection"] == "close"
        assert lab.http is not None and lab.http.accepted == 3


async def test_pipelined_requests_answer_in_order(lab: Lab) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", lab.http_port)
    try:
        hosts = ["cross-b.lab.test", "utf8.lab.test", "status-404.lab.test"]
        writer.write(b"".join(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % h.encode() for h in hosts))
        writer.write(b"GET / HTTP/1.1\r\nHost: lab.test\r\nConnection: close\r\n\r\n")
        async with asyncio.timeout(5):
            data = await reader.read(-1)
    finally:
        writer.close()
    statuses = re.findall(rb"HTTP/1.1 (\d+)", data)
    titles = [t.decode() for t in re.findall(rb"<title>(.*?)</title>", data)]
    assert statuses == [b"200", b"200", b"404", b"200"]
    assert titles[0] == "Cross-host target B" and titles[-1] == "aioscout lab"


async def test_malformed_request_gets_400_and_close(lab: Lab) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", lab.http_port)
    try:
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        async with asyncio.timeout(5):
            data = await reader.read(-1)
    finally:
        writer.close()
    assert data.startswith(b"HTTP/1.1 400 ")


async def test_latency_option_is_applied(session: aiohttp.ClientSession) -> None:
    async with Lab(sites=0, dns_port=None, hostile=False, latency=0.05) as lab:
        start = time.perf_counter()
        resp, _ = await _get(session, lab, "http", "utf8.lab.test")
        elapsed = time.perf_counter() - start
    assert resp.headers["X-Lab-Latency"] == "0.05"
    assert elapsed >= 0.05


@pytest.mark.slow
async def test_slow_sites_hold_back_the_response(lab: Lab, session: aiohttp.ClientSession) -> None:
    for label in sorted(_SLOW):
        name = f"{label}.lab.test"
        exp = lab.expected(name)
        start = time.perf_counter()
        _, body = await _get(session, lab, "http", name)
        assert time.perf_counter() - start >= exp.delay == 0.5
        assert _title_of(body, exp.charset) == exp.title


async def test_echo_reflects_the_request(lab: Lab, session: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{lab.http_port}/path?a=1&b=%C3%A9"
    async with session.post(
        url,
        headers={"Host": "echo.lab.test", "X-Probe": "yes", "Cookie": "sid=abc; theme=dark"},
        data=b"payload <&>",
    ) as resp:
        body = await resp.read()
    assert _title_of(body, "utf-8") == "echo" == lab.expected("echo.lab.test").title
    echo = decode_echo(body)
    assert echo["method"] == "POST" and echo["path"] == "/path?a=1&b=%C3%A9"
    assert echo["query"] == "a=1&b=%C3%A9" and echo["host"] == "echo.lab.test"
    assert echo["body"] == "payload <&>" and echo["cookies"] == {"sid": "abc", "theme": "dark"}
    assert ["X-Probe", "yes"] in echo["headers"]  # type: ignore[operator]
    async with session.get(
        f"http://127.0.0.1:{lab.http_port}/json", headers={"Host": "echo.lab.test"}
    ) as resp:
        assert resp.content_type == "application/json"
        assert decode_echo(await resp.read())["method"] == "GET"


async def test_favicons_and_tech_fingerprints(lab: Lab, session: aiohttp.ClientSession) -> None:
    for name in ("favicon.lab.test", "icon-link.lab.test"):
        exp = lab.expected(name)
        assert exp.favicon_path is not None and exp.favicon is not None
        resp, data = await _get(session, lab, "http", name, exp.favicon_path)
        assert resp.status == 200 and data == exp.favicon
        assert favicon_hash(data) == exp.favicon_mmh3
    _, page = await _get(session, lab, "http", "icon-link.lab.test")
    assert b'<link rel="icon" href="/static/icon.png">' in page
    resp, _ = await _get(session, lab, "http", "icon-link.lab.test", "/favicon.ico")
    assert resp.status == 404
    resp, body = await _get(session, lab, "http", "tech.lab.test")
    assert resp.headers["Server"] == "nginx/1.24.0" == lab.expected("tech.lab.test").server
    assert resp.headers["X-Powered-By"] == "PHP/8.2"
    assert {"PHPSESSID", "wordpress_test_cookie"} <= set(resp.cookies)
    assert b'<meta name="generator" content="WordPress 6.4">' in body


async def test_gzip_and_chunked_bodies(lab: Lab, session: aiohttp.ClientSession) -> None:
    resp, body = await _get(session, lab, "http", "gzip.lab.test")
    assert resp.headers["Content-Encoding"] == "gzip" and b"Compressed page" in body
    resp, body = await _get(session, lab, "http", "chunked.lab.test")
    assert resp.headers["Transfer-Encoding"] == "chunked" and b"Chunked page" in body


async def test_websocket_echo(lab: Lab, session: aiohttp.ClientSession) -> None:
    assert lab.expected("ws.lab.test").websocket
    url = f"http://127.0.0.1:{lab.http_port}/ws"
    async with session.ws_connect(url, headers={"Host": "ws.lab.test"}) as ws:
        await ws.send_str("ping?")
        msg = await ws.receive(timeout=5)
        assert msg.data == "ping?"
    resp, _ = await _get(session, lab, "http", "ws.lab.test", "/ws")
    assert resp.status == 426


@pytest.mark.skipif(importlib.util.find_spec("aioscout.lab.dns") is None, reason="no lab DNS")
async def test_lab_dns_maps_site_names_to_listening_addresses(lab: Lab) -> None:
    import dns.asyncquery
    import dns.message

    assert lab.dns_port is not None and lab.dns_address == f"127.0.0.1:{lab.dns_port}"
    for name in ("utf8.lab.test", "cross-b.lab.test", "to-https.lab.test", "site-00003.lab.test"):
        query = dns.message.make_query(name, "A")
        answer = await dns.asyncquery.udp(query, "127.0.0.1", timeout=2, port=lab.dns_port)
        addresses = {rr.address for rrset in answer.answer for rr in rrset}
        assert addresses == {lab.address_of(name)}, name


async def test_lab_refuses_non_loopback_addresses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Lab(addresses=["0.0.0.0"])
    with pytest.raises(ValueError, match="IP literal"):
        Lab(addresses=["localhost"])
    with pytest.raises(ValueError, match="loopback"):
        control.up(tmp_path / "lab.json", addresses=["192.0.2.1"])


def test_expectations_follow_redirect_rules() -> None:
    cat = Catalogue(generated=0)
    assert cat.expected("chain.lab.test").hops == 3
    assert cat.expected("chain.lab.test").final_host == "chain-end.lab.test"
    assert cat.expected("loop.lab.test").error == "redirect_loop"
    assert cat.expected("deep.lab.test").error == "too_many_redirects"
    assert cat.expected("deep.lab.test", max_redirects=20).title == "Too deep to reach"
    assert cat.expected("redirect-ftp.lab.test").error == "blocked_scheme"
    assert cat.expected("to-https.lab.test", "https").hops == 0
    with pytest.raises(ValueError, match="no such lab site"):
        cat.expected("site-00001.lab.test")


@pytest.mark.slow
def test_control_up_status_down(tmp_path: Path) -> None:
    state_file = tmp_path / "lab.json"
    assert control.status(state_file) is None
    state = control.up(state_file, sites=5, dns_names=10, hostile=False, timeout=20)
    try:
        assert state_file.exists() and control.status(state_file) == state
        assert state["addresses"][0] == "127.0.0.1" and state["http_port"] > 0
        with pytest.raises(control.LabError, match="already running"):
            control.up(state_file)
    finally:
        assert control.down(state_file, timeout=10)
    assert control.status(state_file) is None and not state_file.exists()
    assert control.down(state_file) is False


def test_lab_serves_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def fetch_both() -> list[tuple[int, str | None]]:
        async with (
            Lab(sites=2, dns_port=None, hostile=False) as lab,
            aiohttp.ClientSession() as session,
        ):
            seen = []
            for scheme in ("http", "https"):
                resp, body = await _get(session, lab, scheme, "site-00002.lab.test")
                seen.append((resp.status, _title_of(body, "utf-8")))
            return seen

    title = generated_title(2)
    assert uvloop.run(fetch_both()) == [(200, title), (200, title)]


@pytest.mark.skipif(importlib.util.find_spec("aioscout.lab.hostile") is None, reason="no farm")
async def test_lab_starts_the_hostile_farm_on_loopback() -> None:
    async with Lab(sites=0, dns_port=None, hostile=True) as lab:
        assert lab.hostile and lab.hostile_farm is not None
        assert all(host == "127.0.0.1" and port > 0 for host, port in lab.hostile.values())
        assert lab.state()["hostile"] == {k: [h, p] for k, (h, p) in lab.hostile.items()}
    assert lab.hostile_farm is None

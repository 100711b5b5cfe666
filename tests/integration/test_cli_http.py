"""``aioscout http`` and ``aioscout fetch`` in a subprocess against the lab and real proxies."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from aioscout.lab import Lab, decode_echo
from tests._support.cli import Run, aioscout, jsonl
from tests._support.http_servers import HOST, web_server
from tests._support.proxies import PASSWORD, USER, echo_app

pytestmark = pytest.mark.slow  # every test starts the command line


def lab_args(lab: Lab) -> list[str]:
    assert lab.dns_address is not None
    return ["--resolver", lab.dns_address, "--no-progress", "--timeout", "5"]


def echo_of(record: dict[str, Any]) -> dict[str, Any]:
    assert record["error"] is None, record["error"]
    return decode_echo(record["body_preview"].encode())


def header(echo: dict[str, Any], name: str) -> str | None:
    return next((v for k, v in echo["headers"] if k.lower() == name.lower()), None)


async def test_request_shaping_reaches_the_echo_site(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    upload = tmp_path / "upload.txt"
    upload.write_bytes(b"file-content-123")
    body_file = tmp_path / "body.bin"
    body_file.write_bytes(b"raw=body&from=file")
    async with Lab(sites=20, hostile=False) as lab:
        url = lab.url("echo.lab.test", path="/shape")
        common = [*lab_args(lab), "-o", str(out), "--body-preview", "100000", url]
        runs = {
            "json": [
                "-X", "POST", "--json-body", '{"a": 1}', "--param", "k=1", "--param", "k=2",
                "-H", "X-Test: yes", "--cookie", "c1=v1", "--user-agent", "shape/1",
            ],
            "form": ["-X", "PUT", "--form", "f=1", "--file", f"up={upload}"],
            "data": ["-X", "PATCH", "--data-file", str(body_file)],
            "urlencoded": ["-X", "DELETE", "--form", "x=1", "--form", "y=two"],
        }  # fmt: skip
        echoes = {}
        for name, args in runs.items():
            run = await aioscout("http", *args, *common)
            assert run.code == 0, run.stderr
            (record,) = jsonl(out)
            echoes[name] = echo_of(record)
    js = echoes["json"]
    assert (js["method"], js["path"], js["body"]) == ("POST", "/shape?k=1&k=2", '{"a": 1}')
    assert header(js, "X-Test") == "yes" and header(js, "User-Agent") == "shape/1"
    assert header(js, "Content-Type") == "application/json"
    assert js["cookies"] == {"c1": "v1"}
    form = echoes["form"]
    assert form["method"] == "PUT"
    assert (header(form, "Content-Type") or "").startswith("multipart/form-data")
    assert "file-content-123" in form["body"] and 'name="up"' in form["body"]
    assert 'filename="upload.txt"' in form["body"] and 'name="f"' in form["body"]
    assert (echoes["data"]["method"], echoes["data"]["body"]) == ("PATCH", "raw=body&from=file")
    enc = echoes["urlencoded"]
    assert (enc["method"], enc["body"]) == ("DELETE", "x=1&y=two")
    assert header(enc, "Content-Type") == "application/x-www-form-urlencoded"


async def test_verify_with_the_lab_ca(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    async with Lab(sites=20, hostile=False) as lab:
        assert lab.certs is not None
        signed = f"https://site-00001.lab.test:{lab.tls_ports['ca-signed']}/"
        self_signed = lab.url("site-00001.lab.test", "https")
        base = [*lab_args(lab), "-o", str(out), signed, self_signed]
        run = await aioscout("http", "--verify", "--ca-file", str(lab.certs.ca.cert), *base)
        assert run.code == 0, run.stderr
        verified = {r["input"]: r for r in jsonl(out)}
        run = await aioscout("http", *base)
        assert run.code == 0, run.stderr
        lenient = {r["input"]: r for r in jsonl(out)}
    assert (verified[signed]["error"], verified[signed]["status"]) == (None, 200)
    assert verified[self_signed]["error"]["kind"] == "tls"
    assert [lenient[u]["status"] for u in (signed, self_signed)] == [200, 200]


async def test_port_and_path_expansion(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    async with Lab(sites=20, hostile=False) as lab:
        http_port, https_port = lab.http_port, lab.https_port
        run = await aioscout(
            "http", *lab_args(lab), "-o", str(out), "echo.lab.test",
            "-p", f"{http_port},https:{https_port}", "--path", "/a", "--path", "/b/c",
        )  # fmt: skip
    assert run.code == 0, run.stderr
    records = jsonl(out)
    want = {
        f"http://echo.lab.test:{http_port}/a",
        f"http://echo.lab.test:{http_port}/b/c",
        f"https://echo.lab.test:{https_port}/a",
        f"https://echo.lab.test:{https_port}/b/c",
    }
    assert len(records) == 4
    assert {r["url"] for r in records} == want
    assert {r["status"] for r in records} == {200}


async def test_match_and_filter_drop_exactly_what_they_say(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    async with Lab(sites=20, hostile=False) as lab:
        ok = lab.url("site-00001.lab.test")
        not_found = lab.url("status-404.lab.test")
        tech = lab.url("tech.lab.test")
        refused = "http://127.91.0.1:1/"
        targets = [ok, not_found, tech, refused]
        runs: dict[str, tuple[Run, list[dict[str, Any]]]] = {}
        for name, flags in {
            "fc": ["--filter-code", "404"],
            "mc": ["--match-code", "200"],
            "ms": ["--match-string", "wordpress"],
            "fs": ["--filter-regex", "^Generated site"],
            "ml": ["--match-code", "200-299", "--filter-string", "lab blog"],
        }.items():
            run = await aioscout("http", *lab_args(lab), "-o", str(out), *flags, *targets)
            assert run.code == 0, run.stderr
            runs[name] = (run, jsonl(out))
    kept = {name: sorted(r["input"] for r in recs) for name, (_, recs) in runs.items()}
    assert kept["fc"] == sorted([ok, tech, refused])  # errors match no filter: kept
    assert kept["mc"] == [ok, tech]
    assert kept["ms"] == [tech]
    assert kept["fs"] == sorted([not_found, tech, refused])
    assert kept["ml"] == [ok]
    for name, (run, recs) in runs.items():
        dropped = len(targets) - len(recs)
        assert f"{len(targets)} done" in run.stderr, (name, run.stderr)
        assert f"{dropped} filtered" in run.stderr, (name, run.stderr)


async def test_no_credential_reaches_output(tmp_path: Path, http_proxy_port: int) -> None:
    secrets = [PASSWORD, "tok-S3CRET-1", "ck-S3CRET-2", "wrong-S3CRET-3"]
    out = tmp_path / "out.jsonl"
    async with web_server(echo_app()) as port:
        live = f"http://{HOST}:{port}/"
        dead = "http://127.91.0.1:1/"
        shared = [
            "-H", f"Authorization: Bearer {secrets[1]}", "--cookie", f"sid={secrets[2]}",
            "--include-headers", "--timeout", "5", "--no-progress", live, dead,
        ]  # fmt: skip
        runs = [
            await aioscout(
                "http", "--proxy", f"http://{USER}:{PASSWORD}@{HOST}:{http_proxy_port}",
                "-o", str(out), *shared,
            ),
            await aioscout(
                "http", "--proxy", f"http://{HOST}:{http_proxy_port}",
                "--proxy-auth", f"{USER}:{PASSWORD}", *shared,
            ),
            await aioscout(
                "http", "--proxy", f"http://{USER}:{secrets[3]}@{HOST}:{http_proxy_port}", *shared
            ),
        ]  # fmt: skip
    first = {r["input"]: r for r in jsonl(out)}
    assert first[live]["status"] == 200 and first[live]["error"] is None
    assert first[dead]["status"] != 200  # the proxy's answer (502) or an error
    assert runs[1].stdout.count("\n") == 2
    denied = [orjson.loads(line) for line in runs[2].stdout.splitlines()]
    assert {r["error"]["kind"] for r in denied} == {"proxy"}
    texts = [out.read_text()] + [t for r in runs for t in (r.stdout, r.stderr)]
    for text in texts:
        for secret in secrets:
            assert secret not in text


async def test_fetch_downloads_with_sha256(tmp_path: Path) -> None:
    out, directory = tmp_path / "fetched.jsonl", tmp_path / "dl"
    async with Lab(sites=20, hostile=False) as lab:
        urls = [lab.url("large.lab.test"), lab.url("favicon.lab.test", path="/favicon.ico")]
        listing = tmp_path / "urls.txt"
        listing.write_text("\n".join([*urls, "ftp://nope.example/"]) + "\n")
        run = await aioscout(
            "fetch", *lab_args(lab), "-l", str(listing), "-d", str(directory), "-o", str(out),
            "--per-host", "1", "-c", "2",
        )  # fmt: skip
    assert run.code == 0, run.stderr
    records = {r["input"]: r for r in jsonl(out)}
    assert len(records) == 3
    assert records["ftp://nope.example/"]["error"]["kind"] == "invalid_input"
    for url in urls:
        record = records[url]
        assert (record["error"], record["status"]) == (None, 200)
        assert os.path.dirname(record["path"]) == str(directory)
        data = (directory / os.path.basename(record["path"])).read_bytes()
        assert record["size"] == len(data) and record["sha256"] == hashlib.sha256(data).hexdigest()
    assert records[urls[0]]["size"] > 2_000_000


async def test_probe_flags_through_the_cli(tmp_path: Path) -> None:
    out, store = tmp_path / "out.jsonl", tmp_path / "store"
    async with Lab(sites=20, hostile=False) as lab:
        icon = lab.expected("favicon.lab.test").favicon_mmh3
        assert icon is not None
        urls = [lab.url(f"{s}.lab.test") for s in ("favicon", "tech", "site-00001")]
        urls.append(lab.url("ws.lab.test", path="/ws"))
        run = await aioscout(
            "http", *lab_args(lab), "-o", str(out), "--favicon", "--tech", "--websocket",
            "--http2", "--store-responses", str(store), "--filter-favicon", str(icon), *urls,
        )  # fmt: skip
    assert run.code == 0, run.stderr
    records = {r["input"]: r for r in jsonl(out)}
    assert set(records) == set(urls[1:]) and "1 filtered" in run.stderr
    assert "WordPress" in {t.partition(":")[0] for t in records[urls[1]]["tech"]}
    assert [records[u]["websocket"] for u in urls[1:]] == [False, False, True]
    assert {records[u]["http2"] for u in urls[1:]} == {False}
    for url in urls[1:]:
        assert (store / records[url]["stored"]).is_file()

"""A server that echoes the user's secrets never gets them into a record or a stored response.

The echo server puts every request header it receives (plainly, and the whole
request head in base64) into its title, body, response headers and Location;
it also answers with control characters in its title and headers. The records
(on both client paths), the JSON Lines, CSV and SQLite outputs of the command
line, and the stored responses must hold none of the secrets and no control
character.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioscout._config import HttpOptions, Timeouts
from aioscout._models import HttpResult
from aioscout.probes._http_common import plan_proxy
from aioscout.probes._http_secrets import Redactor, clean_text, user_secrets
from tests._support.http_servers import (
    HOST,
    open_probe,
    raw_server,
    read_request_head,
    target,
)
from tests.integration._cli import run_cli

TIMEOUTS = Timeouts(connect=1.0, read=2.0, total=5.0)
BEARER = "tok3n-bearer-9f8e7d"
API_KEY = "ap1-key-0c4f2b"
COOKIE = "c00kie-7a6b5c"
SECRETS = (BEARER, API_KEY, COOKIE)
HEADERS = (("Authorization", f"Bearer {BEARER}"), ("X-Api-Key", API_KEY))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            yield from _strings(getattr(value, name))


def _assert_clean(texts: list[str]) -> None:
    blob = "\n".join(texts)
    for secret in SECRETS:
        assert secret not in blob
        assert base64.b64encode(secret.encode()).decode().rstrip("=")[:12] not in blob
    bad = [t for t in texts if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in t)]
    assert bad == []


async def _reflect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await read_request_head(reader)
    lines = head.decode("latin-1").split("\r\n")[1:]
    values = " ".join(line.partition(":")[2].strip() for line in lines if line)
    encoded = base64.b64encode(head).decode()
    body = (
        f"<html><head><title>\x1b[2J{values} \x07 {encoded[:40]}</title></head>"
        f"<body>{values}\n{encoded}</body></html>"
    ).encode()
    echo = "; ".join(line for line in lines if line).encode("latin-1")
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Echo: %s\r\nX-Bell: a\x07b\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (echo, len(body), body)
    )
    await writer.drain()


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "aiohttp"])
async def test_echoed_secrets_and_control_bytes_never_reach_the_record(
    fast_path: bool, tmp_path: Path
) -> None:
    stored = tmp_path / "stored"
    options = HttpOptions(
        headers=HEADERS,
        cookies=() if fast_path else (("sid", COOKIE),),
        include_headers=True,
        body_preview=4000,
        store_responses=str(stored),
        fast_path=fast_path,
    )
    async with raw_server(_reflect) as port, open_probe(options, timeouts=TIMEOUTS) as probe:
        url = f"http://{HOST}:{port}/"
        record: HttpResult = await probe.probe(url, target(url))
    assert record.error is None and record.status == 200
    assert record.title is not None and "***" in record.title
    _assert_clean(list(_strings(record)))
    files = [p for p in stored.rglob("*") if p.is_file()]
    assert files
    raw = b"".join(p.read_bytes() for p in files)
    for secret in SECRETS:
        assert secret.encode() not in raw


@pytest.mark.slow
async def test_the_output_files_hold_no_echoed_secret(tmp_path: Path) -> None:
    async with raw_server(_reflect) as port:
        url = f"http://{HOST}:{port}/"
        common = ["-H", f"Authorization: Bearer {BEARER}", "-H", f"X-Api-Key: {API_KEY}"]
        common += ["--cookie", f"sid={COOKIE}", "--include-headers", "--body-preview", "4000"]
        outputs = {
            "jsonl": ["-o", str(tmp_path / "out.jsonl")],
            "csv": ["-o", str(tmp_path / "out.csv"), "--csv"],
            "sqlite": ["-o", f"sqlite:///{tmp_path / 'out.db'}"],
        }
        for args in outputs.values():
            result = await run_cli("http", url, *common, *args, "--timeout", "5")
            assert result.returncode == 0, result.stderr
    texts = [(tmp_path / "out.jsonl").read_text(), (tmp_path / "out.csv").read_text()]
    with sqlite3.connect(tmp_path / "out.db") as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            texts += [str(row) for row in db.execute(f"SELECT * FROM {table}")]
    blob = "\n".join(texts)
    assert "***" in blob
    for secret in SECRETS:
        assert secret not in blob
        assert base64.b64encode(secret.encode()).decode()[:12] not in blob


@pytest.mark.parametrize("lead", range(6))
def test_base64_forms_are_masked_at_every_alignment(lead: int) -> None:
    redactor = Redactor([API_KEY])
    blob = base64.b64encode(b"x" * lead + API_KEY.encode() + b"-tail").decode()
    assert "***" in redactor.redact(blob)
    assert "***" in redactor.redact(base64.urlsafe_b64encode(API_KEY.encode()).decode())


@pytest.mark.parametrize("password", ["p", "pw", "s3cret-pass"])
def test_proxy_credentials_of_any_length_are_masked(password: str) -> None:
    options = HttpOptions(proxy=f"http://user:{password}@127.0.0.1:3128")
    redactor = Redactor(user_secrets(options, plan_proxy(options).secrets))
    basic = base64.b64encode(f"user:{password}".encode()).decode()
    echoed = f"via http://user:{password}@127.0.0.1:3128 auth Basic {basic} user:{password}"
    masked = redactor.redact(echoed)
    assert basic not in masked and f"user:{password}" not in masked
    if len(password) >= 3:
        assert password not in masked


def test_control_characters_are_dropped_and_spacing_becomes_spaces() -> None:
    assert clean_text("a\x1b[2Jb\x00c\x7fd\x85e\tf\ng") == "a[2Jbcde f g"
    assert clean_text("plain title") == "plain title"

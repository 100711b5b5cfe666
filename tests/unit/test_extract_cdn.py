"""CDN/WAF hints from response headers."""

from __future__ import annotations

import pytest

from aioscout.extract.cdn import cdn_hint


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("Server", "cloudflare"), ("CF-RAY", "8a1b2c3d4e5f-AMS")], "cloudflare"),
        ([("cf-cache-status", "HIT")], "cloudflare"),
        ([("X-Amz-Cf-Id", "abc=="), ("Via", "1.1 x.cloudfront.net (CloudFront)")], "cloudfront"),
        ([("Via", "1.1 abc.cloudfront.net (CloudFront)")], "cloudfront"),
        ([("X-Served-By", "cache-ams21023-AMS"), ("X-Cache", "HIT")], "fastly"),
        ([("Server", "AkamaiGHost")], "akamai"),
        ([("X-Sucuri-ID", "18015")], "sucuri"),
        ([("X-Iinfo", "9-1234-0 NNNN CT(0 0 0)")], "incapsula"),
        ([("Set-Cookie", "visid_incap_123=abc; path=/")], "incapsula"),
        ([("X-CDN", "Imperva")], "incapsula"),
        ([("Server", "nginx/1.24.0"), ("Content-Type", "text/html")], None),
        ([], None),
    ],
)
def test_cdn_hint(headers: list[tuple[str, str]], expected: str | None) -> None:
    assert cdn_hint(headers) == expected


def test_presence_header_beats_server_value() -> None:
    assert cdn_hint([("Server", "AkamaiGHost"), ("CF-Ray", "1-AMS")]) == "cloudflare"

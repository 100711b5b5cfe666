"""A CDN or WAF hint from response headers."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["cdn_hint"]

# Headers whose mere presence names the provider (lower-case name → provider).
_BY_HEADER: dict[str, str] = {
    "cf-ray": "cloudflare",
    "cf-cache-status": "cloudflare",
    "cf-mitigated": "cloudflare",
    "x-amz-cf-id": "cloudfront",
    "x-amz-cf-pop": "cloudfront",
    "x-sucuri-id": "sucuri",
    "x-sucuri-cache": "sucuri",
    "x-iinfo": "incapsula",
    "x-akamai-transformed": "akamai",
    "x-akamai-request-id": "akamai",
    "akamai-grn": "akamai",
    "akamai-cache-status": "akamai",
    "x-fastly-request-id": "fastly",
    "fastly-debug-digest": "fastly",
    "x-azure-ref": "azure",
    "x-msedge-ref": "azure",
    "x-fd-healthprobe": "azure",
    "x-goog-generation": "google",
    "x-vercel-id": "vercel",
    "x-vercel-cache": "vercel",
    "x-nf-request-id": "netlify",
    "x-bunnycdn-request-id": "bunnycdn",
    "cdn-pullzone": "bunnycdn",
    "x-77-nzt": "cdn77",
    "x-edgeconnect-midmile-rtt": "akamai",
    "x-hw": "highwinds",
    "x-edge-location": "keycdn",
    "x-ws-request-id": "wangsu",
    "x-swift-cachetime": "alibaba",
    "eagleid": "alibaba",
    "x-bce-request-id": "baidu",
    "x-daa-tunnel": "tencent",
    "x-nws-log-uuid": "tencent",
    "x-powered-by-360wzb": "360",
    "x-barracuda-url": "barracuda",
    "x-distil-cs": "distil",
    "x-datadome": "datadome",
    "x-datadome-cid": "datadome",
    "x-kinsta-cache": "kinsta",
    "x-wa-info": "f5",
    "x-cnection": "f5",
}

# (lower-case header, substring of the lower-case value) → provider; first match wins.
_BY_VALUE: tuple[tuple[str, str, str], ...] = (
    ("server", "cloudflare", "cloudflare"),
    ("server", "cloudfront", "cloudfront"),
    ("via", "cloudfront", "cloudfront"),
    ("x-cache", "cloudfront", "cloudfront"),
    ("server", "akamaighost", "akamai"),
    ("server", "akamainetstorage", "akamai"),
    ("server", "akamai", "akamai"),
    ("x-cache", "akamai", "akamai"),
    ("x-served-by", "cache-", "fastly"),
    ("via", "varnish", "fastly"),
    ("x-cache", "fastly", "fastly"),
    ("server", "fastly", "fastly"),
    ("server", "sucuri", "sucuri"),
    ("x-cdn", "incapsula", "incapsula"),
    ("x-cdn", "imperva", "incapsula"),
    ("set-cookie", "incap_ses_", "incapsula"),
    ("set-cookie", "visid_incap_", "incapsula"),
    ("set-cookie", "__cf_bm=", "cloudflare"),
    ("set-cookie", "ak_bmsc=", "akamai"),
    ("set-cookie", "datadome=", "datadome"),
    ("server", "bigip", "f5"),
    ("set-cookie", "bigipserver", "f5"),
    ("set-cookie", "ts01", "f5"),
    ("server", "ddos-guard", "ddos-guard"),
    ("server", "stackpath", "stackpath"),
    ("server", "netlify", "netlify"),
    ("server", "vercel", "vercel"),
    ("server", "bunnycdn", "bunnycdn"),
    ("server", "cdn77", "cdn77"),
    ("server", "keycdn", "keycdn"),
    ("server", "gws", "google"),
    ("server", "google frontend", "google"),
    ("via", "google", "google"),
    ("server", "ecacc", "edgecast"),
    ("server", "ecs ", "edgecast"),
    ("server", "ecd ", "edgecast"),
    ("server", "azure", "azure"),
    ("server", "tengine", "alibaba"),
    ("server", "yunjiasu", "baidu"),
    ("server", "jdcloud", "jdcloud"),
    ("server", "qrator", "qrator"),
    ("server", "wangsu", "wangsu"),
    ("server", "cdnetworks", "cdnetworks"),
    ("server", "barracuda", "barracuda"),
    ("server", "awselb", "aws-elb"),
)


def cdn_hint(headers: Sequence[tuple[str, str]]) -> str | None:
    """Name the CDN or WAF in front of a site from its response headers, or ``None``.

    Returns a lower-case provider name such as ``"cloudflare"``, ``"akamai"``,
    ``"fastly"``, ``"cloudfront"``, ``"incapsula"`` or ``"sucuri"``. Headers
    that name one provider outright (``CF-Ray``, ``X-Amz-Cf-Id``, ...) win
    over header values (``Server: cloudflare``, ``X-Served-By: cache-...``).

    >>> cdn_hint([("Server", "cloudflare"), ("CF-RAY", "8a1-AMS")])
    'cloudflare'
    """
    lowered = [(name.lower(), value.lower()) for name, value in headers[:256]]
    for name, _ in lowered:
        provider = _BY_HEADER.get(name)
        if provider:
            return provider
    for header, needle, provider in _BY_VALUE:
        for name, value in lowered:
            if name == header and needle in value:
                return provider
    return None

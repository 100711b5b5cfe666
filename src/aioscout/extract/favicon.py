"""Favicon hash in the Shodan convention and the icon links of a page."""

from __future__ import annotations

import base64
import re
from html import unescape
from urllib.parse import urljoin, urlsplit

import mmh3

__all__ = ["favicon_hash", "icon_links"]

_LINK = re.compile(r"<link(?=[\s/])", re.IGNORECASE)
_ATTR = re.compile(
    r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""",
)
_ICON_RELS = frozenset({"icon", "apple-touch-icon", "apple-touch-icon-precomposed"})
_MAX_LINKS = 512


def favicon_hash(data: bytes) -> int:
    """Return the Shodan favicon hash of *data*.

    That is the signed 32-bit MurmurHash3 (seed 0) of ``base64.encodebytes(data)``:
    standard base64 with a newline after every 76 characters and at the end.

    >>> favicon_hash(b"")
    0
    """
    return int(mmh3.hash(base64.encodebytes(data)))


def _attrs(tag: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for m in _ATTR.finditer(tag):
        name = m.group(1).lower()
        if name not in attrs:
            value = m.group(2) or m.group(3) or m.group(4) or ""
            attrs[name] = unescape(value)
    return attrs


def icon_links(html: str, base_url: str) -> list[str]:
    """Return the icon URLs a page declares, absolute, in document order, deduplicated.

    Looks at ``<link rel>`` values ``icon``, ``shortcut icon`` and
    ``apple-touch-icon``; hrefs are resolved against *base_url* (or a
    ``<base href>`` is not honoured) and only ``http``/``https`` results are
    kept. Falling back to ``/favicon.ico`` is the caller's choice.

    >>> icon_links('<link rel="shortcut icon" href="/f.ico">', "http://a.test/x/")
    ['http://a.test/f.ico']
    """
    found: list[str] = []
    seen: set[str] = set()
    pos = 0
    for _ in range(_MAX_LINKS):
        m = _LINK.search(html, pos)
        if m is None:
            break
        end = html.find(">", m.end())
        if end < 0:
            break
        pos = end + 1
        attrs = _attrs(html[m.end() : end])
        rels = set(attrs.get("rel", "").lower().split())
        href = attrs.get("href", "").strip()
        if not href or not rels & _ICON_RELS:
            continue
        try:
            url = urljoin(base_url, href)
            scheme = urlsplit(url).scheme
        except ValueError:
            continue
        if scheme in ("http", "https") and url not in seen:
            seen.add(url)
            found.append(url)
    return found

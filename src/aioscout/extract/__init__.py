"""Pure extractors: bytes in, fields out. No I/O, no imports from probes or the engine.

- :mod:`~aioscout.extract.title`: charset-aware decoding and ``<title>`` extraction.
- :mod:`~aioscout.extract.tls`: TLS session and certificate facts.
- :mod:`~aioscout.extract.favicon`: Shodan favicon hash and icon links.
- :mod:`~aioscout.extract.tech`: technology fingerprints (Wappalyzer data, MIT).
- :mod:`~aioscout.extract.cdn`: CDN/WAF hint from headers.
- :mod:`~aioscout.extract.text`: word/line counts, body preview, control-character cleaner.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aioscout.extract.cdn import cdn_hint
    from aioscout.extract.favicon import favicon_hash, icon_links
    from aioscout.extract.tech import detect
    from aioscout.extract.text import clean_text, count_words_lines, preview
    from aioscout.extract.title import decode_html, extract_title, normalize_charset
    from aioscout.extract.tls import tls_info

# Imported on first use: the technology data and the certificate parser cost a
# tenth of a second to load, and a plain probe needs neither.
_HOMES = {
    "cdn_hint": "cdn",
    "clean_text": "text",
    "count_words_lines": "text",
    "decode_html": "title",
    "detect": "tech",
    "extract_title": "title",
    "favicon_hash": "favicon",
    "icon_links": "favicon",
    "normalize_charset": "title",
    "preview": "text",
    "tls_info": "tls",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "cdn_hint",
    "clean_text",
    "count_words_lines",
    "decode_html",
    "detect",
    "extract_title",
    "favicon_hash",
    "icon_links",
    "normalize_charset",
    "preview",
    "tls_info",
]

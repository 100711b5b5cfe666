"""Charset-aware decoding of an HTML body and extraction of its ``<title>``.

Why this order: browsers pick the encoding by BOM, then the Content-Type
charset, then a ``<meta>`` prescan of the first bytes, then a guess. We do the
same, with the WHATWG label aliases (gb2312/gbk → gb18030, latin-1 →
windows-1252, ...), so a title reads the way a person sees it in a browser.
One deliberate exception: a header that says UTF-8 for a body that is not
valid UTF-8 is plainly wrong (a server default), so the meta/guess steps win.

The title scan is linear: every regex is possessive, and every jump (past a
tag, a comment, a script) moves strictly forward. A page whose head before the
first ``<title`` holds only text, a doctype and ordinary tags is checked with
one regex; anything else goes through the tokenizer.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import html
import re

from .text import clean_text

__all__ = ["decode_html", "extract_title", "normalize_charset"]

# WHATWG label → the Python codec that decodes like a browser does.
_ALIASES: dict[str, str] = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "gb_2312": "gb18030",
    "chinese": "gb18030",
    "csgb2312": "gb18030",
    "iso-ir-58": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "gb18030": "gb18030",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "cp819": "cp1252",
    "ibm819": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "windows-1252": "cp1252",
    "x-user-defined": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "euc-kr": "cp949",
    "euckr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601-1989": "cp949",
    "korean": "cp949",
    "windows-949": "cp949",
    "big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-unicode20utf8": "utf-8",
}

_META_WINDOW = 8192
_DETECT_WINDOW = 32 * 1024
_TITLE_RAW_CAP = 16 * 1024

_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([^\s"';,]+)""", re.IGNORECASE)
_META_TAG = re.compile(rb"<meta(?=[\s/])", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([^\s"'/>;,]+)""", re.IGNORECASE)
_CHARSET_WORD = re.compile(rb"charset", re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def normalize_charset(label: str | None) -> str | None:
    """Map a charset label to the Python codec a browser would decode it with.

    Returns ``None`` for a missing or unknown label.

    >>> normalize_charset("GB2312")
    'gb18030'
    """
    if not label:
        return None
    key = label.strip().strip("\"'").lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        name = codecs.lookup(key).name
    except (LookupError, ValueError):
        return None
    return _ALIASES.get(name, name)


_BOM_LEADS = (b"\xef", b"\xff", b"\xfe")  # the first bytes of the BOMs _bom knows


def _bom(body: bytes) -> tuple[str, int] | None:
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if body.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if body.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    return None


def _header_charset(content_type: str | None) -> str | None:
    if not content_type or "=" not in content_type:  # "charset=" needs one
        return None
    m = _HEADER_CHARSET.search(content_type)
    if m is None:
        return None
    enc = normalize_charset(m.group(1))
    if enc == "utf-16":
        enc = "utf-16-le"
    return enc


def _strip_comments(window: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        start = window.find(b"<!--", pos)
        if start < 0:
            out.append(window[pos:])
            break
        out.append(window[pos:start])
        end = window.find(b"-->", start + 4)
        if end < 0:
            break
        pos = end + 3
    return b"".join(out)


def _meta_charset(body: bytes) -> str | None:
    head = body[:_META_WINDOW]
    if _CHARSET_WORD.search(head) is None:  # no meta can name one: skip the scan
        return None
    window = _strip_comments(head)
    for m in _META_TAG.finditer(window):
        end = window.find(b">", m.end())
        tag = window[m.end() : end if end >= 0 else len(window)]
        cm = _META_CHARSET.search(tag)
        if cm is None:
            continue
        enc = normalize_charset(cm.group(1).decode("ascii", "replace"))
        if enc is None:
            continue
        # WHATWG: a meta that claims UTF-16 in an ASCII-compatible prescan means UTF-8.
        if enc.startswith("utf-16") or enc.startswith("utf_16"):
            return "utf-8"
        return enc
    return None


def _decodes_cleanly(body: bytes, encoding: str) -> bool:
    """Strict decode that tolerates a multi-byte sequence cut at the end of the head."""
    try:
        codecs.getincrementaldecoder(encoding)(errors="strict").decode(body, final=False)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _double_byte_set(encoding: str, leads: range, trails: list[int]) -> frozenset[str]:
    chars: set[str] = set()
    for lead in leads:
        for trail in trails:
            with contextlib.suppress(UnicodeDecodeError):
                chars.add(bytes((lead, trail)).decode(encoding))
    return frozenset(chars)


@functools.cache
def _common_chars() -> dict[str, frozenset[str]]:
    """The frequent-character tables each CJK standard defines by its own layout."""
    high = list(range(0xA1, 0xFF))
    sjis_trails = [*range(0x40, 0x7F), *range(0x80, 0xFD)]
    return {
        # GB2312 level 1: the 3,755 most frequent Simplified characters.
        "gb18030": _double_byte_set("gb2312", range(0xB0, 0xD8), high),
        # Big5 "frequently used" block (A440-C67E).
        "big5hkscs": _double_byte_set("big5", range(0xA4, 0xC7), [*range(0x40, 0x7F), *high]),
        # JIS X 0208 level-1 kanji.
        "cp932": _double_byte_set("cp932", range(0x88, 0x99), sjis_trails),
    }


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_CJK_SCORE_CHARS = 2000
_SCORE_WINDOW = 8192


def _cjk_score(encoding: str, text: str) -> float:
    """Share of the non-ASCII characters that are plausible in *encoding*'s language."""
    chars = _NON_ASCII.findall(text, 0, _SCORE_WINDOW)[:_CJK_SCORE_CHARS]
    if not chars:
        return 0.0
    common = _common_chars().get(encoding, frozenset())
    good = 0
    hangul = 0
    for ch in chars:
        o = ord(ch)
        if 0x3000 <= o <= 0x303F or 0xFF01 <= o <= 0xFF5E:  # CJK and fullwidth punctuation
            good += 1
        elif encoding == "cp949":
            if 0xAC00 <= o <= 0xD7A3:
                good += 1
                hangul += 1
        elif ch in common or (encoding == "cp932" and 0x3041 <= o <= 0x30FF):
            good += 1
    score = good / len(chars)
    # Korean separates words with spaces; Korean bytes also read as common Chinese.
    if encoding == "cp949" and hangul and text.count(" ") >= 0.15 * hangul:
        score += 0.2
    return score


_CJK_CANDIDATES = ("gb18030", "big5hkscs", "cp932", "cp949")
# Browsers only take these from a BOM, never from a guess (and UTF-7 never).
_NEVER_SNIFFED = frozenset(
    {"utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "utf_7"}
)


def _guess_cjk(sample: bytes) -> str | None:
    best: tuple[float, str] | None = None
    for encoding in _CJK_CANDIDATES:
        try:
            text = codecs.getincrementaldecoder(encoding)(errors="strict").decode(sample, False)
        except UnicodeDecodeError:
            continue
        score = _cjk_score(encoding, text)
        if best is None or score > best[0]:
            best = (score, encoding)
    if best is not None and best[0] >= 0.6:
        return best[1]
    return None


def _detect(body: bytes) -> str:
    sample = body[:_DETECT_WINDOW]
    if sample.isascii() or _decodes_cleanly(sample, "utf-8"):
        return "utf-8"
    cjk = _guess_cjk(sample)
    if cjk is not None:
        return cjk
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_exclusion=list(_NEVER_SNIFFED)).best()
    guess = normalize_charset(best.encoding) if best is not None else None
    if guess is None or guess.replace("-", "_") in _NEVER_SNIFFED:
        return "cp1252"
    return guess


def _mostly_not_utf8(body: bytes) -> bool:
    """Whether bytes served as UTF-8 are plainly another encoding.

    A stray Latin-1 byte in a UTF-8 page (common) must not override the header,
    but a GBK page mislabelled UTF-8 (also common) must: the header loses only
    when undecodable sequences outnumber the non-ASCII characters that decode.
    """
    if _decodes_cleanly(body, "utf-8"):
        return False
    text = body[:_DETECT_WINDOW].decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ch > "\x7f") - bad
    return bad > good


def _choose_encoding(body: bytes, content_type: str | None) -> tuple[str, int]:
    if body[:1] in _BOM_LEADS:
        bom = _bom(body)
        if bom is not None:
            return bom
    header = _header_charset(content_type)
    if header is not None and not (header == "utf-8" and _mostly_not_utf8(body)):
        return header, 0
    meta = _meta_charset(body)
    if meta is not None:
        return meta, 0
    return _detect(body), 0


def _windows_1252_gaps(exc: UnicodeError) -> tuple[str, int]:
    """WHATWG windows-1252 decodes the five bytes Python's cp1252 leaves out as U+0081 etc."""
    if isinstance(exc, UnicodeDecodeError):
        byte = exc.object[exc.start]
        return ("\ufffd" if not 0x80 <= byte <= 0x9F else chr(byte)), exc.start + 1
    raise exc


_C1_ERRORS = "aioscout-windows-1252"
codecs.register_error(_C1_ERRORS, _windows_1252_gaps)


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTML body the way a browser would pick its encoding.

    Order: BOM, then the ``charset`` of *content_type*, then ``<meta charset>``
    or ``<meta http-equiv=Content-Type>`` in the first 8 KB, then detection
    (UTF-8 if it decodes, else charset-normalizer). A header claiming UTF-8 for
    bytes that are mostly not UTF-8 is ignored. Undecodable bytes become U+FFFD.

    >>> decode_html("<title>中文</title>".encode("gbk"), "text/html; charset=gb2312")
    '<title>中文</title>'
    """
    encoding, skip = _choose_encoding(body, content_type)
    errors = _C1_ERRORS if encoding == "cp1252" else "replace"
    try:
        return body[skip:].decode(encoding, errors=errors)
    except LookupError:
        return body[skip:].decode("utf-8", errors="replace")


# -- finding the title the way the HTML tokenizer does ------------------------------------

_WS = "\t\n\f\r "
_ASCII_CASE = re.IGNORECASE | re.ASCII  # tag names fold ASCII letters only ("ſcript" is no script)
# Attributes of a tag up to (not including) its ">": names, "=" and a value
# (quoted values may hold ">" and "<"). Possessive throughout: linear, and it
# stops before an attribute whose quoted value is never closed.
_ATTRS = re.compile(
    rf"""(?:[{_WS}/]++|[^{_WS}/>][^{_WS}/=>]*+(?:[{_WS}]*+=[{_WS}]*+"""
    rf"""(?:"[^"]*+"|'[^']*+'|[^{_WS}>"'][^{_WS}>]*+|(?=>)|\Z)|(?![{_WS}]*+=)))*+"""
)
_MARKUP = re.compile(r"<(?:(!--)|([!?])|(/?)([A-Za-z][^\t\n\f\r />]*+))")
_COMMENT_END = re.compile(r"--!?>")
_SCRIPT_TOKENS = re.compile(r"<!--|-->|<(/?)script[\t\n\f\r />]", _ASCII_CASE)
_CDATA_END = "]]>"
_RAWTEXT = frozenset(
    {"style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea", "title"}
)
_FOREIGN = frozenset({"svg", "math"})
# Start tags that end SVG/MathML content (the HTML standard's "breakout" list).
_BREAKOUT = frozenset(
    {
        *("b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt"),
        *("em", "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li"),
        *("listing", "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span"),
        *("strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var"),
    }
)
_SPECIAL = (
    "script|style|svg|math|template|textarea|xmp|iframe|noembed|noframes|noscript|plaintext|title"
)
# A prefix made only of text, a doctype and ordinary tags whose attribute values
# hold no "<" or ">": where it ends, the tokenizer is in its data state.
_PLAIN = re.compile(
    rf"""(?:[^<]++|<!doctype[^<>]*+>|</?(?!(?:{_SPECIAL})[{_WS}/>])[a-z][^<>"'=`]*+"""
    rf"""(?:=[{_WS}]*+(?:"[^"<>]*+"|'[^'<>]*+'|[^{_WS}<>"'=`]++)[^<>"'=`]*+)*+>)*+""",
    _ASCII_CASE,
)
_FIRST_TITLE = re.compile(r"<title[\t\n\f\r />]", _ASCII_CASE)
_END_CACHE: dict[str, re.Pattern[str]] = {}


def _end_tag(name: str) -> re.Pattern[str]:
    """The "appropriate end tag" of a raw-text element: ``</name`` then space, ``/`` or ``>``."""
    pattern = _END_CACHE.get(name)
    if pattern is None:
        pattern = _END_CACHE[name] = re.compile(rf"</{re.escape(name)}[\t\n\f\r />]", _ASCII_CASE)
    return pattern


def _tag_end(text: str, pos: int) -> int:
    """Index after the ``>`` ending the tag whose attributes start at ``pos``; -1 at EOF."""
    m = _ATTRS.match(text, pos)
    end = pos if m is None else m.end()
    if end < len(text) and text[end] == ">":
        return end + 1
    return -1


def _script_end(text: str, pos: int) -> int:
    """Where the ``</script`` closing a script starts (escaped states included); -1 at EOF."""
    escaped = double = False
    while True:
        m = _SCRIPT_TOKENS.search(text, pos)
        if m is None:
            return -1
        token = m.group()
        if token == "<!--":
            escaped = escaped or not double
            pos = m.start() + 2  # "<!-->" opens and closes
        elif token == "-->":
            escaped = double = False
            pos = m.end()
        elif m.group(1):  # </script
            if not double:
                return m.start()
            double = False
            pos = m.end() - 1
        else:  # <script
            double = double or escaped
            pos = m.end() - 1


def _comment_end(text: str, pos: int) -> int:
    """Index after a comment whose ``<!--`` ends at ``pos``; -1 when it never ends."""
    if text.startswith(">", pos):
        return pos + 1
    if text.startswith("->", pos):
        return pos + 2
    m = _COMMENT_END.search(text, pos)
    return -1 if m is None else m.end()


def _find_title(text: str) -> tuple[int, int] | None:
    """(start, end) of the raw text of the document's first HTML ``<title>``.

    A tokenizer in the HTML standard's terms: comments, bogus comments
    (``<!...>``, ``<?...>``, ``<![CDATA[`` outside SVG/MathML), quoted attribute
    values, the contents of script (with its escaped states), style, textarea,
    xmp, iframe, noembed, noframes and noscript, titles inside SVG/MathML or a
    ``<template>``, and everything after ``<plaintext>`` hide a ``<title>``.
    """
    first = _FIRST_TITLE.search(text)
    if first is None:
        return None
    plain = _PLAIN.match(text, 0, first.start())
    if plain is not None and plain.end() == first.start():
        gt = _tag_end(text, first.start() + 6)
        return None if gt < 0 else _title_span(text, gt)
    return _scan(text)


def _title_span(text: str, pos: int) -> tuple[int, int]:
    n = len(text)
    em = _end_tag("title").search(text, pos, min(n, pos + _TITLE_RAW_CAP + 8))
    return pos, (em.start() if em is not None else min(n, pos + _TITLE_RAW_CAP))


def _scan(text: str) -> tuple[int, int] | None:
    pos = 0
    foreign = 0  # depth of svg/math elements
    template = 0  # depth of template elements
    while True:
        m = _MARKUP.search(text, pos)
        if m is None:
            return None
        if m.group(1):  # <!--
            pos = _comment_end(text, m.end())
        elif m.group(2):  # <! or <?: a bogus comment, or CDATA in SVG/MathML
            if foreign and text.startswith("[CDATA[", m.end()):
                end = text.find(_CDATA_END, m.end() + 7)
                pos = -1 if end < 0 else end + 3
            else:
                gt = text.find(">", m.end())
                pos = -1 if gt < 0 else gt + 1
        else:
            name = m.group(4).lower()
            closing = bool(m.group(3))
            gt = _tag_end(text, m.end())
            if gt < 0:
                return None
            pos = gt
            if closing:
                if name in _FOREIGN and foreign:
                    foreign -= 1
                elif name == "template" and template and not foreign:
                    template -= 1
                continue
            self_closing = text[gt - 2] == "/"
            if foreign:
                if name in _FOREIGN and not self_closing:
                    foreign += 1
                elif name in _BREAKOUT:
                    foreign = 0
                continue
            if name in _FOREIGN:
                foreign += 0 if self_closing else 1
            elif name == "template":
                template += 1
            elif name == "plaintext":
                return None
            elif name == "title" and not template:
                return _title_span(text, gt)
            elif name == "script":
                pos = _script_end(text, gt)
            elif name in _RAWTEXT:
                em = _end_tag(name).search(text, gt)
                pos = -1 if em is None else em.start()
        if pos < 0:
            return None


def extract_title(body: bytes, content_type: str | None, max_len: int = 1024) -> str | None:
    """Return the text of the first ``<title>`` of an HTML body.

    The body is decoded with :func:`decode_html`; entities are unescaped,
    every run of whitespace (newlines and no-break spaces included) becomes one
    space, the ends are stripped and the result is cut to *max_len* characters.
    ``None`` when there is no title element, ``""`` for an empty one. The
    element is found the way an HTML tokenizer finds it (see :func:`_find_title`):
    titles inside comments, attribute values, scripts, styles, textareas,
    ``<svg>``/``<math>`` and ``<template>`` are skipped. Control characters
    (NUL and the other C0 controls but whitespace, DEL, C1) and bidi controls
    are dropped (:func:`aioscout.extract.text.clean_text`).

    >>> extract_title(b"<html><TITLE lang=en> A &amp; B\\n</title>", None)
    'A & B'
    """
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    text = decode_html(body, content_type)
    span = _find_title(text)
    if span is None:
        return None
    title = " ".join(clean_text(html.unescape(text[span[0] : span[1]])).split())
    if len(title) > max_len:
        title = title[:max_len].rstrip()
    return title

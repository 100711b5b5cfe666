"""The user's secrets never reach a record, and no record carries a control character.

A hostile server may echo what it was sent: the proxy password, a bearer
token, a cookie, an API key, plainly or base64-encoded (a Basic credential,
or a whole request head in base64). :class:`Redactor` knows every secret the
user gave (see :func:`user_secrets`) and masks each, with its base64 forms at
every alignment, in any text that reaches a record, a log line or a stored
response. :func:`scrub_record` applies it, and the control-character cleaner,
to every text field of an HTTP record: a title holding ``ESC [2J`` must not
clear the terminal of whoever reads it.

Why base64 "at every alignment": the base64 of a secret depends on how many
bytes come before it in the encoded text. The three middle parts (secret
preceded by 0, 1 or 2 bytes, without the groups mixing in unknown bytes) are
what any encoding of a longer text containing the secret must contain.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import replace

from .._config import HttpOptions
from .._models import ErrorInfo, HttpResult, RedirectHop, TlsInfo
from .._redact import redact as redact_userinfo
from ._errors import ProbeError

__all__ = ["Redactor", "clean_text", "scrub_record", "user_secrets"]

_MASK = "***"
_MIN_PLAIN = 3  # shorter secrets are masked only in their composite forms (user:password)
_MIN_ENCODED = 6  # characters of a base64 form worth masking
# Names of the custom headers whose values are secrets (X-Api-Key, X-Auth-Token,
# X-Session-Id, X-Signature, ...): every such -H value is masked where echoed.
_SECRET_NAME = re.compile(r"auth|token|key|secret|pass|session|cred|sig|jwt|bearer|cookie", re.I)
# Header names whose values describe the request rather than authorise it.
_PLAIN_HEADERS = frozenset(
    {
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-type",
        "dnt",
        "host",
        "if-modified-since",
        "if-none-match",
        "origin",
        "pragma",
        "range",
        "referer",
        "upgrade-insecure-requests",
        "user-agent",
        "x-requested-with",
    }
)
_LONG_VALUE = 8  # a custom header's value this long is taken for a secret, whatever its name
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACING = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def _is_clean(text: str) -> bool:
    # isprintable() is a fast C loop; it also refuses a few characters that are not
    # controls (NBSP, line separators...), which the slower search then lets through.
    return text.isprintable() or _CONTROL.search(text) is None


def clean_text(text: str) -> str:
    """``text`` without control characters (C0, DEL, C1); tab, CR and LF become spaces."""
    if _is_clean(text):
        return text
    return _CONTROL.sub("", text.translate(_SPACING))


def _base64_forms(secret: str) -> set[str]:
    raw = secret.encode("utf-8", "surrogateescape")
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        forms.update((whole, whole.rstrip("=")))
        for lead in (1, 2):
            shifted = encode(b"\0" * lead + raw).decode()
            complete = (lead + len(raw)) // 3 * 4  # groups made of known bytes only
            forms.add(shifted[4:complete])
        forms.add(whole[: len(raw) // 3 * 4])
    return {form for form in forms if len(form) >= _MIN_ENCODED}


def _credential_parts(name: str, value: str) -> list[str]:
    """The secrets inside one header value the user gave."""
    key = name.strip().lower()
    value = value.strip()
    if key == "cookie":
        return [v.strip() for _, _, v in (p.partition("=") for p in value.split(";"))] + [value]
    if key in ("authorization", "proxy-authorization"):
        scheme, _, token = value.partition(" ")
        parts = [value, token.strip()]
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                decoded = ""
            user, _, password = decoded.partition(":")
            parts += [decoded, user, password]
        return parts
    if _SECRET_NAME.search(key) or (key not in _PLAIN_HEADERS and len(value) >= _LONG_VALUE):
        return [value]
    return []


def user_secrets(options: HttpOptions, proxy_secrets: Iterable[str] = ()) -> list[str]:
    """Every secret the user gave: credentials, cookies, secret-named headers, the proxy's.

    A custom header is a secret when its name says so (key, token, auth, secret,
    session, pass, cred, sig, jwt...) or its value is 8 characters or longer
    (``Accept``, ``Referer`` and the other descriptive headers aside);
    ``X-Trace: t-1`` is not masked where a server echoes it.
    """
    secrets = list(proxy_secrets)
    for name, value in options.headers:
        secrets += _credential_parts(name, value)
    secrets += [value for _, value in options.cookies]
    if options.proxy_auth:
        secrets.append(options.proxy_auth)
    if options.proxy and "@" in options.proxy:
        # user:password as one string: masked whatever the password's length.
        secrets.append(options.proxy.partition("://")[2].rpartition("@")[0])
    return [s for s in secrets if s]


class Redactor:
    """Masks the user's secrets (and their base64 forms) and URL userinfo in any text.

    Secrets of one or two characters are masked in their composite forms only
    (``user:pw`` and its base64, the userinfo of a URL): masking every ``x`` of
    a title would destroy it and hide nothing.

    Example::

        r = Redactor(["s3cret"])
        r.redact("http://u:s3cret@proxy:3128 failed") == "http://***@proxy:3128 failed"
        r.redact("echo: czNjcmV0") == "echo: ***"
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in set(secrets):
            if len(secret) >= _MIN_PLAIN:
                forms.add(secret)
                forms |= _base64_forms(secret)
        # Longest first, so a secret containing another is masked whole.
        self._forms = sorted(forms, key=len, reverse=True)
        self._bytes = [f.encode("utf-8", "surrogateescape") for f in self._forms]

    def __bool__(self) -> bool:
        return bool(self._forms)

    def redact(self, text: str) -> str:
        """``text`` with URL userinfo and every known secret replaced by ``***``."""
        text = redact_userinfo(text)
        for form in self._forms:
            if form in text:
                text = text.replace(form, _MASK)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        """``data`` with every known secret (UTF-8) replaced by ``***``."""
        for form in self._bytes:
            if form in data:
                data = data.replace(form, b"***")
        return data

    def info(self, error: ProbeError) -> ErrorInfo:
        """The redacted record form of ``error``."""
        return ErrorInfo(error.kind, clean_text(self.redact(error.detail)))

    def text(self, value: str | None) -> str | None:
        """A record's text field: secrets masked (when there are any), no control character."""
        if value is None:
            return None
        if self._forms:
            value = self.redact(value)
        return clean_text(value)


def _scrub_tls(tls: TlsInfo, redactor: Redactor) -> TlsInfo:
    names = (tls.subject or "", tls.subject_cn or "", tls.issuer or "", *tls.sans)
    if _is_clean("".join(names)):
        return tls  # a certificate is made before any request: it holds no echoed secret
    text = redactor.text
    return replace(
        tls,
        subject=text(tls.subject),
        subject_cn=text(tls.subject_cn),
        issuer=text(tls.issuer),
        sans=[clean_text(name) for name in tls.sans],
    )


def _texts(result: HttpResult) -> list[str]:
    texts = [
        result.title or "",
        result.body_preview or "",
        result.server or "",
        result.content_type or "",
        result.final_url or "",
        result.favicon_url or "",
    ]
    for hop in result.chain:
        texts += (hop.url, hop.location)
    if result.headers:
        texts += result.headers
        texts += result.headers.values()
    if result.error is not None:
        texts.append(result.error.detail)
    return texts


def scrub_record(result: HttpResult, redactor: Redactor) -> HttpResult:
    """Mask secrets and drop control characters in every text field of ``result`` (in place)."""
    if result.tls is not None:
        result.tls = _scrub_tls(result.tls, redactor)
    if not redactor and _is_clean("".join(_texts(result))):
        return result  # nothing to mask, nothing to drop: the usual case, one check
    text = redactor.text
    result.title = text(result.title)
    result.body_preview = text(result.body_preview)
    result.server = text(result.server)
    result.content_type = text(result.content_type)
    result.final_url = text(result.final_url)
    result.favicon_url = text(result.favicon_url)
    if result.chain:
        result.chain = [
            RedirectHop(text(hop.url) or "", hop.status, text(hop.location) or "")
            for hop in result.chain
        ]
    if result.headers:
        result.headers = {
            clean_text(name): text(value) or "" for name, value in result.headers.items()
        }
    if result.error is not None:
        result.error = ErrorInfo(result.error.kind, text(result.error.detail) or "")
    return result

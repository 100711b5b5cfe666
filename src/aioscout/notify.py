"""``--notify URL``: each change set POSTed as JSON to a webhook.

The body is one of four shapes (``--notify-format``): ``json`` (the changes
as objects, for a program), or a message for Slack (``{"text": ...}``),
Discord (``{"content": ...}``) or Microsoft Teams (a MessageCard). A post is
retried with a doubling delay on a connection failure, a timeout, 429 or a
5xx answer; other 4xx answers are final. The webhook's URL often holds its
token, so messages name only its scheme and host.

No secret goes into a body: every string the scan was configured with as a
credential (header and cookie values, query and form values, the request
body, proxy credentials) is replaced by ``***`` wherever it appears, and
the userinfo of every URL is redacted.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from ._redact import redact
from .diff import ChangeSet, render_human, render_markdown

__all__ = ["FORMATS", "Notifier", "body_for", "scrub", "secrets_of"]

Format = Literal["json", "slack", "discord", "teams"]
FORMATS: tuple[Format, ...] = ("json", "slack", "discord", "teams")

_SECRET_FIELDS = ("headers", "cookies", "params", "form", "proxy_auth", "data", "json", "proxy")
_MIN_SECRET = 4
_CHAT_LINES = 40


def secrets_of(*options: object) -> list[str]:
    """The credential-like strings in options dataclasses (longest first)."""
    found: set[str] = set()
    for opts in options:
        if not dataclasses.is_dataclass(opts) or isinstance(opts, type):
            continue
        for name in _SECRET_FIELDS:
            value = getattr(opts, name, None)
            if value is None:
                continue
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if name == "proxy" and isinstance(value, str):
                userinfo = urlsplit(value).password
                values: Iterable[str] = [userinfo] if userinfo else []
            elif isinstance(value, str):
                values = [value, *value.split(":", 1)[1:]]
            else:
                values = [str(pair[1]) for pair in value if len(pair) == 2]
            for text in values:
                found.add(text)
                found.update(part for part in text.split() if len(part) >= _MIN_SECRET)
    return sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True)


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (JSON-like) with every secret replaced by ``***`` and URL userinfo redacted."""
    secrets = list(secrets)
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return redact(value)
    if isinstance(value, Mapping):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secrets) for v in value]
    return value


def body_for(fmt: Format, changes: ChangeSet, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The webhook body for one change set; ``meta``: command, run number, time."""
    title = f"aioscout {meta.get('command', '')}: {changes.summary()}".strip()
    if fmt == "json":
        return {
            **meta,
            "summary": {k: changes.count(k) for k in ("new", "gone", "changed")},
            "changes": [c.as_dict() for c in changes.changes],
        }
    lines = list(render_human(changes))
    shown = lines[:_CHAT_LINES]
    if len(lines) > len(shown):
        shown.append(f"… and {len(lines) - len(shown)} more")
    text = "\n".join(shown)
    if fmt == "slack":
        return {"text": f"*{title}*\n```\n{text}\n```"}
    if fmt == "discord":
        return {"content": f"**{title}**\n```\n{text}\n```"[:2000]}
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "summary": title,
        "title": title,
        "text": render_markdown(changes, title),
    }


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


class Notifier:
    """Posts change sets to one webhook (an aiohttp session of its own, used serially)."""

    def __init__(
        self,
        url: str,
        fmt: Format = "json",
        *,
        secrets: Iterable[str] = (),
        say: Callable[[str], None] = lambda _: None,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--notify {_where(url)}: an http:// or https:// URL is needed")
        if fmt not in FORMATS:
            raise ValueError(f"--notify-format {fmt!r}: one of {', '.join(FORMATS)}")
        self.url, self.fmt = url, fmt
        self.secrets = list(secrets)
        self.say, self.attempts, self.backoff, self.timeout = say, attempts, backoff, timeout

    async def send(self, changes: ChangeSet, meta: Mapping[str, Any]) -> bool:
        """POST the change set; True once the webhook accepted it (2xx)."""
        import aiohttp

        body = orjson.dumps(scrub(body_for(self.fmt, changes, meta), self.secrets))
        headers = {"Content-Type": "application/json"}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        where = _where(self.url)
        delay = self.backoff
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for attempt in range(1, self.attempts + 1):
                try:
                    async with session.post(self.url, data=body, headers=headers) as resp:
                        if 200 <= resp.status < 300:
                            return True
                        problem = f"answered {resp.status}"
                        final = resp.status < 500 and resp.status != 429
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    problem, final = f"failed ({type(exc).__name__})", False
                if final or attempt == self.attempts:
                    self.say(f"webhook {where} {problem}; giving up on this change set")
                    return False
                self.say(f"webhook {where} {problem}; retrying in {delay:g}s")
                await asyncio.sleep(delay)
                delay *= 2
        return False

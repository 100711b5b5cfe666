"""Keeping credentials out of records, logs and errors."""

from __future__ import annotations

import re

__all__ = ["redact"]

# scheme://user:secret@host  and  //user@host  (userinfo of any URL-like text)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def redact(text: str) -> str:
    """``text`` with the userinfo of every URL in it replaced by ``***``."""
    return _USERINFO.sub(r"\1***@", text) if "@" in text else text

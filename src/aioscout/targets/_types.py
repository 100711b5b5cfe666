"""Target types shared by the parsers and the probes."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HttpTarget"]


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """One URL to probe, or one bare host whose scheme the prober decides.

    ``scheme`` is ``None`` for a bare host (``example.com``, ``10.0.0.1:8080``):
    the prober tries TLS first where that makes sense and falls back to plain
    HTTP. ``host`` is lower-case, IDNA-encoded (ASCII), IPv6 without brackets.
    ``port`` is ``None`` when the input named none. ``path`` starts with ``/``
    and includes any query string.
    """

    scheme: str | None
    host: str
    port: int | None
    path: str = "/"

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    def netloc(self, port: int | None = None) -> str:
        """``host[:port]`` with IPv6 hosts in brackets."""
        h = f"[{self.host}]" if self.is_ipv6 else self.host
        p = self.port if port is None else port
        return h if p is None else f"{h}:{p}"

    def url(self, scheme: str | None = None, port: int | None = None) -> str:
        """The URL for a given scheme (default ports dropped)."""
        s = scheme or self.scheme or "http"
        p = self.port if port is None else port
        if (s, p) in (("http", 80), ("https", 443)):
            p = None
        h = f"[{self.host}]" if self.is_ipv6 else self.host
        return f"{s}://{h}{'' if p is None else f':{p}'}{self.path}"

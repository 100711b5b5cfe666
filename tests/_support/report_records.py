"""Generated records of every command, with the counts a report of them must show."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["HOSTILE_TITLE", "Expected", "write_records"]

# A title that would run script if any part of the report used innerHTML or
# let it end the JSON <script> element.
HOSTILE_TITLE = (
    '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    "<!-- <svg onload=window.pwned=3>"
)
SERVERS = ("nginx", "Apache/2.4", "IIS/10.0", "lighttpd")


@dataclass
class Expected:
    """What the report must say about the generated records."""

    total: int = 0
    status: Counter[str] = field(default_factory=Counter)
    server: Counter[str] = field(default_factory=Counter)
    ports: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    nginx_default: int = 0


def _http(i: int, exp: Expected) -> dict[str, Any]:
    if i % 50 == 7:
        exp.errors["timeout"] += 1
        return {"input": f"down{i}.test", "url": None, "error": {"kind": "timeout", "detail": "x"}}
    status = (200, 200, 301, 404, 500)[i % 5]
    server = SERVERS[i % len(SERVERS)]
    default = i % 4 == 0
    title = "Welcome to nginx!" if default else f"Shop number {i}"
    if i == 3:
        title = HOSTILE_TITLE
    exp.status[str(status)] += 1
    exp.server[server] += 1
    exp.nginx_default += default
    return {
        "input": f"h{i}.test",
        "url": f"http://h{i}.test/",
        "final_url": f"http://h{i}.test/",
        "status": status,
        "title": title,
        "server": server,
        "tech": ["Nginx"] if default else ["PHP"],
        "ip": "127.0.0.1",
        "port": 80,
        "time_ms": float(i % 97),
        "body_sha256": "nginx-default" if default else f"body{i}",
        "favicon": None,
        "error": None,
    }


def write_records(path: str, n: int) -> Expected:
    """Write ``n`` records (mostly HTTP, some DNS and ports) to ``path``; return the counts."""
    exp = Expected()
    with open(path, "wb") as out:
        for i in range(n):
            exp.total += 1
            if i % 10 == 9:
                answers = [{"name": f"n{i}.test", "type": "A", "ttl": 60, "data": "127.0.0.1"}]
                rec: dict[str, Any] = {
                    "input": f"n{i}.test",
                    "name": f"n{i}.test",
                    "answers": answers * (i % 3),
                    "rcode": "NOERROR",
                    "error": None,
                }
            elif i % 10 == 8:
                service = ("http", "ssh", "tls")[i % 3]
                exp.ports[service] += 1
                rec = {"input": "127.0.0.1", "host": "127.0.0.1", "port": 1000 + i,
                       "state": "open", "service": service, "error": None}  # fmt: skip
            else:
                rec = _http(i, exp)
            out.write(orjson.dumps(rec) + b"\n")
    return exp

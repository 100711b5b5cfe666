"""A corpus of bad input through ``aioscout http``: one record per line, the run goes on.

Blank lines and ``#`` comments are skipped (they are not targets); every bad
line (100 KB long, invalid UTF-8, binary garbage, bad scheme or port, a CIDR
over the cap) yields exactly one ``invalid_input`` record; every good line
(with surrounding spaces, IPv6 with and without brackets, an
internationalised name resolved only by the lab's DNS server, a small CIDR)
is probed; a duplicate yields a ``duplicate``
record; the run exits 0.
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aioscout.lab import Lab

from ._cli import records, run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lab(sites=0, hostile=False, dns_names=10, addresses=["127.0.0.1", "::1"]),
]


def _garbage(rng: random.Random, size: int) -> bytes:
    raw = bytes(rng.randrange(256) for _ in range(size)).replace(b"\n", b"")
    return b"\x00" + raw


def _corpus(lab: Lab) -> tuple[bytes, list[bytes], list[bytes]]:
    """The file's bytes, its bad lines and its good lines (as written).

    The first five bad lines are blank or comments: skipped, no record.
    """
    port = lab.http_port
    rng = random.Random(6)
    bad = [
        b"",
        b"   ",
        b"\t \t",
        b"# a comment",
        b"   # an indented comment",
        b"x" * 100_000,
        b"127.0.0.1:" + b"8" * 100_000,
        b"caf\xc3\xa9\xff\xfe.example",  # invalid UTF-8
        b"\xc3\x28\xa0\xa1",
        _garbage(rng, 300),
        _garbage(rng, 5000),
        b"ftp://127.0.0.1/",
        b"file:///etc/passwd",
        b"127.0.0.1:99999",
        b"exa mple.lab.test",
        b"http://user:secret@127.0.0.1/",
        b"127.0.0.0/8",
        b"[::1",
    ]
    good = [
        f"http://127.0.0.1:{port}/good/1".encode(),
        f"   http://127.0.0.1:{port}/good/2   ".encode(),
        f"\thttp://127.0.0.1:{port}/good/3\r".encode(),
        f"127.0.0.1:{port}/good/4".encode(),
        f"http://[::1]:{port}/good/5".encode(),
        f"[::1]:{port}".encode(),
        b"::1",  # no port: ports 443/80 on ::1, a refusal (or whatever listens)
        "bücher.lab.test".encode(),  # IDNA, resolved by the lab DNS only
        "http://ÄÖÜ.lab.test/".encode(),
        b"127.95.0.0/30",
        f"http://127.0.0.1:{port}/good/dup".encode(),
    ]
    duplicate = f"http://127.0.0.1:{port}/good/dup".encode()
    lines = bad[:6] + good[:5] + bad[6:12] + good[5:] + [duplicate] + bad[12:]
    return b"\n".join(lines) + b"\n", bad, [*good, duplicate]


def _decoded(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r")


async def test_bad_input_corpus(lab: Lab, tmp_path: Path) -> None:
    data, bad, good = _corpus(lab)
    inp, out = tmp_path / "corpus.txt", tmp_path / "out.jsonl"
    inp.write_bytes(data)
    assert lab.dns_address is not None
    result = await run_cli(
        "http", "-l", str(inp), "-o", str(out), "--timeout", "3", "--resolver", lab.dns_address
    )
    assert result.returncode == 0, result.stderr
    recs = records(out)
    kinds = collections.Counter(_kind(r) for r in recs)
    # The /30 yields four records; blank and comment lines none; every other line one.
    assert len(recs) == len(bad) - 5 + len(good) + 3, kinds
    assert kinds["invalid_input"] == len(bad) - 5, [
        (r["input"][:40], r["error"]) for r in recs if _kind(r) == "invalid_input"
    ]
    assert kinds["duplicate"] == 1
    by_input: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in recs:
        by_input[r["input"].strip()].append(r)
    for line in good[:-1]:
        got = by_input[_decoded(line).strip()]
        assert got, f"no record for good line {line!r}"
        assert all(_kind(r) != "invalid_input" for r in got), got
    served = [r for r in recs if "/good/" in r["input"] or r["input"] == f"[::1]:{lab.http_port}"]
    assert all(r["status"] is not None for r in served if _kind(r) != "duplicate"), served
    idna = by_input["bücher.lab.test"][0]
    assert idna["host"] == "xn--bcher-kva.lab.test"
    assert _kind(idna) == "dns"  # asked the lab's server, which has no such name
    cidr = [r for r in recs if _kind(r) == "invalid_input" and r["input"] == "127.0.0.0/8"]
    assert len(cidr) == 1 and "--max-cidr" in cidr[0]["error"]["detail"]
    assert len(by_input["127.95.0.0/30"]) == 4


@contextlib.contextmanager
def _held_port(addresses: list[str]) -> Iterator[int]:
    """One port bound (not listening: a connection is refused) on every address given,
    so the test scans only addresses and a port it holds."""
    for _ in range(20):
        with contextlib.ExitStack() as stack:
            try:
                first = stack.enter_context(socket.socket())
                first.bind((addresses[0], 0))
                port: int = first.getsockname()[1]
                for address in addresses[1:]:
                    stack.enter_context(socket.socket()).bind((address, port))
            except OSError:  # that port is taken on one of them: try another
                continue
            yield port
            return
    raise AssertionError("no port free on all of the addresses")


async def test_max_cidr_raises_the_cap(tmp_path: Path) -> None:
    inp, out = tmp_path / "cidr.txt", tmp_path / "out.jsonl"
    inp.write_text("127.96.0.0/28\n127.96.1.0/29\n")
    hosts = [*ipaddress.ip_network("127.96.0.0/28"), *ipaddress.ip_network("127.96.1.0/29")]
    with _held_port([str(h) for h in hosts]) as port:
        args = (
            "http",
            "-l",
            str(inp),
            "-o",
            str(out),
            "--timeout",
            "3",
            "-s",
            "-p",
            f"http:{port}",
        )
        assert (await run_cli(*args, "--max-cidr", "8")).returncode == 0
        kinds = collections.Counter((r["input"], _kind(r)) for r in records(out))
        assert kinds == {("127.96.0.0/28", "invalid_input"): 1, ("127.96.1.0/29", "refused"): 8}
        assert (await run_cli(*args, "--max-cidr", "16")).returncode == 0
        kinds = collections.Counter((r["input"], _kind(r)) for r in records(out))
        assert kinds == {("127.96.0.0/28", "refused"): 16, ("127.96.1.0/29", "refused"): 8}


def _kind(record: dict[str, Any]) -> str | None:
    error = record.get("error")
    return None if error is None else str(error["kind"])

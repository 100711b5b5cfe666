"""The one resolver-address parser, and every command refusing a bad ``--resolver`` early."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aioscout._config import DnsOptions
from aioscout._exceptions import ConfigError
from aioscout.dnsproto.servers import check_resolvers, parse_resolver, read_resolver_file
from aioscout.probes.dns import DnsProbe

_BAD = (
    "dns.google",
    "127.0.0.1:x",
    "127.0.0.1:",
    "[::1",
    "[::1]53",
    "[::1]:",
    "127.0.0.1:70000",
    "127.0.0.1:0",
    "1.2.3",
    "",
)


def test_good_specs() -> None:
    assert parse_resolver("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_resolver(" 127.0.0.1:5353 ") == ("127.0.0.1", 5353)
    assert parse_resolver("[::1]:5300") == ("::1", 5300)
    assert parse_resolver("[::1]") == ("::1", 53)
    assert parse_resolver("::1") == ("::1", 53)
    assert parse_resolver("0:0:0:0:0:0:0:1") == ("::1", 53)
    assert check_resolvers(["127.0.0.1", "[::1]:53"]) == ("127.0.0.1", "[::1]:53")


@pytest.mark.parametrize("bad", _BAD)
def test_bad_specs_raise_config_error_on_one_line(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_resolver(bad)
    assert "\n" not in str(info.value) and "resolver" in str(info.value)
    with pytest.raises(ConfigError):
        check_resolvers(["127.0.0.1", bad])


def test_resolver_file(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("# lab\n127.0.0.1:5353\n\n  [::1]:53  \n")
    assert read_resolver_file(str(good)) == ["127.0.0.1:5353", "[::1]:53"]
    bad = tmp_path / "bad.txt"
    bad.write_text("127.0.0.1\nresolver.example\n")
    with pytest.raises(ConfigError, match=r"bad\.txt:2: resolver 'resolver.example'"):
        read_resolver_file(str(bad))
    with pytest.raises(ConfigError, match="resolver file"):
        read_resolver_file(str(tmp_path / "missing.txt"))
    with pytest.raises(ConfigError, match="resolver file"):
        read_resolver_file(str(tmp_path))


def test_the_dns_probe_refuses_a_bad_resolver_when_built() -> None:
    with pytest.raises(ConfigError, match=r"dns\.google"):
        DnsProbe(DnsOptions(resolvers=("dns.google",)))
    with pytest.raises(ConfigError, match="70000"):
        DnsProbe(DnsOptions(resolvers=("127.0.0.1",), trusted_resolvers=("127.0.0.1:70000",)))


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["http", "http://127.0.0.1:9/", "--resolver", "dns.google"],
        ["fetch", "http://127.0.0.1:9/x", "--resolver", "127.0.0.1:99999"],
        ["dns", "lab.test", "-w", "WORDS", "-r", "[::1"],
        ["dns", "lab.test", "-w", "WORDS", "-r", "127.0.0.1", "--trusted-resolver", "x"],
        ["dns", "lab.test", "-w", "WORDS", "--resolvers", "RESOLVERS"],
    ],
)
def test_every_command_refuses_a_bad_resolver_in_one_line(args: list[str], tmp_path: Path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("www\n")
    resolvers = tmp_path / "resolvers.txt"
    resolvers.write_text("127.0.0.1\nnot-an-ip\n")
    argv = [str(words) if a == "WORDS" else str(resolvers) if a == "RESOLVERS" else a for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "aioscout", *argv, "-d", str(tmp_path / "out")]
        if argv[0] == "fetch"
        else [sys.executable, "-m", "aioscout", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert any("resolver" in ln for ln in lines), done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "out").exists()

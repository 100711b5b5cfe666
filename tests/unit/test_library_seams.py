"""The library stands on its own: no command line loaded, one exception tree, clear misuse."""

from __future__ import annotations

import subprocess
import sys

import pytest

import aioscout
from aioscout import ConfigError, DnsOptions, Limits, ScanConfig, Timeouts


def test_the_library_never_loads_the_command_line() -> None:
    code = (
        "import sys, aioscout\n"
        "aioscout.scan_dns\n"
        "import aioscout.api\n"
        "run = aioscout.scan_dns(['www'], domains=['lab.test'],"
        " options=aioscout.DnsOptions(resolvers=('127.0.0.1:53',), per_resolver_rate=10.0),"
        " config=aioscout.ScanConfig(workers=2))\n"
        "aioscout.scan_http(['127.0.0.1:1']); aioscout.fetch(['http://127.0.0.1:1/'])\n"
        "assert 'click' not in sys.modules, 'click'\n"
        "assert not any(m.startswith('aioscout.cli') for m in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(
    "make",
    [
        lambda: ScanConfig(concurrency=0),
        lambda: ScanConfig(per_host=0),
        lambda: ScanConfig(rate=-1.0),
        lambda: ScanConfig(retries=-1),
        lambda: ScanConfig(workers=0),
        lambda: ScanConfig(loop="trio"),
        lambda: Timeouts(total=0),
        lambda: Limits(max_body=-1),
        lambda: Limits(max_cidr_hosts=0),
    ],
)
def test_unusable_config_raises_config_error(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize("one", ["127.0.0.1:8080", b"127.0.0.1:8080"])
def test_one_string_instead_of_an_iterable_of_targets_is_a_type_error(one: str) -> None:
    for scan in (aioscout.scan_http, aioscout.scan_dns, aioscout.fetch):
        with pytest.raises(TypeError, match="iterable of lines"):
            scan(one)
    with pytest.raises(TypeError, match="iterable of lines"):
        aioscout.scan_dns(one, options=DnsOptions(resolvers=("127.0.0.1:53",)))

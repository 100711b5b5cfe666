"""How many worker processes a command starts when ``-w`` is not given."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aioscout.cli._common import default_workers

CORES = len(os.sched_getaffinity(0))


def test_arguments_only_and_small_files_stay_in_one_process(tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_text("127.0.0.1:1\n" * 100)
    assert default_workers(None) == 1
    assert default_workers(str(small)) == 1
    assert default_workers(str(tmp_path / "missing.txt")) == 1


@pytest.mark.skipif(CORES < 2, reason="one core: never more than one process")
def test_large_files_and_pipes_use_every_core(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("127.0.0.1:1\n" * 10_000)
    small = tmp_path / "words.txt"
    small.write_text("www\n" * 2_000)
    assert default_workers(str(big)) == CORES
    assert default_workers(str(small)) == 1
    assert default_workers(str(small), multiplier=100) == CORES  # words x domains
    read, write = os.pipe()
    saved = os.dup(0)
    try:
        os.dup2(read, 0)
        assert default_workers("-") == CORES
    finally:
        os.dup2(saved, 0)
        for fd in (read, write, saved):
            os.close(fd)


def test_each_worker_gets_its_share_of_the_per_resolver_rate() -> None:
    from aioscout._config import DnsOptions
    from aioscout.probes.factories import share_resolver_rate

    opts = DnsOptions(per_resolver_rate=1000.0)
    assert share_resolver_rate(opts, 1) is opts
    assert share_resolver_rate(opts, 4).per_resolver_rate == 250.0
    assert share_resolver_rate(DnsOptions(), 4).per_resolver_rate == 0.0  # unlimited stays so


def test_each_registered_probe_names_the_modules_of_the_probe_it_builds(tmp_path: Path) -> None:
    import importlib

    from aioscout import registry
    from aioscout._config import DnsOptions, FetchOptions, HttpOptions, Limits, ScanConfig

    factories = [
        registry.factory("http", HttpOptions(), Limits()),
        registry.factory("dns", DnsOptions(resolvers=("127.0.0.1:53",)), ("lab.test",)),
        registry.factory("fetch", FetchOptions(directory=str(tmp_path)), HttpOptions(), Limits()),
    ]
    for factory in factories:
        modules = registry.worker_modules(factory)
        assert type(factory(ScanConfig())).__module__ in modules, factory
        for name in modules:
            importlib.import_module(name)
    assert registry.worker_modules(print) == ()

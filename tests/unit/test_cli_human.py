"""The terminal's lines, the summary and the item count, on records and files alone."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
import pytest

from aioscout.cli import cli
from aioscout.cli._human import View, clean, fmt_int, render_dns, render_fetch, render_http
from aioscout.cli._progress import Estimate, count_items, progress_text, summary_line
from aioscout.engine import Stats

_PLAIN = View(color=False)


def test_server_text_reaches_the_terminal_without_control_characters() -> None:
    record = {
        "url": "http://a.example/",
        "status": 200,
        "title": "x\x1b[2J\x1b]0;owned\x07y\x9b31m\u202ez",
        "server": "nginx\r\nX-Evil: 1",
        "tech": ["A\x00B"],
    }
    line = render_http(record, View(color=True))
    stripped = line.replace("\x1b[0m", "")
    for style in ("\x1b[32m", "\x1b[36m", "\x1b[35m", "\x1b[34m"):
        stripped = stripped.replace(style, "")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in stripped), repr(line)
    assert "\u202e" not in line
    assert clean("a\x1b[2Jb") == "a [2Jb"


def test_http_line_columns() -> None:
    record = {
        "url": "https://a.example:443/",
        "final_url": "https://a.example/home",
        "status": 200,
        "chain": [{"url": "https://a.example:443/", "status": 301, "location": "/home"}],
        "title": "Home",
        "server": "nginx",
        "tech": ["Nginx", "PHP"],
        "content_length": 12345,
        "favicon": -123,
    }
    assert render_http(record, _PLAIN) == (
        "https://a.example:443/ [301,200] [→ https://a.example/home] [Home] [nginx]"
        " [Nginx,PHP] [favicon:-123]"
    )
    only = View(color=False, columns=frozenset({"sc", "cl"}))
    assert render_http(record, only).startswith("https://a.example:443/ [301,200] [→ ")
    assert render_http(record, only).endswith("[12,345] [favicon:-123]")
    failed = {"input": "b.example", "url": None, "error": {"kind": "dns", "detail": "NXDOMAIN"}}
    assert render_http(failed, _PLAIN) == "b.example [dns] NXDOMAIN"


def test_dns_and_fetch_lines() -> None:
    answers = [
        {"name": "w.example", "type": "CNAME", "ttl": 1, "data": "x.example"},
        {"name": "x.example", "type": "A", "ttl": 1, "data": "1.2.3.4"},
    ]
    record = {"name": "w.example", "answers": answers, "wildcard": False}
    assert render_dns(record, _PLAIN) == "w.example → CNAME x.example, A 1.2.3.4"
    missing = {"name": "n.example", "answers": [], "error": {"kind": "dns", "detail": "NXDOMAIN"}}
    assert render_dns(missing, _PLAIN) == "n.example [dns] NXDOMAIN"
    fetched = {"url": "http://a/f.zip", "path": "d/f.zip", "size": 2048, "sha256": "ab" * 32}
    assert render_fetch(fetched, _PLAIN) == f"http://a/f.zip → d/f.zip 2,048 B {'ab' * 8}…"
    assert render_fetch({"url": "http://a/", "status": 404}, _PLAIN) == (
        "http://a/ [404] no file written"
    )


def _stats(done: int, ok: int, errors: dict[str, int], filtered: int = 0) -> Stats:
    stats = Stats(done=done, ok=ok, errors=Counter(errors), filtered=filtered)
    stats.finished = stats.started + 2.0
    return stats


def test_summary_counts_nxdomain_as_not_found() -> None:
    stats = _stats(12345, 45, {"dns": 12290, "timeout": 10}, filtered=12300)
    line = summary_line(stats, not_found=True)
    assert line == (
        "12,345 done; 45 found; 12,290 not found; 10 errors (timeout 10); 2.0 s, 6,172/s"
    )
    http = summary_line(_stats(3, 1, {"refused": 2}), resumable=False)
    assert http == "3 done; 1 ok; 2 errors (refused 2); 2.0 s, 2/s"


def test_interrupted_summary_mentions_resume_only_when_it_can() -> None:
    stats = _stats(3, 3, {})
    stats.interrupted = True
    assert summary_line(stats, resumable=True).endswith(
        "interrupted: rerun with --resume to finish"
    )
    assert summary_line(stats, resumable=False).endswith("; interrupted")


def test_progress_text_with_and_without_total() -> None:
    stats = _stats(250, 200, {"refused": 50})
    assert progress_text(stats, 1000).startswith("250/1,000 25% · 125/s · ETA 0:06 · 200 ok")
    assert progress_text(stats, None).startswith("250 done · 125/s · 200 ok · 50 errors")
    assert fmt_int(1234567.6) == "1,234,568"


def test_count_items_skips_blanks_and_expands_cidrs(tmp_path: Path) -> None:
    listed = tmp_path / "list.txt"
    listed.write_bytes(b"a.example\n\n  # c\n10.0.0.0/30\nb.example:8080\n  \n")
    assert count_items(Estimate(path=str(listed), cidr=True)) == 6
    assert count_items(Estimate(path=str(listed), per_line=3)) == 9
    assert count_items(Estimate(args=("127.0.0.0/29", "x"), cidr=True)) == 9
    assert count_items(Estimate(path=str(tmp_path / "gone"))) is None


@pytest.mark.parametrize("name", ["http", "dns", "fetch", "lab", "demo", "config"])
def test_every_command_has_version_and_every_flag_a_description(name: str) -> None:
    ctx = click.Context(cli)
    command = cli.get_command(ctx, name)
    assert command is not None
    commands = [command]
    if isinstance(command, click.Group):
        commands += [command.get_command(ctx, sub) for sub in command.list_commands(ctx)]  # type: ignore[misc]
    for cmd in commands:
        assert cmd is not None
        names = {opt for p in cmd.params for opt in getattr(p, "opts", [])}
        assert {"-V", "--version"} <= names, cmd.name
        for param in cmd.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {cmd.name}: {param.opts} has no description"


def test_stats_alone_never_takes_the_next_argument() -> None:
    command = cli.get_command(click.Context(cli), "http")
    assert command is not None
    ctx = command.make_context("http", ["-stats", "127.0.0.1:1", "-s"])
    assert ctx.params["stats"] == 5.0 and ctx.params["targets"] == ("127.0.0.1:1",)
    ctx = command.make_context("http", ["127.0.0.1:1", "--stats", "0.5"])
    assert ctx.params["stats"] == 0.5


@pytest.mark.parametrize("name", ["http", "dns", "fetch"])
def test_help_groups_every_flag_by_purpose(name: str) -> None:
    from aioscout.cli._common import _GROUP_OF

    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("help",):
            assert param.name in _GROUP_OF, f"{name}: {param.opts} is in no help group"
    text = command.get_help(click.Context(command, info_name=name))
    sections = [line for line in text.splitlines() if line.endswith(":") and line[0] != " "]
    assert sections[:3] == ["Input:", "Request:", "Probes:"] or name == "fetch", sections

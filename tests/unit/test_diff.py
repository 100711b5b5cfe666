"""The diff engine: keys per command, what counts as a change, the three renderings."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from aioscout import diff


def test_command_and_key_come_from_the_records_fields() -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"input": "a", "name": "a.x", "answers": [], "rcode": "NOERROR"}, "dns", "a.x"),
        ({"input": "u", "url": "http://h/f", "sha256": "0", "path": "f"}, "fetch", "http://h/f"),
        ({"input": "h:80", "url": "http://h/", "status": 200}, "http", "h:80"),
        ({"input": "h", "host": "h", "port": 22, "banner": "SSH-2.0", "kex": []}, "ssh", "h"),
        ({"input": "h", "host": "h", "port": 2222, "banner": "SSH", "kex": []}, "ssh", "h:2222"),
        ({"input": "h", "host": "10.0.0.1", "port": 443, "open": True}, "ports", "10.0.0.1:443"),
        ({"input": "x", "text": "y"}, "other", "x"),
    ]
    for row, command, key in cases:
        assert diff.command_of(row) == command
        assert diff.key_of(row) == key


def test_http_changes_are_status_title_tls_expiry_tech_not_timings() -> None:
    old = [
        {"input": "a", "status": 200, "title": "A", "time_ms": 1, "tech": ["b", "a"]},
        {"input": "t", "status": 200, "tls": {"not_after": "2027-01-01"}, "time_ms": 1},
    ]
    new = [
        {"input": "a", "status": 200, "title": "A", "time_ms": 99, "tech": ["a", "b"]},
        {"input": "t", "status": 200, "tls": {"not_after": "2028-01-01"}, "time_ms": 1},
    ]
    (change,) = diff.diff_records(old, new).changes
    assert (change.change, change.key, change.fields) == (
        "changed",
        "t",
        {"tls_not_after": ("2027-01-01", "2028-01-01")},
    )


def test_dns_answers_compared_as_sets_without_ttls() -> None:
    def rec(*data: str, ttl: int = 60) -> dict[str, object]:
        answers = [{"name": "n", "type": "A", "ttl": ttl, "data": d} for d in data]
        return {"input": "n", "name": "n.x", "answers": answers, "rcode": "NOERROR"}

    assert not diff.diff_records([rec("1", "2")], [rec("2", "1", ttl=5)])
    (change,) = diff.diff_records([rec("1")], [rec("1", "3")]).changes
    assert change.fields == {"answers": (["A 1"], ["A 1", "A 3"])}


def test_error_records_are_absent_unless_asked() -> None:
    up = {"input": "h", "status": 200, "title": "T"}
    down = {"input": "h", "status": None, "error": {"kind": "refused", "detail": "x"}}
    timeout = {"input": "h", "status": None, "error": {"kind": "timeout", "detail": "x"}}
    assert [c.change for c in diff.diff_records([up], [down]).changes] == ["gone"]
    assert [c.change for c in diff.diff_records([down], [up]).changes] == ["new"]
    assert not diff.diff_records([down], [timeout])
    (change,) = diff.diff_records([down], [timeout], errors=True).changes
    assert change.fields == {"error": ("refused", "timeout")}


def test_all_ips_records_are_keyed_per_address() -> None:
    old = [{"input": "h", "ip": "1", "status": 200}, {"input": "h", "ip": "2", "status": 200}]
    new = [{"input": "h", "ip": "1", "status": 200}, {"input": "h", "ip": "2", "status": 500}]
    (change,) = diff.diff_records(old, new).changes
    assert change.key == "h [2]"


def test_renderings_human_json_markdown() -> None:
    old = [{"input": "a", "status": 200, "title": "A"}, {"input": "g", "status": 200}]
    new = [{"input": "a", "status": 301, "title": "A|B"}, {"input": "n", "status": 200}]
    changes = diff.diff_records(old, new)
    assert changes.summary() == "1 new, 1 gone, 1 changed"
    assert list(diff.render_human(changes)) == [
        "- g  status 200",
        "~ a  status 200 → 301; title A → A|B",
        "+ n  status 200",
    ]
    rows = [json.loads(b) for b in diff.render_jsonl(changes)]
    assert rows[1]["fields"]["status"] == {"old": 200, "new": 301}
    md = diff.render_markdown(changes, "Nightly")
    assert md.startswith("## Nightly\n") and "- `a`: status 200 → 301; title A → A\\|B" in md
    assert diff.diff_records(new, new).summary() == "no changes"


def test_hostile_text_is_shown_without_control_characters() -> None:
    old = [{"input": "a", "status": 200, "title": "x"}]
    new = [{"input": "a", "status": 200, "title": "\x1b[2Jevil\nline"}]
    (line,) = diff.render_human(diff.diff_records(old, new))
    assert "\x1b" not in line and "\n" not in line


def test_loads_jsonl_and_sqlite_outputs(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"input": "a", "status": 200}\n\nnot json\n[1]\n')
    assert diff.load(str(path)) == [{"input": "a", "status": 200}]
    db = tmp_path / "r.db"
    conn = sqlite3.connect(db)
    conn.execute('CREATE TABLE "run2" (id INTEGER PRIMARY KEY, record TEXT NOT NULL)')
    conn.execute('INSERT INTO "run2" (record) VALUES (?)', ['{"input": "b", "status": 404}'])
    conn.commit()
    conn.close()
    assert diff.load(f"sqlite:///{db}?table=run2") == [{"input": "b", "status": 404}]
    with pytest.raises(ValueError):
        diff.load(f"sqlite:///{db}?table=x;drop")
    with pytest.raises(OSError):
        diff.load(f"sqlite:///{tmp_path}/nope.db")


def test_ports_results_are_open_ports() -> None:
    def port(p: int | None, state: str, banner: str | None = None) -> dict[str, Any]:
        return {
            "input": "h",
            "host": "h",
            "ip": "127.0.0.1",
            "port": p,
            "state": state,
            "service": "ssh" if banner else None,
            "banner": banner,
            "time_ms": 1.0,
        }

    old = [port(22, "open", "SSH-2.0-a"), port(80, "open"), port(None, "closed")]
    new = [port(22, "open", "SSH-2.0-b"), port(8080, "open"), port(80, "closed")]
    changes = diff.diff_records(old, new)
    assert [(c.change, c.key, sorted(c.fields)) for c in changes.changes] == [
        ("gone", "h:80", []),
        ("changed", "h:22", ["banner"]),
        ("new", "h:8080", []),
    ]

"""The report's reading side: rows, counts, page groups and the escaping of the data blob."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from aioscout.report import write_report
from aioscout.report._collect import Collector, iter_records, kind_of, title_shape
from tests._support.report_records import HOSTILE_TITLE, write_records


def _blobs(html: str) -> tuple[list[list[object]], dict[str, object]]:
    rows = re.search(r'<script type="application/json" id="rows">(.*?)</script>', html, re.S)
    meta = re.search(r'<script type="application/json" id="meta">(.*?)</script>', html, re.S)
    assert rows is not None and meta is not None
    return json.loads(rows.group(1)), json.loads(meta.group(1))


def test_hostile_title_cannot_end_the_data_element(tmp_path: Path) -> None:
    src = tmp_path / "r.jsonl"
    write_records(str(src), 20)
    out = io.BytesIO()
    write_report([str(src)], out)
    html = out.getvalue().decode()
    assert "window.pwned" in html  # the title is there, escaped...
    assert "</script><script>window.pwned" not in html  # ...but cannot close the element
    assert html.count("<script") == 3  # rows, meta, the report's own script
    rows, _ = _blobs(html)
    assert [r[3] for r in rows if r[3] == HOSTILE_TITLE] == [HOSTILE_TITLE]


def test_counts_and_rows_agree_with_the_records(tmp_path: Path) -> None:
    src = tmp_path / "r.jsonl"
    exp = write_records(str(src), 1000)
    with src.open("ab") as f:
        f.write(b"{not json\n")
    out = io.BytesIO()
    stats = write_report([str(src)], out)
    rows, meta = _blobs(out.getvalue().decode())
    assert stats["records"] == len(rows) == exp.total + 1
    summary = meta["summary"]
    assert isinstance(summary, dict)
    assert dict(summary["charts"]["status"]) == dict(exp.status)
    assert dict(summary["charts"]["server"]) == dict(exp.server)
    assert dict(summary["charts"]["ports"]) == dict(exp.ports)
    assert summary["errors"] == {**exp.errors, "unreadable": 1}


def test_default_pages_form_one_group(tmp_path: Path) -> None:
    src = tmp_path / "r.jsonl"
    exp = write_records(str(src), 2000)
    collector = Collector()
    with src.open("rb") as f:
        for rec in iter_records(f):
            assert rec is not None
            collector.add(rec)
    groups = collector.groups()
    nginx = [g for g in groups if g["title"] == "Welcome to nginx!"]
    assert len(nginx) == 1
    assert nginx[0]["count"] == exp.nginx_default >= 400
    numbers = collector.row_groups()
    assert numbers.count(nginx[0]["id"]) == exp.nginx_default


def test_kinds_and_title_shapes() -> None:
    assert kind_of({"input": "a", "name": "a", "answers": []}) == "dns"
    assert kind_of({"input": "a", "state": "open"}) == "ports"
    assert kind_of({"input": "a", "sha256": None, "path": None}) == "fetch"
    assert kind_of({"input": "a", "url": None}) == "http"
    assert kind_of({"input": "a"}) == "other"
    assert title_shape("Shop  Number 12") == title_shape("shop number 7") == "shop number #"
    assert list(iter_records([b'[1, {"input": "x"}]\n', b"\n"])) == [None, {"input": "x"}]


def test_screenshot_paths_become_relative_to_the_report(tmp_path: Path) -> None:
    src = tmp_path / "r.jsonl"
    shot = tmp_path / "shots" / "abc.png"
    rec = {"input": "a", "url": "http://a/", "status": 200, "title": "t", "screenshot": str(shot)}
    src.write_bytes(json.dumps(rec).encode() + b"\n")
    out = io.BytesIO()
    write_report([str(src)], out, base_dir=str(tmp_path / "html"))
    rows, meta = _blobs(out.getvalue().decode())
    assert rows[0][11] == "../shots/abc.png"
    groups = meta["groups"]
    assert isinstance(groups, list) and groups[0]["screenshot"] == "../shots/abc.png"


def test_report_command_writes_the_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from aioscout.cli import cli

    src = tmp_path / "r.jsonl"
    write_records(str(src), 50)
    out = tmp_path / "out.html"
    result = CliRunner().invoke(cli, ["report", str(src), "-o", str(out), "--title", "<b>x</b>"])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "<title>&lt;b&gt;x&lt;/b&gt;</title>" in html
    rows, _ = _blobs(html)
    assert len(rows) == 50
    missing = CliRunner().invoke(cli, ["report", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2

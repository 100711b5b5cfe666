"""Webhook bodies: the four shapes, and no credential of the scan in any of them."""

from __future__ import annotations

import json

import pytest

from aioscout import HttpOptions
from aioscout.diff import diff_records
from aioscout.notify import Notifier, body_for, scrub, secrets_of

CHANGES = diff_records(
    [{"input": "a", "status": 200, "title": "A"}],
    [{"input": "a", "status": 500, "title": "A"}, {"input": "b", "status": 200}],
)


def test_the_four_formats() -> None:
    meta = {"command": "http", "run": 2}
    as_json = body_for("json", CHANGES, meta)
    assert as_json["summary"] == {"new": 1, "gone": 0, "changed": 1} and as_json["run"] == 2
    assert "~ a  status 200 → 500" in body_for("slack", CHANGES, meta)["text"]
    assert body_for("discord", CHANGES, meta)["content"].startswith("**aioscout http: 1 new")
    teams = body_for("teams", CHANGES, meta)
    assert teams["@type"] == "MessageCard" and "### Changed (1)" in teams["text"]


def test_credentials_of_the_options_never_reach_a_body() -> None:
    opts = HttpOptions(
        headers=(("Authorization", "Bearer tok-123456"), ("X", "ok")),
        cookies=(("session", "cookie-secret"),),
        proxy="http://user:proxy-pass@127.0.0.1:1",
        proxy_auth="bob:bobs-password",
    )
    secrets = secrets_of(opts)
    record = {
        "input": "http://u:p@h/",
        "title": "echo Bearer tok-123456 cookie-secret proxy-pass bobs-password",
    }
    text = json.dumps(scrub(body_for("json", diff_records([], [record]), {}), secrets))
    for secret in ("tok-123456", "cookie-secret", "proxy-pass", "bobs-password", "u:p@"):
        assert secret not in text
    assert "ok" not in secrets  # short values are not scrubbed everywhere


def test_notifier_refuses_what_it_cannot_post_to() -> None:
    with pytest.raises(ValueError):
        Notifier("ftp://127.0.0.1/x")
    with pytest.raises(ValueError):
        Notifier("http://127.0.0.1/x", "xml")  # type: ignore[arg-type]

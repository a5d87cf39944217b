"""Crush: one event per session of each project's .crush/crush.db, charged the cost Crush kept."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from agent_stores import (
    AGENT_FIXTURES,
    Call,
    acme_config,
    build_db,
    import_cli,
    malformed,
    new_calls,
    pico,
    recorded,
)

from spendtag.capture.agents import discover

GPT_5 = {"in": "1.25", "out": "10"}   # USD per million tokens (genai-prices, January 2026)


def _db(project: Path) -> Path:
    return build_db(AGENT_FIXTURES / "crush" / "crush.sql", project / ".crush" / "crush.db")


def _expected(project: Path) -> dict[str, Call]:
    return {
        # Crush's own cost ($0.0524) is the call's cost; the tokens are the latest call's
        "crush:c-main": Call("anthropic", "claude-opus-4-5", (12000, 0, 0, 800, 0), 52_400_000_000, str(project),
                             "c-main", "crush"),
        "crush:c-sub": Call("openai", "gpt-5", (3000, 0, 0, 200, 0), pico(3000, GPT_5["in"]) + pico(200, GPT_5["out"]),
                            str(project), "c-main", "crush/subagent"),
    }


def test_sessions_priced_and_reimport_records_nothing(tmp_path: Path) -> None:
    project = tmp_path / "clients" / "acme" / "api"
    db = _db(project)
    out = import_cli("crush", str(db), "--compare-logged-cost")
    assert new_calls(out) == 2 and malformed(out) == 0
    assert recorded() == _expected(project)
    assert "logged $0.05" in out
    assert new_calls(import_cli("crush", str(db))) == 0


def test_bad_rows_are_counted_and_the_others_recorded(tmp_path: Path) -> None:
    db = _db(tmp_path / "p")
    con = sqlite3.connect(db)
    with con:   # usage but no assistant message to name the model; a time nobody can read
        con.execute("INSERT INTO sessions VALUES ('bad1', NULL, 't', 0, 10, 10, 0, 1, 1767349000, NULL, NULL)")
        con.execute("INSERT INTO sessions VALUES ('bad2', NULL, 't', 0, 10, 10, 0, 1, -3, NULL, NULL)")
        con.execute("INSERT INTO messages VALUES ('mb', 'bad2', 'assistant', '[]', 'gpt-5', 1, 1, 1, 'openai', 0)")
    con.close()
    out = import_cli("crush", str(db))
    assert malformed(out) == 2 and new_calls(out) == 2


def test_the_project_path_rule_tags_the_client(tmp_path: Path) -> None:
    _db(tmp_path / "clients" / "acme" / "api")
    other = sqlite3.connect(_db(tmp_path / "personal"))
    with other:   # (Crush's ids are UUIDs: another project's never match)
        other.execute("UPDATE sessions SET id = id || '-2', parent_session_id = parent_session_id || '-2'")
        other.execute("UPDATE messages SET session_id = session_id || '-2'")
    other.close()
    import_cli("crush", str(tmp_path), config=acme_config(tmp_path, f"{tmp_path.as_posix()}/clients/acme/**"))
    clients = sorted(dict(c.tags).get("client") or "-" for c in recorded().values())
    assert clients == ["-", "-", "acme", "acme"]


@pytest.mark.parametrize(("plat", "data"), [("linux", ".local/share/crush"), ("darwin", ".local/share/crush"),
                                             ("win32", "AppData/Local/crush")])
def test_discovery_through_projects_json_on_each_platform(tmp_path: Path, plat: str, data: str) -> None:
    home = tmp_path / "home"
    project = tmp_path / "work" / "api"
    db = _db(project)
    listed = home / data / "projects.json"
    listed.parent.mkdir(parents=True)
    listed.write_text(json.dumps({"projects": [
        {"path": str(project), "data_dir": ".crush", "last_accessed": "2026-01-02T10:00:00Z"},
        {"path": str(tmp_path / "gone"), "data_dir": ".crush", "last_accessed": "2026-01-01T10:00:00Z"}]}))
    assert [log.path for log in discover("crush", env={}, home=home, plat=plat)] == [db]


def test_a_database_given_as_path_is_sniffed(tmp_path: Path) -> None:
    db = _db(tmp_path)
    assert [(log.agent, log.path) for log in discover(None, db)] == [("crush", db)]

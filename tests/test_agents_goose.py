"""Goose: one event per session from sessions.db, revised as the session grows."""

from __future__ import annotations

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

from spendtag.capture.agents import LogFile, discover, read

# List prices, USD per million tokens (genai-prices, January 2026).
SONNET_4 = {"in": "3", "out": "15"}
GPT_5 = {"in": "1.25", "out": "10"}
HAIKU_45 = {"in": "1", "out": "5"}
ACME = "/home/dev/clients/acme/api"


def _db(where: Path) -> Path:
    return build_db(AGENT_FIXTURES / "goose" / "sessions.sql", where / "sessions.db")


def _expected() -> dict[str, Call]:
    return {
        "goose:20260102_1": Call("anthropic", "claude-sonnet-4-20250514", (50000, 0, 0, 4000, 0),
                                 pico(50000, SONNET_4["in"]) + pico(4000, SONNET_4["out"]), ACME, "20260102_1",
                                 "goose"),
        # 12500 total - 10000 input - 2000 output: 500 reasoning, billed as output
        "goose:20260102_2": Call("openai", "gpt-5", (10000, 0, 0, 2500, 500),
                                 pico(10000, GPT_5["in"]) + pico(2500, GPT_5["out"]), "/home/dev/personal/blog",
                                 "20260102_2", "goose"),
        "goose:20260102_3": Call("anthropic", "claude-haiku-4.5", (800, 0, 0, 100, 0),
                                 pico(800, HAIKU_45["in"]) + pico(100, HAIKU_45["out"]), ACME, "20260102_1",
                                 "goose/subagent"),
    }


def test_sessions_priced_by_hand_and_reimport_records_nothing(tmp_path: Path) -> None:
    db = _db(tmp_path)
    out = import_cli("goose", str(db), "--compare-logged-cost")
    assert new_calls(out) == 3 and malformed(out) == 0
    assert recorded() == _expected()
    assert "logged $0.21" in out
    assert new_calls(import_cli("goose", str(db))) == 0


def test_a_session_that_grew_replaces_its_event(tmp_path: Path) -> None:
    db = _db(tmp_path)
    import_cli("goose", str(db))
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE sessions SET accumulated_input_tokens = 60000, accumulated_output_tokens = 5000, "
                    "accumulated_total_tokens = 65000 WHERE id = '20260102_1'")
    con.close()
    out = import_cli("goose", str(db))
    assert new_calls(out) == 0 and "1 updated as they grew" in out
    grown = recorded()["goose:20260102_1"]
    assert grown.buckets == (60000, 0, 0, 5000, 0)
    assert grown.cost == pico(60000, SONNET_4["in"]) + pico(5000, SONNET_4["out"])


def test_bad_rows_are_counted_and_the_others_recorded(tmp_path: Path) -> None:
    db = _db(tmp_path)
    con = sqlite3.connect(db)
    with con:
        con.execute("INSERT INTO sessions (id, working_dir, created_at, accumulated_input_tokens, model_config_json) "
                    "VALUES ('bad1', '/x', '2026-01-02 13:00:00', 5, '{broken')")
        con.execute("INSERT INTO sessions (id, working_dir, created_at, accumulated_input_tokens, model_config_json) "
                    "VALUES ('bad2', '/x', '2026-01-02 13:00:00', -5, '{\"model_name\":\"gpt-5\"}')")
        con.execute("INSERT INTO sessions (id, working_dir, created_at, accumulated_input_tokens, model_config_json) "
                    "VALUES ('bad3', '/x', 'yesterday', 5, '{\"model_name\":\"gpt-5\"}')")
    con.close()
    out = import_cli("goose", str(db))
    assert malformed(out) == 3 and new_calls(out) == 3
    assert set(recorded()) == set(_expected())


def test_an_unreadable_database_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "sessions.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 100)
    result = read(LogFile("goose", tmp_path / "sessions.db", tmp_path))
    assert result.calls == [] and result.malformed == 1 and "cannot read" in result.problems[0]


def test_the_project_path_rule_tags_the_client(tmp_path: Path) -> None:
    import_cli("goose", str(_db(tmp_path)), config=acme_config(tmp_path, "/home/dev/clients/acme/**"))
    assert {k: dict(c.tags).get("client") for k, c in recorded().items()} == {
        "goose:20260102_1": "acme", "goose:20260102_2": None, "goose:20260102_3": "acme"}


@pytest.mark.parametrize(("plat", "where"), [
    ("linux", ".local/share/goose/sessions"),
    ("darwin", "Library/Application Support/goose/sessions"),
    ("win32", "AppData/Roaming/Block/goose/data/sessions"),
])
def test_discovery_in_the_default_place_on_each_platform(tmp_path: Path, plat: str, where: str) -> None:
    home = tmp_path / "home"
    db = _db(home / where)
    assert [log.path for log in discover("goose", env={}, home=home, plat=plat)] == [db]
    root = tmp_path / "root"
    moved = _db(root / "data" / "sessions")
    assert [log.path for log in discover("goose", env={"GOOSE_PATH_ROOT": str(root)}, home=home, plat=plat)] == [moved]


def test_a_database_given_as_path_is_sniffed(tmp_path: Path) -> None:
    db = _db(tmp_path)
    assert [(log.agent, log.path) for log in discover(None, db)] == [("goose", db)]

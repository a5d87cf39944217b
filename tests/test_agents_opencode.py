"""OpenCode: its SQLite database and the JSON files of earlier versions, priced from list prices."""

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
    copy_tree,
    import_cli,
    malformed,
    new_calls,
    pico,
    recorded,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.capture.agents import LogFile, discover, read

# List prices, USD per million tokens (genai-prices, January 2026).
SONNET_4 = {"in": "3", "read": "0.3", "write": "3.75", "out": "15"}
HAIKU_45 = {"in": "1", "read": "0.1", "out": "5"}
GPT_5 = {"in": "1.25", "read": "0.125", "out": "10"}
GEMINI_25_PRO = {"in": "1.25", "out": "10"}
ACME = "/home/dev/clients/acme/api"
BLOG = "/home/dev/personal/blog"


def _tree(tmp_path: Path) -> Path:
    root = copy_tree("opencode", tmp_path / "opencode")
    build_db(root / "opencode.sql", root / "opencode.db")
    (root / "opencode.sql").unlink()
    return root


def _expected() -> dict[str, Call]:
    return {
        "opencode:msg_a1": Call("anthropic", "claude-sonnet-4-20250514", (1200, 5000, 800, 300, 0),
                                pico(1200, SONNET_4["in"]) + pico(5000, SONNET_4["read"]) + pico(800, SONNET_4["write"])
                                + pico(300, SONNET_4["out"]), ACME, "ses_main", "opencode"),
        # OpenRouter's anthropic/claude-sonnet-4 at Anthropic's list price; reasoning (20) is billed output
        "opencode:msg_a2": Call("anthropic", "claude-sonnet-4", (100, 0, 0, 70, 20),
                                pico(100, SONNET_4["in"]) + pico(70, SONNET_4["out"]), ACME, "ses_main", "opencode"),
        # the sub-agent's call belongs to its parent session
        "opencode:msg_a3": Call("openai", "gpt-5", (2000, 1000, 0, 550, 150),
                                pico(2000, GPT_5["in"]) + pico(1000, GPT_5["read"]) + pico(550, GPT_5["out"]),
                                ACME, "ses_main", "opencode/general"),
        "opencode:msg_a6": Call("google", "gemini-2.5-pro", (4000, 0, 0, 600, 0),
                                pico(4000, GEMINI_25_PRO["in"]) + pico(600, GEMINI_25_PRO["out"]), ACME, "ses_main",
                                "opencode"),
        "opencode:msg_b1": Call("anthropic", "claude-haiku-4-5", (600, 0, 0, 100, 0),
                                pico(600, HAIKU_45["in"]) + pico(100, HAIKU_45["out"]), BLOG, "ses_other", "opencode"),
        "opencode:msg_l1": Call("anthropic", "claude-haiku-4-5", (300, 10000, 0, 200, 0),
                                pico(300, HAIKU_45["in"]) + pico(10000, HAIKU_45["read"]) + pico(200, HAIKU_45["out"]),
                                BLOG, "ses_legacy", "opencode"),
    }


def test_database_and_json_files_give_each_call_once_priced_by_hand(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    out = import_cli("opencode", str(root))
    # msg_a1 is in the database and in a JSON file: recorded once
    assert new_calls(out) == 6 and malformed(out) == 0
    assert recorded() == _expected()
    again = import_cli("opencode", str(root))
    assert new_calls(again) == 0 and "4 files (4 unchanged)" in again


def test_a_message_completed_later_and_a_new_one_are_read_on_the_next_import(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    import_cli("opencode", str(root))
    con = sqlite3.connect(root / "opencode.db")
    with con:
        con.execute("UPDATE message SET time_updated = 1767316000000, data = json_set(data, '$.tokens.input', 10, "
                    "'$.tokens.output', 20, '$.time.completed', 1767312700000) WHERE id = 'msg_a4'")
        con.execute("INSERT INTO message SELECT 'msg_a7', session_id, 1767316001000, 1767316001000, data FROM message "
                    "WHERE id = 'msg_a6'")
    con.close()
    out = import_cli("opencode", str(root))
    assert new_calls(out) == 2
    assert recorded()["opencode:msg_a7"] == _expected()["opencode:msg_a6"]
    assert recorded()["opencode:msg_a4"].buckets == (10, 0, 0, 20, 0)
    assert new_calls(import_cli("opencode", str(root))) == 0


def test_bad_rows_are_counted_and_the_others_recorded(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    con = sqlite3.connect(root / "opencode.db")
    with con:
        con.execute("INSERT INTO message VALUES ('msg_x1', 'ses_main', 1, 1767312900000, "
                    "'{\"role\":\"assistant\",\"tokens\":{\"input\":-5,\"output\":1}}')")
        con.execute("INSERT INTO message VALUES ('msg_x2', 'ses_main', 1, 1767312900000, '\"assistant\" {not json')")
        con.execute("INSERT INTO message VALUES ('msg_x3', 'ses_main', 1, 1767312900000, "
                    "'{\"role\":\"assistant\",\"time\":{\"created\":1767312900000},\"tokens\":{\"input\":5}}')")
    con.close()
    (root / "storage" / "message" / "ses_legacy" / "msg_l2.json").write_text('{"role": "assistant", "tok', "utf-8")
    out = import_cli("opencode", str(root))
    assert malformed(out) == 4 and new_calls(out) == 6
    assert set(recorded()) == set(_expected())


def test_a_locked_or_corrupt_database_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "opencode.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    result = read(LogFile("opencode", tmp_path / "opencode.db", tmp_path))
    assert result.calls == [] and result.events == [] and result.malformed == 1
    assert "cannot read the database" in result.problems[0]


def test_the_project_path_rule_tags_the_client(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    import_cli("opencode", str(root), config=acme_config(tmp_path, "/home/dev/clients/acme/**"))
    tags = {k: dict(c.tags).get("client") for k, c in recorded().items()}
    assert tags == {"opencode:msg_a1": "acme", "opencode:msg_a2": "acme", "opencode:msg_a3": "acme",
                    "opencode:msg_a6": "acme", "opencode:msg_b1": None, "opencode:msg_l1": None}


def test_logged_cost_is_kept_beside_the_price(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    out = import_cli("opencode", str(root / "opencode.db"), "--compare-logged-cost")
    # 0.0138 + 0.00135 + 0.008625 + 0 + 0.0011, as OpenCode logged them
    assert "logged $0.02" in out


@pytest.mark.parametrize("plat", ["linux", "darwin", "win32"])
def test_discovery_in_the_default_place_on_each_platform(tmp_path: Path, plat: str) -> None:
    home = tmp_path / "home"
    _tree(home / ".local" / "share")
    found = discover("opencode", env={}, home=home, plat=plat)
    names = [log.path.relative_to(home).as_posix() for log in found]
    assert names == [".local/share/opencode/opencode.db",
                     ".local/share/opencode/storage/message/ses_legacy/msg_l0.json",
                     ".local/share/opencode/storage/message/ses_legacy/msg_l1.json",
                     ".local/share/opencode/storage/message/ses_main/msg_a1.json"]
    moved = discover("opencode", env={"XDG_DATA_HOME": str(tmp_path / "elsewhere")}, home=home, plat=plat)
    assert moved == []


def test_a_file_given_as_path_is_sniffed(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    for path in (root / "opencode.db", root / "storage" / "message" / "ses_legacy" / "msg_l1.json"):
        assert [(log.agent, log.path) for log in discover(None, path)] == [("opencode", path)]
    assert (AGENT_FIXTURES / "opencode" / "opencode.sql").is_file()


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**13), st.floats(allow_nan=True),
                    st.text(max_size=8), st.lists(st.integers(), max_size=2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tokens=st.dictionaries(st.sampled_from(["input", "output", "reasoning", "cache", "total"]), _VALUES),
       created=_VALUES, model=_VALUES, junk=st.binary(max_size=40))
def test_any_row_is_a_call_a_skip_or_malformed_never_an_error(tmp_path: Path, tokens: dict[str, object],
                                                              created: object, model: object, junk: bytes) -> None:
    db = tmp_path / "opencode.db"
    db.unlink(missing_ok=True)
    con = sqlite3.connect(db)
    with con:
        con.execute("CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT, time_created INTEGER, "
                    "time_updated INTEGER, data TEXT)")
        data = json.dumps({"role": "assistant", "time": {"created": created}, "modelID": model, "providerID": "openai",
                           "tokens": tokens})
        con.execute("INSERT INTO message VALUES ('m1', 's', 1, 1, ?)", (data,))
        con.execute("INSERT INTO message VALUES ('m2', 's', 1, 1, ?)", (b'"assistant"' + junk,))
    con.close()
    result = read(LogFile("opencode", db, tmp_path), state={})
    assert result.lines == 2
    assert len(result.events) + result.malformed + result.skipped == 2
    for event in result.events:
        assert event.usage.output_tokens >= event.usage.reasoning_tokens >= 0

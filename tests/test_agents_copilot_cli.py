"""GitHub Copilot CLI: assistant.usage events of its session-state logs, read incrementally."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_stores import Call, acme_config, copy_tree, import_cli, malformed, new_calls, pico, recorded

from spendtag.capture.agents import discover

SONNET_45 = {"in": "3", "read": "0.3", "write": "3.75", "out": "15"}   # USD per million tokens
GPT_5 = {"in": "1.25", "out": "10"}
SESSION = "5d1e7c3a-9b2f-4a6e-8c0d-1e2f3a4b5c6d"
OLD = "a0b1c2d3-1111-4222-8333-444455556666"
ACME = "/home/dev/clients/acme/api"


def _expected() -> dict[str, Call]:
    return {
        "copilot-cli:0b1c2d3e-0000-4000-8000-000000000004": Call(
            "anthropic", "claude-sonnet-4.5", (1500, 18000, 2000, 220, 0),
            pico(1500, SONNET_45["in"]) + pico(18000, SONNET_45["read"]) + pico(2000, SONNET_45["write"])
            + pico(220, SONNET_45["out"]), ACME, SESSION, "copilot-cli"),
        "copilot-cli:0b1c2d3e-0000-4000-8000-000000000006": Call(
            "anthropic", "claude-sonnet-4.5", (300, 20000, 0, 80, 0),
            pico(300, SONNET_45["in"]) + pico(20000, SONNET_45["read"]) + pico(80, SONNET_45["out"]), ACME, SESSION,
            "copilot-cli"),
        "copilot-cli:0b1c2d3e-0000-4000-8000-000000000008": Call(
            "openai", "gpt-5", (4000, 0, 0, 700, 0), pico(4000, GPT_5["in"]) + pico(700, GPT_5["out"]), ACME, SESSION,
            "copilot-cli"),
        "copilot-cli:e0000000-0000-4000-8000-000000000002": Call(
            "openai", "gpt-5", (900, 0, 0, 100, 0), pico(900, GPT_5["in"]) + pico(100, GPT_5["out"]),
            "/home/dev/personal/blog", OLD, "copilot-cli"),
    }


def test_sessions_priced_by_hand_and_reimport_records_nothing(tmp_path: Path) -> None:
    root = copy_tree("copilot-cli", tmp_path / "copilot")
    out = import_cli("copilot-cli", str(root / "session-state"))
    assert new_calls(out) == 4 and malformed(out) == 0
    assert recorded() == _expected()
    assert new_calls(import_cli("copilot-cli", str(root / "session-state"))) == 0


def test_appended_lines_are_read_from_where_the_last_import_stopped(tmp_path: Path) -> None:
    root = copy_tree("copilot-cli", tmp_path / "copilot")
    events = root / "session-state" / SESSION / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    (events.parent / "workspace.yaml").unlink()
    events.write_bytes(b"".join(lines[:4]) + lines[4][:30])   # the 5th line is being written
    assert new_calls(import_cli("copilot-cli", str(root / "session-state"))) == 2   # one here, one in the old file
    events.write_bytes(b"".join(lines))
    # the working directory of the session.start read last time is kept in the reader's state
    assert new_calls(import_cli("copilot-cli", str(root / "session-state"))) == 2
    assert recorded() == _expected()


def test_bad_lines_are_counted_and_the_others_recorded(tmp_path: Path) -> None:
    root = copy_tree("copilot-cli", tmp_path / "copilot")
    events = root / "session-state" / SESSION / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    bad = [b'{"type":"assistant.usage","data":{"model":"gpt-5","inputTokens":-3},"id":"x1",'
           b'"timestamp":"2026-01-07T14:02:00Z"}\n',
           b'{"type":"assistant.usage","data": [1, 2\n',
           b'{"type":"assistant.usage","data":{"inputTokens":3},"id":"x2","timestamp":"2026-01-07T14:02:00Z"}\n']
    events.write_bytes(b"".join(lines[:5] + bad + lines[5:]))
    out = import_cli("copilot-cli", str(root / "session-state"))
    assert malformed(out) == 3 and new_calls(out) == 4


def test_the_project_path_rule_tags_the_client(tmp_path: Path) -> None:
    root = copy_tree("copilot-cli", tmp_path / "copilot")
    import_cli("copilot-cli", str(root / "session-state"), config=acme_config(tmp_path, "/home/dev/clients/acme/**"))
    assert sorted(dict(c.tags).get("client") or "-" for c in recorded().values()) == ["-", "acme", "acme", "acme"]


@pytest.mark.parametrize("plat", ["linux", "darwin", "win32"])
def test_discovery_in_the_default_place_on_each_platform(tmp_path: Path, plat: str) -> None:
    home = tmp_path / "home"
    copy_tree("copilot-cli", home / ".copilot")
    found = discover("copilot-cli", env={}, home=home, plat=plat)
    assert [log.path.relative_to(home).as_posix() for log in found] == [
        f".copilot/session-state/{SESSION}/events.jsonl", f".copilot/session-state/{OLD}.jsonl"]
    assert discover("copilot-cli", env={"COPILOT_HOME": str(tmp_path / "none")}, home=home, plat=plat) == []


def test_a_log_given_as_path_is_sniffed(tmp_path: Path) -> None:
    root = copy_tree("copilot-cli", tmp_path / "copilot")
    path = root / "session-state" / SESSION / "events.jsonl"
    assert [(log.agent, log.path) for log in discover(None, path)] == [("copilot-cli", path)]

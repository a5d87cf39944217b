"""Factory Droid: one event per session from its settings file, revised as it grows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_stores import Call, acme_config, copy_tree, import_cli, malformed, new_calls, pico, recorded

from spendtag.capture.agents import discover
from spendtag.capture.agents.droid import model_name

SONNET_4 = {"in": "3", "read": "0.3", "write": "3.75", "out": "15"}   # USD per million tokens
HAIKU_45 = {"in": "1", "out": "5"}
MAIN = "3f1c9e2a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
PROXY = "9a8b7c6d-0000-4111-8222-333344445555"


def _expected() -> dict[str, Call]:
    return {
        # thinking (500) is billed as output
        f"droid:{MAIN}": Call("anthropic", "claude-sonnet-4-20250514", (20000, 150000, 4000, 3500, 500),
                              pico(20000, SONNET_4["in"]) + pico(150000, SONNET_4["read"])
                              + pico(4000, SONNET_4["write"]) + pico(3500, SONNET_4["out"]),
                              "/home/dev/clients/acme/api", MAIN, "droid"),
        f"droid:{PROXY}": Call("anthropic", "claude-haiku-4-5", (1000, 0, 0, 100, 0),
                               pico(1000, HAIKU_45["in"]) + pico(100, HAIKU_45["out"]), None, PROXY, "droid"),
    }


def test_sessions_priced_by_hand_and_reimport_records_nothing(tmp_path: Path) -> None:
    root = copy_tree("droid", tmp_path / "factory")
    out = import_cli("droid", str(root))
    assert new_calls(out) == 2 and malformed(out) == 0
    assert recorded() == _expected()
    assert new_calls(import_cli("droid", str(root))) == 0


def test_a_session_that_grew_replaces_its_event(tmp_path: Path) -> None:
    root = copy_tree("droid", tmp_path / "factory")
    import_cli("droid", str(root))
    path = root / "sessions" / f"{PROXY}.settings.json"
    settings = json.loads(path.read_text())
    settings["tokenUsage"]["inputTokens"] = 3000
    path.write_text(json.dumps(settings))
    out = import_cli("droid", str(root))
    assert "1 updated as they grew" in out
    assert recorded()[f"droid:{PROXY}"].buckets == (3000, 0, 0, 100, 0)


def test_bad_files_are_counted_and_the_others_recorded(tmp_path: Path) -> None:
    root = copy_tree("droid", tmp_path / "factory")
    (root / "sessions" / "cut.settings.json").write_text('{"model": "gpt-5", "tokenUs')
    (root / "sessions" / "neg.settings.json").write_text('{"model": "gpt-5", "tokenUsage": {"inputTokens": -4}}')
    (root / "sessions" / "nomodel.settings.json").write_text('{"tokenUsage": {"inputTokens": 4}}')
    out = import_cli("droid", str(root))
    assert malformed(out) == 3 and new_calls(out) == 2


def test_the_project_path_rule_tags_the_client(tmp_path: Path) -> None:
    root = copy_tree("droid", tmp_path / "factory")
    import_cli("droid", str(root), config=acme_config(tmp_path, "/home/dev/clients/acme/**"))
    assert {k: dict(c.tags).get("client") for k, c in recorded().items()} == {
        f"droid:{MAIN}": "acme", f"droid:{PROXY}": None}


def test_custom_model_names_become_model_ids() -> None:
    assert model_name("custom:Claude Haiku 4.5 [Proxy]") == "claude-haiku-4-5"
    assert model_name("gpt-5-codex") == "gpt-5-codex"


@pytest.mark.parametrize("plat", ["linux", "darwin", "win32"])
def test_discovery_in_the_default_place_on_each_platform(tmp_path: Path, plat: str) -> None:
    home = tmp_path / "home"
    copy_tree("droid", home / ".factory")
    found = discover("droid", env={}, home=home, plat=plat)
    assert sorted(log.path.name for log in found) == sorted(
        [f"{MAIN}.settings.json", f"{PROXY}.settings.json", "11111111-2222-4333-8444-555555555555.settings.json"])


def test_a_settings_file_given_as_path_is_sniffed(tmp_path: Path) -> None:
    root = copy_tree("droid", tmp_path / "factory")
    path = root / "sessions" / f"{PROXY}.settings.json"
    assert [(log.agent, log.path) for log in discover(None, path)] == [("droid", path)]

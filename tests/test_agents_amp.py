"""Amp: thread documents (messages' usage, or the usage ledger of older threads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_stores import Call, acme_config, copy_tree, import_cli, malformed, new_calls, pico, recorded

from spendtag.capture.agents import discover

SONNET_4 = {"in": "3", "read": "0.3", "write": "3.75", "out": "15"}   # USD per million tokens
GPT_5 = {"in": "1.25", "out": "10"}
ACME = "T-7f3c2a10-1b2c-4d5e-8f90-a1b2c3d4e5f6"
OLD = "T-00aa11bb-2222-4333-8444-555566667777"


def _expected() -> dict[str, Call]:
    api, blog = "/home/dev/clients/acme/api", "/home/dev/personal/blog"
    return {
        f"amp:{ACME}:1": Call("anthropic", "claude-sonnet-4-20250514", (10, 11372, 986, 178, 0),
                              pico(10, SONNET_4["in"]) + pico(11372, SONNET_4["read"]) + pico(986, SONNET_4["write"])
                              + pico(178, SONNET_4["out"]), api, ACME, "amp"),
        f"amp:{ACME}:3": Call("anthropic", "claude-sonnet-4-20250514", (5, 12000, 0, 42, 0),
                              pico(5, SONNET_4["in"]) + pico(12000, SONNET_4["read"]) + pico(42, SONNET_4["out"]),
                              api, ACME, "amp"),
        f"amp:{ACME}:5": Call("openai", "gpt-5", (3000, 0, 0, 500, 0),
                              pico(3000, GPT_5["in"]) + pico(500, GPT_5["out"]), api, ACME, "amp"),
        f"amp:{OLD}:event-a": Call("anthropic", "claude-sonnet-4-20250514", (1000, 0, 0, 200, 0),
                                   pico(1000, SONNET_4["in"]) + pico(200, SONNET_4["out"]), blog, OLD, "amp"),
    }


def test_threads_priced_by_hand_and_reimport_records_nothing(tmp_path: Path) -> None:
    root = copy_tree("amp", tmp_path / "amp")
    out = import_cli("amp", str(root), "--compare-logged-cost")
    assert new_calls(out) == 4 and malformed(out) == 0
    assert recorded() == _expected()
    assert "logged $0.04" in out   # 0.0266 + 0.0044 + 0.00875 credits
    assert new_calls(import_cli("amp", str(root))) == 0


def test_a_thread_rewritten_with_a_new_message_adds_only_it(tmp_path: Path) -> None:
    root = copy_tree("amp", tmp_path / "amp")
    import_cli("amp", str(root))
    path = root / "threads" / f"{ACME}.json"
    thread = json.loads(path.read_text())
    thread["messages"].append({"role": "assistant", "messageId": 6, "usage": {
        "model": "gpt-5", "inputTokens": 7, "outputTokens": 3, "timestamp": "2026-01-19T11:50:00.000Z"}})
    path.write_text(json.dumps(thread))
    assert new_calls(import_cli("amp", str(root))) == 1


def test_bad_messages_and_a_cut_file_are_counted_and_the_others_recorded(tmp_path: Path) -> None:
    root = copy_tree("amp", tmp_path / "amp")
    path = root / "threads" / f"{ACME}.json"
    thread = json.loads(path.read_text())
    thread["messages"] += [{"role": "assistant", "messageId": 7, "usage": {"model": "gpt-5", "inputTokens": -1}},
                           {"role": "assistant", "messageId": 8, "usage": {"inputTokens": 5, "timestamp": "x"}},
                           {"role": "assistant", "usage": {"model": "gpt-5", "inputTokens": 5}}]
    path.write_text(json.dumps(thread))
    (root / "threads" / "T-cut.json").write_text('{"id": "T-cut", "messages": [{"role"')
    out = import_cli("amp", str(root))
    assert malformed(out) == 4 and new_calls(out) == 4
    assert recorded() == _expected()


def test_the_project_path_rule_tags_the_client(tmp_path: Path) -> None:
    root = copy_tree("amp", tmp_path / "amp")
    import_cli("amp", str(root), config=acme_config(tmp_path, "/home/dev/clients/acme/**"))
    assert sorted(dict(c.tags).get("client") or "-" for c in recorded().values()) == ["-", "acme", "acme", "acme"]


@pytest.mark.parametrize("plat", ["linux", "darwin", "win32"])
def test_discovery_in_the_default_place_on_each_platform(tmp_path: Path, plat: str) -> None:
    home = tmp_path / "home"
    copy_tree("amp", home / ".local" / "share" / "amp")
    found = discover("amp", env={}, home=home, plat=plat)
    assert sorted(log.path.name for log in found) == [f"{OLD}.json", f"{ACME}.json"]
    other = copy_tree("amp", tmp_path / "other")
    assert len(discover("amp", env={"AMP_DATA_DIR": str(other)}, home=home, plat=plat)) == 2


def test_a_thread_given_as_path_is_sniffed(tmp_path: Path) -> None:
    root = copy_tree("amp", tmp_path / "amp")
    path = root / "threads" / f"{ACME}.json"
    assert [(log.agent, log.path) for log in discover(None, path)] == [("amp", path)]

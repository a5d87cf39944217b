"""Kilo Code task histories: a routed model id, a Windows workspace, a file cut mid-save, discovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_import_support import FIXTURES, copy_tree, pico, recorded, rules, run, touch_later, vscode_storage

from spendtag.capture.agents import LogFile, discover, read
from spendtag.usage import Usage

STORAGE = FIXTURES / "kilo-code" / "kilocode.kilo-code"
K1, K2 = "0199d8f0-0a0a-7000-9000-initech00tps", "0199d8f1-0b0b-7000-9000-initech0tps2"
TPS = "C:/Users/dev/clients/initech/tps"


def test_fixture_import_exact_calls(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    config = rules(tmp_path, {"C:/Users/dev/clients/initech/**": "initech"})
    out = run(db, "import", "kilo-code", str(STORAGE), config=config)
    assert "2 files (0 unchanged): 2 new calls, 0 already recorded, 0 malformed lines skipped" in out
    got = recorded(db)
    assert set(got) == {f"kilo-code:{K1}:1767618001000", f"kilo-code:{K2}:1767618101000"}
    routed = got[f"kilo-code:{K1}:1767618001000"]
    # Kilo's own provider routes x-ai/grok-code-fast-1: priced at xAI's list; 30000 - 25000 cached.
    assert (routed.event.provider, routed.event.model) == ("x-ai", "grok-code-fast-1")
    assert routed.event.usage == Usage(input_tokens=5000, cache_read_tokens=25000, output_tokens=1000)
    assert routed.cost.total == pico("grok-code-fast-1", 5000, 25000, 0, 1000) == 3_000_000_000
    cut = got[f"kilo-code:{K2}:1767618101000"]
    # No history_item.json: the workspace comes from the environment details.
    assert (cut.event.provider, cut.event.model, cut.event.project) == ("anthropic", "claude-sonnet-4-5", TPS)
    assert cut.event.usage == Usage(input_tokens=2, cache_write_5m_tokens=5000, output_tokens=90)
    assert cut.cost.total == pico("claude-sonnet-4.5", 2, 0, 5000, 90)
    for p in got.values():
        assert (p.event.project, p.event.tags, p.event.agent, p.event.session) == (
            TPS, {"client": "initech"}, "kilo-code", p.event.event_id.split(":")[1])
    assert "0 new calls" in run(db, "import", "kilo-code", str(STORAGE))


def test_a_file_cut_mid_save_gives_the_messages_before_the_cut_then_the_rest(tmp_path: Path) -> None:
    storage = copy_tree(STORAGE, tmp_path / "kilocode.kilo-code")
    path = storage / "tasks" / K2 / "ui_messages.json"
    result = read(LogFile("kilo-code", path, storage))
    assert [e.event_id for e in result.events] == [f"kilo-code:{K2}:1767618101000"]
    assert result.malformed == 0 and "ends mid-message" in result.problems[0]
    db = tmp_path / "ledger.db"
    run(db, "import", "kilo-code", str(storage))
    whole = path.read_text() + ' the tests."},{"ts":1767618200000,"type":"say","say":"api_req_started","text":' \
        + json.dumps(json.dumps({"apiProtocol": "anthropic", "tokensIn": 1, "tokensOut": 10, "cacheWrites": 0,
                                 "cacheReads": 5000, "cost": 0.001653})) + "}]"
    json.loads(whole)
    path.write_text(whole)
    touch_later(path)
    assert "1 new calls" in run(db, "import", "kilo-code", str(storage))
    assert recorded(db)[f"kilo-code:{K2}:1767618200000"].cost.total == pico("claude-sonnet-4.5", 1, 5000, 0, 10)


@pytest.mark.parametrize("plat", ["linux", "darwin", "win32"])
def test_discovery_in_each_platforms_places(tmp_path: Path, plat: str) -> None:
    home = tmp_path / "home"
    copy_tree(STORAGE, vscode_storage(home, plat, "Windsurf") / "kilocode.kilo-code")
    found = discover("kilo-code", env={}, home=home, plat=plat)
    assert sorted(f.path.parent.name for f in found) == [K1, K2]

"""Roo Code task histories: both ways of counting tokensIn, a model renamed mid-task, a sub-task, discovery."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from agent_import_support import FIXTURES, copy_tree, pico, recorded, rules, run, touch_later, vscode_storage

from spendtag.capture.agents import LogFile, discover, read
from spendtag.usage import Usage

STORAGE = FIXTURES / "roo-code" / "rooveterinaryinc.roo-cline"
PARENT, CHILD = "0199d7a2-5b1e-7c3d-9f00-acme0000web1", "0199d7a4-11aa-7b2c-8e00-acme0000web2"
WEB = "/home/dev/clients/acme/web"


def _usage(inp: int, read: int, write: int, out: int) -> Usage:
    return Usage(input_tokens=inp, cache_read_tokens=read, cache_write_5m_tokens=write, output_tokens=out)


# event id -> (provider, model, usage, session, agent, cost in pico-USD by hand)
EXPECTED = {
    # Roo 3.30+: tokensIn is the whole prompt (12004 = 4 + 12000 written to the cache).
    f"roo-code:{PARENT}:1767614401000": ("anthropic", "claude-sonnet-4-20250514", _usage(4, 0, 12000, 350), PARENT,
                                         "roo-code", pico("claude-sonnet-4", 4, 0, 12000, 350)),
    # Before 3.30 an Anthropic-protocol tokensIn left the cache out (3 < 12000 read); the model
    # was switched to the OpenRouter id anthropic/claude-sonnet-4.5 in between.
    f"roo-code:{PARENT}:1767614600000": ("anthropic", "claude-sonnet-4.5", _usage(3, 12000, 0, 120), PARENT,
                                         "roo-code", pico("claude-sonnet-4.5", 3, 12000, 0, 120)),
    # The sub-task (new_task in architect mode): its root task's session, agent roo-code/architect.
    f"roo-code:{CHILD}:1767614701000": ("google", "gemini-2.5-pro", _usage(4000, 16000, 0, 800), PARENT,
                                        "roo-code/architect", pico("gemini-2.5-pro", 4000, 16000, 0, 800)),
}


def test_fixture_import_exact_calls_sub_task_and_client(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    out = run(db, "import", "roo-code", str(STORAGE), config=rules(tmp_path, {"/home/dev/clients/acme/**": "acme"}))
    assert "2 files (0 unchanged): 3 new calls, 0 already recorded, 0 malformed lines skipped" in out
    got = recorded(db)
    assert set(got) == set(EXPECTED)
    for event_id, (provider, model, usage, session, agent, cost) in EXPECTED.items():
        e = got[event_id].event
        assert (e.provider, e.model, e.usage, e.session, e.agent, e.source) == (provider, model, usage, session,
                                                                                agent, "roo-code")
        assert (e.project, e.tags, e.status) == (WEB, {"client": "acme"}, "ok")
        assert got[event_id].cost.total == cost
    assert "0 new calls" in run(db, "import", "roo-code", str(STORAGE))


def test_the_streaming_request_is_recorded_when_saved_complete(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    storage = copy_tree(STORAGE, tmp_path / "rooveterinaryinc.roo-cline")
    run(db, "import", "roo-code", str(storage))
    path = storage / "tasks" / PARENT / "ui_messages.json"
    text = path.read_text()
    streaming = '"text":"{\\"apiProtocol\\":\\"anthropic\\"}"'
    assert streaming in text
    path.write_text(text.replace(streaming, '"text":"{\\"apiProtocol\\":\\"anthropic\\",\\"tokensIn\\":12300,'
                                            '\\"tokensOut\\":60,\\"cacheWrites\\":300,\\"cacheReads\\":12000,'
                                            '\\"cost\\":0.005625}"'))
    touch_later(path)
    assert "1 new calls" in run(db, "import", "roo-code", str(storage))
    e = recorded(db)[f"roo-code:{PARENT}:1767614900000"]
    assert e.event.usage == _usage(0, 12000, 300, 60)
    assert e.cost.total == pico("claude-sonnet-4.5", 0, 12000, 300, 60)


def test_logged_cost_is_the_extensions_own() -> None:
    result = read(LogFile("roo-code", STORAGE / "tasks" / PARENT / "ui_messages.json", STORAGE))
    assert result.logged_cost_usd == Decimal("0.055671")
    assert (result.lines, result.malformed, result.skipped) == (6, 0, 4)


@pytest.mark.parametrize("plat", ["linux", "darwin", "win32"])
def test_discovery_in_each_platforms_places(tmp_path: Path, plat: str) -> None:
    home = tmp_path / "home"
    copy_tree(STORAGE, vscode_storage(home, plat, "VSCodium") / "rooveterinaryinc.roo-cline")
    found = discover("roo-code", env={}, home=home, plat=plat)
    assert sorted(f.path.parent.name for f in found) == [PARENT, CHILD]
    assert all(f.agent == "roo-code" for f in found)
    assert discover("cline", env={}, home=home, plat=plat) == []


def test_xdg_config_home_moves_the_linux_place(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    copy_tree(STORAGE, config / "Code" / "User" / "globalStorage" / "rooveterinaryinc.roo-cline")
    found = discover("roo-code", env={"XDG_CONFIG_HOME": str(config)}, home=tmp_path / "home", plat="linux")
    assert len(found) == 2

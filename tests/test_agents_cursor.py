"""Cursor: the dashboard's usage CSV export (current and older columns)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from agent_stores import AGENT_FIXTURES, Call, copy_tree, import_cli, malformed, new_calls, pico, recorded

from spendtag.capture.agents import discover
from spendtag.capture.agents.cursor import model_id

SONNET = {"in": "3", "read": "0.3", "write": "3.75", "out": "15"}   # Sonnet 4 and 4.5, USD per million tokens
GPT_5 = {"in": "1.25", "read": "0.125", "out": "10"}
NEW = AGENT_FIXTURES / "cursor" / "usage-events-2026-01-10.csv"
OLD = AGENT_FIXTURES / "cursor" / "usage-events-2025-12.csv"


def _id(path: Path, row: int) -> str:
    line = path.read_text().splitlines()[row]
    return f"cursor:{hashlib.sha256(line.strip().encode()).hexdigest()[:24]}:1"


def _expected() -> dict[str, Call]:
    gpt = Call("openai", "gpt-5", (3000, 5000, 0, 900, 0),
               pico(3000, GPT_5["in"]) + pico(5000, GPT_5["read"]) + pico(900, GPT_5["out"]), None, None, "cursor")
    return {
        _id(NEW, 1): Call("anthropic", "claude-sonnet-4-5", (4000, 110000, 20000, 1800, 0),
                          pico(4000, SONNET["in"]) + pico(110000, SONNET["read"]) + pico(20000, SONNET["write"])
                          + pico(1800, SONNET["out"]), None, None, "cursor"),
        _id(NEW, 2): gpt,
        _id(NEW, 4): Call("cursor", "auto", (1000, 0, 0, 100, 0), 0, None, None, "cursor"),   # unpriced, not $0
        _id(NEW, 5): gpt,
        _id(OLD, 1): Call("anthropic", "claude-sonnet-4", (1200, 8000, 800, 300, 0),
                          pico(1200, SONNET["in"]) + pico(8000, SONNET["read"]) + pico(800, SONNET["write"])
                          + pico(300, SONNET["out"]), None, None, "cursor"),
    }


def test_exports_priced_by_hand_and_reimport_records_nothing(tmp_path: Path) -> None:
    root = copy_tree("cursor", tmp_path / "exports")
    out = import_cli("cursor", str(root), "--compare-logged-cost")
    assert new_calls(out) == 5 and malformed(out) == 0
    assert recorded() == _expected()
    assert "logged $0.14" in out and "logged $0.02" in out
    assert new_calls(import_cli("cursor", str(root))) == 0


def test_an_overlapping_export_adds_only_its_new_rows(tmp_path: Path) -> None:
    root = copy_tree("cursor", tmp_path / "exports")
    import_cli("cursor", str(root))
    lines = NEW.read_text().splitlines()
    later = '"2026-01-10T08:00:00.000Z","Included","gpt-5","No","10","10","0","5","15","0.00"'
    (root / "usage-events-2026-01-11.csv").write_text("\n".join([lines[0], later, *lines[1:3]]) + "\n")
    assert new_calls(import_cli("cursor", str(root))) == 1


def test_bad_rows_are_counted_and_the_others_recorded(tmp_path: Path) -> None:
    lines = NEW.read_text().splitlines()
    bad = ['"2026-01-09T17:00:00Z","Included","gpt-5","No","x","1","0","1","2","0"',
           '"not a date","Included","gpt-5","No","1","1","0","1","2","0"',
           '"2026-01-09T17:00:00Z","Included","gpt-5"']
    path = tmp_path / "usage.csv"
    path.write_text("\n".join([*lines[:3], *bad, *lines[3:]]) + "\n")
    out = import_cli("cursor", str(path))
    assert malformed(out) == 3 and new_calls(out) == 4


def test_cursor_names_become_vendor_model_ids() -> None:
    assert [model_id(m) for m in ("claude-4.5-sonnet-thinking", "claude-4-sonnet", "claude-4.1-opus",
                                  "claude-3.7-sonnet", "gpt-5", "auto")] == [
        "claude-sonnet-4-5", "claude-sonnet-4", "claude-opus-4-1", "claude-3-7-sonnet", "gpt-5", "auto"]


@pytest.mark.parametrize(("plat", "where"), [("linux", ".config"), ("darwin", "Library/Application Support"),
                                             ("win32", "AppData/Roaming")])
def test_discovery_in_the_default_place_on_each_platform(tmp_path: Path, plat: str, where: str) -> None:
    home = tmp_path / "home"
    copy_tree("cursor", home / where / "spendtag" / "cursor")
    assert sorted(log.path.name for log in discover("cursor", env={}, home=home, plat=plat)) == [OLD.name, NEW.name]


def test_an_export_given_as_path_is_sniffed(tmp_path: Path) -> None:
    root = copy_tree("cursor", tmp_path / "exports")
    for name in (NEW.name, OLD.name):
        assert [(log.agent, log.path) for log in discover(None, root / name)] == [("cursor", root / name)]

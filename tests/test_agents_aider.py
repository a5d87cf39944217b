"""Aider chat histories: Tokens and Cost lines, rounded counts, LiteLLM model names, runs, discovery."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from agent_import_support import FIXTURES, copy_tree, pico, recorded, rules, run

from spendtag.capture.agents import LogFile, discover, read
from spendtag.usage import Usage

LAB = FIXTURES / "aider" / "clients" / "umbrella" / "lab"
HISTORY = LAB / ".aider.chat.history.md"


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Aider writes local wall-clock times: the tests run in a known zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _id(lab: Path, started: str, n: int) -> str:
    return f"aider:{lab}:{started}:{n}"


def test_fixture_import_exact_calls_costs_and_client(tmp_path: Path) -> None:
    lab = copy_tree(LAB, tmp_path / "clients" / "umbrella" / "lab")
    db = tmp_path / "ledger.db"
    out = run(db, "import", "aider", str(lab), config=rules(tmp_path, {f"{tmp_path}/clients/umbrella/**": "umbrella"}))
    assert "1 files (0 unchanged): 4 new calls, 0 already recorded, 1 malformed lines skipped" in out
    got = recorded(db)
    first, cached, deepseek, local = (got[_id(lab, "2026-01-05 15:00:00", 1)], got[_id(lab, "2026-01-05 15:00:00", 2)],
                                      got[_id(lab, "2026-01-06 09:30:00", 1)], got[_id(lab, "2026-01-06 09:30:00", 2)])
    assert len(got) == 4
    assert (first.event.provider, first.event.model) == ("anthropic", "claude-sonnet-4-20250514")
    assert first.event.usage == Usage(input_tokens=950, output_tokens=120)
    assert first.cost.total == pico("claude-sonnet-4", 950, 0, 0, 120)
    # 14k sent = uncached + 2.1k written + 9.6k read; counts of 1000 and more are rounded by Aider.
    assert cached.event.usage == Usage(input_tokens=2300, cache_read_tokens=9600, cache_write_5m_tokens=2100,
                                       output_tokens=210, estimated=True)
    assert cached.cost.total == pico("claude-sonnet-4", 2300, 9600, 2100, 210)
    assert (deepseek.event.provider, deepseek.event.model) == ("deepseek", "deepseek-chat")
    assert deepseek.cost.total == pico("deepseek-chat", 800, 0, 0, 200)
    assert (local.event.provider, local.event.model, local.cost.priced) == ("ollama", "qwen2.5-coder:32b", False)
    for p in got.values():
        assert (p.event.project, p.event.tags, p.event.agent, p.event.source) == (
            str(lab), {"client": "umbrella"}, "aider", "aider")
    assert first.event.session == "2026-01-05T15:00:00@lab"
    assert first.event.ts.isoformat() == "2026-01-05T15:00:00+00:00"
    assert deepseek.event.session == "2026-01-06T09:30:00@lab"
    assert "0 new calls" in run(db, "import", "aider", str(lab))


def test_logged_costs_are_kept_beside(tmp_path: Path) -> None:
    result = read(LogFile("aider", HISTORY, LAB))
    assert result.logged_cost_usd == Decimal("0.0047") + Decimal("0.02") + Decimal("0.00022")
    assert result.malformed == 1 and result.problems[0].endswith("unreadable token count '2.x'")
    out = run(tmp_path / "ledger.db", "import", "aider", str(LAB), "--compare-logged-cost")
    assert f"{HISTORY}: logged $0.02, spendtag $0.03, difference <$0.01" in out


def test_appended_runs_are_read_from_where_the_last_import_stopped(tmp_path: Path) -> None:
    lab = copy_tree(LAB, tmp_path / "lab")
    db = tmp_path / "ledger.db"
    run(db, "import", "aider", str(lab))
    with open(lab / ".aider.chat.history.md", "a") as f:
        f.write("#### and the docs  \n\n> Tokens: 1.2k sent, 300 received.  \n")
    assert "1 new calls" in run(db, "import", "aider", str(lab))
    # The run's model and count carried over from the earlier import.
    e = recorded(db)[_id(lab, "2026-01-06 09:30:00", 3)].event
    assert (e.model, e.usage) == ("qwen2.5-coder:32b", Usage(input_tokens=1200, output_tokens=300, estimated=True))


def test_local_time_is_converted_to_utc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    result = read(LogFile("aider", HISTORY, LAB))
    assert result.events[0].ts.isoformat() == "2026-01-05T14:00:00+00:00"


@pytest.mark.parametrize("plat", ["linux", "darwin", "win32"])
def test_discovery_from_home_env_and_other_agents_projects(tmp_path: Path, plat: str) -> None:
    home = tmp_path / "home"
    copy_tree(LAB, home)                                                  # ~/.aider.chat.history.md
    listed = copy_tree(LAB, tmp_path / "work" / "listed")                 # $SPENDTAG_AIDER_DIRS/<sub-folder>
    seen = copy_tree(LAB, tmp_path / "seen-by-kimi")                      # a work dir Kimi CLI recorded
    (home / ".kimi").mkdir()
    (home / ".kimi" / "kimi.json").write_text(json.dumps({"work_dirs": [{"path": str(seen)}]}))
    found = discover("aider", env={"SPENDTAG_AIDER_DIRS": str(tmp_path / "work")}, home=home, plat=plat)
    assert sorted(f.path.parent for f in found) == sorted([home, listed, seen])


def test_a_path_is_searched_and_sniffed(tmp_path: Path) -> None:
    assert [f.path for f in discover("aider", FIXTURES / "aider")] == [HISTORY]
    assert {f.agent for f in discover(None, FIXTURES / "aider")} == {"aider"}


def test_any_mutated_line_is_skipped_and_counted(tmp_path: Path) -> None:
    import random

    lines = HISTORY.read_bytes().split(b"\n")[:-1]
    for seed in range(30):
        rnd = random.Random(seed)
        mixed = [line[:(cut := rnd.randrange(len(line) + 1))] + rnd.choice([b"\xff", b"k", b",", b"9" * 30, b"$"])
                 + line[cut:] if rnd.random() < 0.3 else line for line in lines]
        path = tmp_path / f"{seed}" / ".aider.chat.history.md"
        path.parent.mkdir()
        path.write_bytes(b"\n".join(mixed) + b"\n")
        result = read(LogFile("aider", path, path.parent))
        assert result.lines == len(mixed) and result.offset == path.stat().st_size
        assert len(result.events) <= 5

"""Cline task histories: the fixture's calls exactly, streaming partials, retries, model switches, discovery."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from agent_import_support import FIXTURES, copy_tree, pico, recorded, rules, run, touch_later, vscode_storage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.capture.agents import LogFile, discover, read
from spendtag.usage import Usage

STORAGE = FIXTURES / "cline" / "saoudrizwan.claude-dev"
A, B = "1767607200000", "1767610800000"
ACME, GLOBEX = "/home/dev/clients/acme/api", "/home/dev/clients/globex/etl"


def _usage(inp: int, read: int, write: int, out: int) -> Usage:
    return Usage(input_tokens=inp, cache_read_tokens=read, cache_write_5m_tokens=write, output_tokens=out)


# event id -> (provider, model, usage, status, project, cost in pico-USD by hand)
EXPECTED: dict[str, tuple[str, str, Usage, str, str, int]] = {
    f"cline:{A}:1767607201000": ("anthropic", "claude-sonnet-4-20250514", _usage(4, 0, 12000, 350), "ok", ACME,
                                 pico("claude-sonnet-4", 4, 0, 12000, 350)),
    f"cline:{A}:1767607260000": ("anthropic", "claude-sonnet-4-20250514", _usage(6, 12000, 800, 420), "ok", ACME,
                                 pico("claude-sonnet-4", 6, 12000, 800, 420)),
    # A stream that failed after its prompt was read: billed, marked as an error.
    f"cline:{A}:1767607300000": ("anthropic", "claude-sonnet-4-20250514", _usage(3, 12800, 0, 0), "error", ACME,
                                 pico("claude-sonnet-4", 3, 12800, 0, 0)),
    # The model switched to OpenRouter's anthropic/claude-sonnet-4 (task_metadata.json model_usage):
    # priced at Anthropic's list price; OpenRouter's tokensIn leaves the cache out.
    f"cline:{A}:1767607410000": ("anthropic", "claude-sonnet-4", _usage(1500, 13000, 0, 200), "ok", ACME,
                                 pico("claude-sonnet-4", 1500, 13000, 0, 200)),
    # The generic OpenAI provider's tokensIn is the whole prompt: 10000 - 6000 cached.
    f"cline:{B}:1767610801000": ("openai", "gpt-4.1", _usage(4000, 6000, 0, 500), "ok", GLOBEX,
                                 pico("gpt-4.1", 4000, 6000, 0, 500)),
    f"cline:{B}:1767610900000": ("openai", "gpt-4.1", _usage(2000, 10000, 0, 300), "ok", GLOBEX,
                                 pico("gpt-4.1", 2000, 10000, 0, 300)),
}


def test_fixture_import_gives_exactly_the_complete_calls_priced_and_attributed(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    config = rules(tmp_path, {"/home/dev/clients/acme/**": "acme"})
    out = run(db, "import", "cline", str(STORAGE), config=config)
    # 6 calls; the request still streaming and the retry that failed before any usage are not calls.
    assert "2 files (0 unchanged): 6 new calls, 0 already recorded, 4 malformed lines skipped" in out
    got = recorded(db)
    assert set(got) == set(EXPECTED)
    for event_id, (provider, model, usage, status, project, cost) in EXPECTED.items():
        p = got[event_id]
        e = p.event
        assert (e.provider, e.model, e.usage, e.status, e.project) == (provider, model, usage, status, project)
        assert p.cost.total == cost, event_id
        assert (e.session, e.agent, e.source) == (event_id.split(":")[1], "cline", "cline")
        assert e.tags == ({"client": "acme"} if project == ACME else {})
    assert got[f"cline:{A}:1767607201000"].event.ts.isoformat() == "2026-01-05T10:00:01+00:00"
    # $0.050262 + $0.012918 + $0.003849 + $0.0114 + $0.015 + $0.0114, to the pico-dollar.
    assert sum(p.cost.total for p in got.values()) == 104_829_000_000


def test_reimport_and_a_resave_with_the_same_content_record_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    storage = copy_tree(STORAGE, tmp_path / "saoudrizwan.claude-dev")
    run(db, "import", "cline", str(storage))
    before = {k: (p.event.usage, p.cost.total) for k, p in recorded(db).items()}
    assert "2 files (2 unchanged): 0 new calls" in run(db, "import", "cline", str(storage))
    touch_later(storage / "tasks" / A / "ui_messages.json")    # saved whole again, nothing new
    out = run(db, "import", "cline", str(storage))
    assert "2 files (1 unchanged): 0 new calls" in out
    assert {k: (p.event.usage, p.cost.total) for k, p in recorded(db).items()} == before


def _messages(storage: Path, task: str) -> list[Any]:
    return list(json.loads((storage / "tasks" / task / "ui_messages.json").read_text()))


def _save(storage: Path, task: str, messages: list[Any]) -> None:
    path = storage / "tasks" / task / "ui_messages.json"
    path.write_text(json.dumps(messages, separators=(",", ":")))
    touch_later(path)


def test_a_request_recorded_once_complete_and_a_copy_that_grew_replaces_it(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    storage = copy_tree(STORAGE, tmp_path / "saoudrizwan.claude-dev")
    run(db, "import", "cline", str(storage))
    messages = _messages(storage, A)
    streaming = next(m for m in messages if m.get("ts") == 1767607500000)
    # The request that was streaming finishes: the extension saves the file whole with its usage.
    streaming["text"] = json.dumps({"request": "<feedback>", "tokensIn": 2, "tokensOut": 40, "cacheWrites": 300,
                                    "cacheReads": 13200, "cost": 0.00573})
    _save(storage, A, messages)
    out = run(db, "import", "cline", str(storage))
    assert "1 new calls" in out
    got = recorded(db)
    assert got[f"cline:{A}:1767607500000"].event.usage == _usage(2, 13200, 300, 40)
    assert got[f"cline:{A}:1767607500000"].cost.total == pico("claude-sonnet-4", 2, 13200, 300, 40)
    # A later save with more output for the same request (a copy written mid-stream before):
    # the ledger keeps the copy with the most usage, once.
    streaming["text"] = json.dumps({"request": "<feedback>", "tokensIn": 2, "tokensOut": 95, "cacheWrites": 300,
                                    "cacheReads": 13200, "cost": 0.006555})
    _save(storage, A, messages)
    out = run(db, "import", "cline", str(storage))
    assert "0 new calls" in out
    got = recorded(db)
    assert len(got) == 7
    assert got[f"cline:{A}:1767607500000"].event.usage == _usage(2, 13200, 300, 95)


def test_compare_logged_cost_shows_the_extensions_own_cost(tmp_path: Path) -> None:
    out = run(tmp_path / "ledger.db", "import", "cline", str(STORAGE), "--compare-logged-cost")
    a = STORAGE / "tasks" / A / "ui_messages.json"
    b = STORAGE / "tasks" / B / "ui_messages.json"
    assert f"{a}: logged $0.08, spendtag $0.08, difference $0.00" in out
    assert f"{b}: logged $0.03, spendtag $0.03, difference $0.00" in out
    result = read(LogFile("cline", a, STORAGE))
    assert result.logged_cost_usd == Decimal("0.078429")


def test_bad_messages_are_counted_and_the_rest_is_read() -> None:
    path = STORAGE / "tasks" / B / "ui_messages.json"
    result = read(LogFile("cline", path, STORAGE))
    assert [e.event_id for e in result.events] == [f"cline:{B}:1767610801000", f"cline:{B}:1767610900000"]
    assert (result.lines, result.malformed, result.skipped) == (7, 4, 1)
    assert [p.split(": ", 1)[1] for p in result.problems] == [
        "api_req_started text: JSON is malformed: invalid character (byte 4)",
        "api_req_started text: tokensIn must be a whole number of tokens, got -5",
        "a message that is not an object",
        "api_req_started without a readable ts: None",
    ]


@pytest.mark.parametrize("plat", ["linux", "darwin", "win32"])
def test_discovery_in_each_platforms_places(tmp_path: Path, plat: str) -> None:
    home = tmp_path / "home"
    copy_tree(STORAGE, vscode_storage(home, plat) / "saoudrizwan.claude-dev")
    copy_tree(STORAGE / "tasks" / B, vscode_storage(home, plat, "Cursor") / "saoudrizwan.claude-dev" / "tasks" / B)
    copy_tree(STORAGE / "tasks" / A, home / ".cline" / "data" / "tasks" / A)
    found = discover("cline", env={}, home=home, plat=plat)
    rel = sorted(str(f.path.relative_to(home)).replace("\\", "/") for f in found)
    storage = str(vscode_storage(home, plat).relative_to(home)).replace("\\", "/")
    assert rel == sorted([
        f"{storage}/saoudrizwan.claude-dev/tasks/{A}/ui_messages.json",
        f"{storage}/saoudrizwan.claude-dev/tasks/{B}/ui_messages.json",
        f"{storage.replace('/Code/', '/Cursor/')}/saoudrizwan.claude-dev/tasks/{B}/ui_messages.json",
        f".cline/data/tasks/{A}/ui_messages.json",
    ])


def test_discovery_follows_cline_data_dir_and_appdata(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = copy_tree(STORAGE, tmp_path / "elsewhere" / "data")
    roaming = tmp_path / "Roaming"
    copy_tree(STORAGE, roaming / "Code" / "User" / "globalStorage" / "saoudrizwan.claude-dev")
    found = discover("cline", env={"CLINE_DATA_DIR": str(data), "APPDATA": str(roaming)}, home=home, plat="win32")
    assert {f.path.parent.parent.parent for f in found} == {data, roaming / "Code" / "User" / "globalStorage" /
                                                             "saoudrizwan.claude-dev"}
    assert len(found) == 4


def test_a_path_is_sniffed_to_the_extension_that_wrote_it(tmp_path: Path) -> None:
    found = {(f.agent, f.path.parent.name) for f in discover(None, FIXTURES)}
    tasks = {(agent, p.name) for agent in ("cline", "roo-code", "kilo-code")
             for p in (FIXTURES / agent).glob("*/tasks/*")}
    assert {(agent, task) for agent, task in found if agent in ("cline", "roo-code", "kilo-code")} == tasks
    assert len(tasks) == 6
    # A task folder copied out of its storage is still Cline's format.
    loose = copy_tree(STORAGE / "tasks" / A, tmp_path / "backup" / A)
    assert [(f.agent, f.path) for f in discover(None, tmp_path / "backup")] == [("cline", loose / "ui_messages.json")]


def _mutated(messages: list[Any], rnd: random.Random) -> list[Any]:
    out = []
    for m in messages:
        choice = rnd.random()
        if choice < 0.15:
            out.append(rnd.choice([None, 1, "x", [], {"say": "api_req_started", "type": "say", "ts": "soon"},
                                   {"say": "api_req_started", "type": "say", "ts": 1767607201000, "text": 5},
                                   {"say": "api_req_started", "type": "say", "ts": 1767607201000,
                                    "text": '{"tokensIn": 1e400}'}]))
        elif choice < 0.25 and isinstance(m, dict) and "text" in m:
            out.append({**m, "text": m["text"][: rnd.randrange(len(m["text"]) + 1)]})
        else:
            out.append(m)
    return out


@given(seed=st.integers(0, 10_000), cut=st.integers(0, 4000))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_mutation_or_cut_is_read_without_failing(tmp_path: Path, seed: int, cut: int) -> None:
    messages = _messages(STORAGE, A)
    task = tmp_path / f"t{seed}-{cut}" / "tasks" / A
    task.mkdir(parents=True)
    data = json.dumps(_mutated(messages, random.Random(seed)))
    (task / "ui_messages.json").write_text(data[: max(cut, len(data) // 2)] if cut % 3 == 0 else data)
    result = read(LogFile("cline", task / "ui_messages.json", task.parent.parent))
    ids = {e.event_id for e in result.events}
    assert ids <= set(EXPECTED)
    assert result.lines >= result.malformed + result.skipped

"""Qwen Code chat recordings: both reasoning conventions, a routed model, a sub-agent, a /branch copy."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from agent_import_support import FIXTURES, copy_tree, pico, recorded, rules, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.capture.agents import LogFile, discover, read
from spendtag.usage import Usage

HOME = FIXTURES / "qwen-code"
CHATS = HOME / ".qwen" / "projects" / "-home-dev-clients-umbrella-lab" / "chats"
S1, S2 = "d96bf338-1c2a-4f3e-9b7d-5a1e2c3d4e5f", "e17c0449-2d3b-4a4f-8c8e-6b2f3d4e5f60"
LAB = "/home/dev/clients/umbrella/lab"

# event id -> (provider, model, usage, session, agent, cost by hand or None when unpriced)
EXPECTED = {
    # Qwen Code records no provider; DashScope's qwen3-coder-plus has no list price in the
    # price data: unpriced, never $0.
    f"qwen-code:{S1}:a1": ("unknown", "qwen3-coder-plus", Usage(input_tokens=12414, output_tokens=76), S1,
                           "qwen-code", None),
    # OpenAI-style counts (total = prompt + candidates): the 120 reasoning tokens are inside the 500.
    f"qwen-code:{S1}:a2": ("openrouter", "qwen/qwen3-coder",
                           Usage(input_tokens=5000, cache_read_tokens=15000, output_tokens=500), S1, "qwen-code",
                           pico("qwen/qwen3-coder", 5000, 15000, 0, 500)),
    # Gemini-style (total = prompt + candidates + thoughts): thoughts come on top.
    f"qwen-code:{S1}:a3": ("google", "gemini-2.5-pro", Usage(input_tokens=6000, cache_read_tokens=2000,
                                                              output_tokens=500), S1, "qwen-code",
                           pico("gemini-2.5-pro", 6000, 2000, 0, 500)),
    # No provider either: the price data finds the model by its name (Moonshot's list).
    f"qwen-code:{S1}:x2": ("unknown", "kimi-k2-0905-preview", Usage(input_tokens=2000, cache_read_tokens=1000,
                                                                        output_tokens=200), S1, "qwen-code/Explore",
                           pico("kimi-k2-0905-preview", 2000, 1000, 0, 200)),
    f"qwen-code:{S2}:b1": ("openrouter", "qwen/qwen3-coder", Usage(input_tokens=1000, cache_read_tokens=20000,
                                                                    output_tokens=100), S2, "qwen-code",
                           pico("qwen/qwen3-coder", 1000, 20000, 0, 100)),
}


def test_fixture_import_exact_calls_costs_and_client(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    config = rules(tmp_path, {"/home/dev/clients/umbrella/**": "umbrella"})
    out = run(db, "import", "qwen-code", str(HOME / ".qwen"), config=config)
    # 6 calls read (the /branch copy of a2 among them), 5 recorded; 3 malformed lines.
    assert "3 files (0 unchanged): 5 new calls, 1 already recorded, 3 malformed lines skipped" in out
    got = recorded(db)
    assert set(got) == set(EXPECTED)
    for event_id, (provider, model, usage, session, agent, cost) in EXPECTED.items():
        p = got[event_id]
        assert (p.event.provider, p.event.model, p.event.usage, p.event.session, p.event.agent) == (
            provider, model, usage, session, agent)
        assert (p.event.project, p.event.tags, p.event.source) == (LAB, {"client": "umbrella"}, "qwen-code")
        if cost is None:
            assert not p.cost.priced and p.cost.total == 0
        else:
            assert p.cost.total == cost
    assert got[f"qwen-code:{S1}:a2"].event.ts.isoformat() == "2026-01-05T14:01:10+00:00"
    assert "0 new calls" in run(db, "import", "qwen-code", str(HOME / ".qwen"))


def test_an_unfinished_last_line_is_read_once_it_is_complete(tmp_path: Path) -> None:
    chats = copy_tree(CHATS, tmp_path / "chats")
    path = chats / f"{S1}.jsonl"
    log = LogFile("qwen-code", path, chats)
    state: dict[str, object] = {}
    first = read(log, state=state)
    assert first.offset < path.stat().st_size
    assert [e.event_id for e in first.events] == [f"qwen-code:{S1}:a1", f"qwen-code:{S1}:a2", f"qwen-code:{S1}:a3"]
    assert (first.lines, first.malformed, first.skipped) == (10, 3, 4)
    text = path.read_text()
    path.write_text(text[: first.offset] + '{"uuid":"a8","parentUuid":"a7","sessionId":"' + S1 + '","cwd":"' + LAB
                    + '","timestamp":"2026-01-05T14:05:00.000Z","type":"assistant","model":"gemini-2.5-pro",'
                    '"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":10}}\n')
    second = read(log, first.offset, state=state)
    assert [e.event_id for e in second.events] == [f"qwen-code:{S1}:a8"]
    assert second.events[0].usage == Usage(input_tokens=100, output_tokens=10)
    assert second.offset == path.stat().st_size and second.lines == 1


@pytest.mark.parametrize("plat", ["linux", "darwin", "win32"])
def test_discovery_in_each_platforms_places(tmp_path: Path, plat: str) -> None:
    home = tmp_path / "home"
    copy_tree(HOME / ".qwen", home / ".qwen")
    found = discover("qwen-code", env={}, home=home, plat=plat)
    assert sorted(f.path.name for f in found) == sorted([f"{S1}.jsonl", f"{S2}.jsonl", "agent-explore-7f3c.jsonl"])
    moved = copy_tree(HOME / ".qwen", tmp_path / "runtime")
    found = discover("qwen-code", env={"QWEN_RUNTIME_DIR": str(moved)}, home=tmp_path / "empty", plat=plat)
    assert len(found) == 3 and all(moved in f.path.parents for f in found)


def test_a_path_is_sniffed_as_qwen_code() -> None:
    found = [f for f in discover(None, HOME) if f.agent == "qwen-code"]
    assert len(found) == 3
    assert {f.agent for f in discover(None, HOME)} == {"qwen-code"}


@given(seed=st.integers(0, 10_000))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_mutated_line_is_skipped_and_counted(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    lines = (CHATS / f"{S1}.jsonl").read_bytes().split(b"\n")[:-1]
    mixed = []
    for line in lines:
        if rnd.random() < 0.3:
            cut = rnd.randrange(len(line) + 1)
            mixed.append(line[:cut] + rnd.choice([b"\x00", b"\xff", b'"', b"}", b"-1", b"1e999"]) + line[cut:])
        else:
            mixed.append(line)
    path = tmp_path / f"{seed}.jsonl"
    path.write_bytes(b"\n".join(mixed) + b"\n")
    result = read(LogFile("qwen-code", path, tmp_path))
    assert result.lines == len(mixed) and result.offset == path.stat().st_size
    # Each line is a call, skipped or malformed: nothing is lost and nothing is counted twice.
    assert len(result.events) + result.skipped + result.malformed == len(mixed)
    # At most one call per assistant record (a mutation may mend the fixture's bad one, a5 with
    # a negative count, by renaming its key, or change a record's own id), each once.
    ids = [e.event_id for e in result.events]
    assert len(ids) == len(set(ids)) and len(ids) <= 5

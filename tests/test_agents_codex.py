"""Codex CLI rollouts: the fixture's totals, generated trees, forks, and reading in increments."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from agent_trees import (
    CodexTreeGenerator,
    Tree,
    assert_matches,
    assert_tree_totals,
    grow_and_read,
    read_all,
    read_whole,
    snapshot,
)
from conftest import fixture_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.capture.agents import LogFile, discover, read
from spendtag.usage import Usage


def _fixture() -> LogFile:
    path = fixture_path("agents", "codex_rollout.jsonl")
    return LogFile("codex", path, path.parent)


def test_fixture_totals_match_formats_section_7() -> None:
    result = read(_fixture())
    assert len(result.events) == 3   # the duplicate at 09:00:09.990 and info:null are not calls
    total = sum((e.usage for e in result.events), Usage())
    assert total.input_tokens + total.cache_read_tokens == 46114
    assert total.cache_read_tokens == 32128
    assert total.output_tokens == 1330 and total.reasoning_tokens == 832
    assert [e.model for e in result.events] == ["gpt-5-codex", "gpt-5-codex", "gpt-5.1-codex-mini"]
    session = "0199f3a2-7c4e-7b21-9d3a-5e6f7a8b9c0d"
    assert [e.event_id for e in result.events] == [
        f"codex:{session}:14691:14691", f"codex:{session}:31132:16441", f"codex:{session}:47444:16312"]
    assert {(e.session, e.project, e.agent, e.source, e.provider) for e in result.events} == {
        (session, "/home/dev/acme-api", "codex", "codex", "openai")}
    assert result.events[2].usage == Usage(input_tokens=130, cache_read_tokens=15872, output_tokens=310,
                                            reasoning_tokens=192)
    assert (result.lines, result.malformed, result.skipped) == (12, 0, 9)
    assert result.offset == _fixture().path.stat().st_size


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tree]:
    home = tmp_path_factory.mktemp("home")
    return home, CodexTreeGenerator(seed=11).write(home / ".codex")


def test_tree_gives_exactly_the_generated_calls(tree: tuple[Path, Tree]) -> None:
    home, generated = tree
    logs = discover("codex", env={}, home=home)
    assert [log.path for log in logs] == sorted(generated.files, key=str)
    events, results = read_all(logs)
    assert_matches(events, generated.calls)
    assert_tree_totals(events, generated)
    assert sum(r.malformed for r in results) == generated.malformed == 2
    assert len({e.model for e in events.values()}) == 3
    assert len({e.ts.date() for e in events.values()}) >= 3


def test_fork_replay_is_attributed_to_the_parent(tree: tuple[Path, Tree]) -> None:
    _, generated = tree
    fork_path = generated.files[-1]
    own = json.loads(fork_path.read_text().split("\n", 1)[0])["payload"]
    parent = own["forked_from_id"]
    result = read(LogFile("codex", fork_path, generated.root))
    sessions = [e.session for e in result.events]
    parent_calls = [c.event_id for c in generated.calls if c.session == parent]
    # The replayed prefix re-creates the parent's own ids (deduplicated by the ledger), then the fork's calls.
    assert [e.event_id for e in result.events if e.session == parent] == parent_calls
    assert sessions.count(own["id"]) == 3
    assert sessions == [parent] * len(parent_calls) + [own["id"]] * 3


def _rollout(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _token_count(ts: str, total: dict[str, int] | None, last: dict[str, int] | None) -> dict[str, Any]:
    info = None if total is None and last is None else {"total_token_usage": total, "last_token_usage": last}
    return {"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": info}}


def _tu(inp: int, cached: int, out: int, reasoning: int = 0) -> dict[str, int]:
    return {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out,
            "reasoning_output_tokens": reasoning, "total_tokens": inp + out}


def test_missing_last_usage_falls_back_to_the_step_between_totals(tmp_path: Path) -> None:
    path = tmp_path / "rollout-2026-01-05T09-00-00-0199f3a2-7c4e-7b21-9d3a-5e6f7a8b9c0d.jsonl"
    path.write_bytes(_rollout(
        {"timestamp": "2026-01-05T09:00:00Z", "type": "turn_context", "payload": {"model": "gpt-5-codex"}},
        _token_count("2026-01-05T09:00:01Z", _tu(100, 40, 10), _tu(100, 40, 10)),
        _token_count("2026-01-05T09:00:02Z", _tu(250, 100, 30, 5), None),
    ))
    result = read(LogFile("codex", path, tmp_path))
    assert [e.usage for e in result.events] == [
        Usage(input_tokens=60, cache_read_tokens=40, output_tokens=10),
        Usage(input_tokens=90, cache_read_tokens=60, output_tokens=20, reasoning_tokens=5)]
    # No session_meta: the session comes from the file name.
    assert {e.session for e in result.events} == {"0199f3a2-7c4e-7b21-9d3a-5e6f7a8b9c0d"}


def test_unknown_model_and_bad_counts_are_reported_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "rollout-x.jsonl"
    negative = _tu(100, 40, 10)
    negative["output_tokens"] = -3
    path.write_bytes(_rollout(
        _token_count("2026-01-05T09:00:01Z", _tu(100, 40, 10), _tu(100, 40, 10)),
        _token_count("2026-01-05T09:00:02Z", _tu(300, 40, 20), negative),
        _token_count("2026-01-05T09:00:03Z", None, None),
    ) + b"not json but mentions token_count\n")
    result = read(LogFile("codex", path, tmp_path))
    assert [e.model for e in result.events] == ["unknown"]
    assert (result.malformed, result.skipped, result.lines) == (2, 1, 4)
    assert any("model 'unknown'" in p for p in result.problems)
    assert any("must not be negative" in p for p in result.problems)


def test_a_trailing_partial_line_is_not_consumed(tmp_path: Path) -> None:
    data = _fixture().path.read_bytes()
    path = tmp_path / "rollout-partial.jsonl"
    cut = data.rindex(b"\n", 0, len(data) - 1) + 40
    path.write_bytes(data[:cut])
    log = LogFile("codex", path, tmp_path)
    state: dict[str, Any] = {}
    first = read(log, state=state)
    assert first.offset == data.rindex(b"\n", 0, len(data) - 1) + 1 and len(first.events) == 2
    path.write_bytes(data)
    second = read(log, first.offset, state=json.loads(json.dumps(state)))
    assert [e.model for e in second.events] == ["gpt-5.1-codex-mini"]   # the model came through the state


_TREE_DIR = tempfile.TemporaryDirectory(prefix="spendtag-cx-")   # removed at exit
_FILES = [f.read_bytes() for f in CodexTreeGenerator(seed=5).write(Path(_TREE_DIR.name)).files]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(_FILES) - 1), fractions=st.lists(st.floats(0, 1), max_size=10))
def test_reading_in_increments_gives_the_events_of_one_read(which: int, fractions: list[float]) -> None:
    data = _FILES[which]
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        whole, whole_offset, whole_counts = read_whole("codex", data, where)
        pieces, offset, counts = grow_and_read("codex", data, [int(f * len(data)) for f in fractions], where)
    assert [(e.event_id, snapshot(e)) for e in pieces] == [(e.event_id, snapshot(e)) for e in whole]
    assert (offset, counts) == (whole_offset, whole_counts)

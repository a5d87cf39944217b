"""Claude Code transcripts: generated trees with every pitfall, totals worked out by the generator."""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from agent_trees import (
    ClaudeTreeGenerator,
    Tree,
    assert_matches,
    assert_tree_totals,
    grow_and_read,
    read_all,
    read_whole,
    snapshot,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.capture.agents import LogFile, discover, read
from spendtag.capture.agents.claude_code import decode_folder
from spendtag.usage import Usage, UsageEvent


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tree]:
    home = tmp_path_factory.mktemp("home")
    return home, ClaudeTreeGenerator(seed=7).write(home / ".claude" / "projects")


def test_tree_gives_exactly_the_generated_calls(tree: tuple[Path, Tree]) -> None:
    home, generated = tree
    logs = discover("claude-code", env={}, home=home)
    assert [log.path for log in logs] == sorted(generated.files, key=str)   # a parent file before its sub-agents
    events, results = read_all(logs)
    # The call left open at the end of its file is emitted too, with the copy it has.
    assert_matches(events, [*generated.calls, *generated.open_calls])
    assert_tree_totals(events, generated, with_open=True)
    assert sum(r.malformed for r in results) == generated.malformed == 12
    assert sum(r.logged_cost_usd for r in results) == Decimal(generated.logged_cost)
    # Several models, projects, sessions and sub-agents are really exercised.
    assert len({e.model for e in events.values()}) == 3
    assert len({e.project for e in events.values()}) == 3
    assert {e.agent for e in events.values()} >= {"claude-code"} | {
        c.agent for c in generated.calls if c.agent != "claude-code"}
    assert len({c.agent for c in generated.calls}) == 7   # main + 2 sub-agents in each of 3 projects


def test_open_call_is_emitted_at_once_and_final_closes_it(tree: tuple[Path, Tree]) -> None:
    home, generated = tree
    (open_call,) = generated.open_calls
    path = next(f for f in generated.files if f.stem == open_call.session)
    log = LogFile("claude-code", path, path.parent.parent)
    state: dict[str, Any] = {}
    first = read(log, state=state)
    assert first.events[-1].event_id == open_call.event_id
    assert first.events[-1].usage.output_tokens == open_call.get("output_tokens")   # the larger copy
    # The offset stays at the open call's first line, so the next read sees the call whole.
    tail = path.read_bytes()[first.offset:]
    assert tail.startswith(b"{") and tail.count(b"\n") == 2
    assert json.loads(tail.split(b"\n")[0])["message"]["id"] == open_call.event_id.split(":")[1]
    key = open_call.event_id.split(":", 1)[1].replace(":", " ")
    assert list(state["open"]) == [key]
    # Read again: nothing new, nothing revised (the copy did not change).
    again = read(log, first.offset, state=state)
    assert (again.events, again.revised, again.offset) == ([], [], first.offset)
    # The file is done: the call is closed, not emitted again.
    closed = read(log, first.offset, state=state, final=True)
    assert (closed.events, closed.revised, closed.offset) == ([], [], path.stat().st_size)
    assert "open" not in state and key in state["emitted"]
    events, _ = read_all(discover("claude-code", env={}, home=home), final=True)
    assert_tree_totals(events, generated, with_open=True)


def test_truncated_last_line_is_left_for_the_next_read(tree: tuple[Path, Tree], tmp_path: Path) -> None:
    _, generated = tree
    truncated = next(f for f in generated.files if not f.read_bytes().endswith(b"\n"))
    data = truncated.read_bytes()
    result = read(LogFile("claude-code", truncated, truncated.parent))
    assert result.offset == data.rindex(b"\n") + 1
    assert result.malformed == 0   # not consumed, so not counted


def _line(msg: str, req: str | None, out: int, *, stop: str | None = None, ts: str = "2026-03-01T10:00:00.000Z",
          **extra: Any) -> str:
    rec: dict[str, Any] = {
        "type": "assistant", "sessionId": "sess-1", "cwd": "/home/dev/acme", "timestamp": ts, "isSidechain": False,
        "message": {"id": msg, "model": "claude-sonnet-4-5", "stop_reason": stop,
                    "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": out}},
    }
    if req:
        rec["requestId"] = req
    rec.update(extra)
    return json.dumps(rec)


def _write(tmp_path: Path, *lines: str, name: str = "sess-1.jsonl") -> LogFile:
    folder = tmp_path / "projects" / "-work-acme"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines))
    return LogFile("claude-code", path, tmp_path / "projects")


def test_streamed_call_takes_the_largest_copy_and_its_time(tmp_path: Path) -> None:
    log = _write(tmp_path,
                 _line("msg_a", "req_a", 2, ts="2026-03-01T10:00:00.000Z"),
                 _line("msg_a", "req_a", 3, ts="2026-03-01T10:00:01.000Z"),
                 _line("msg_a", "req_a", 812, ts="2026-03-01T10:00:02.000Z"),
                 _line("msg_b", "req_b", 9, stop="end_turn"))
    result = read(log)
    assert [e.event_id for e in result.events] == ["claude-code:msg_a:req_a", "claude-code:msg_b:req_b"]
    first = result.events[0]
    assert first.usage == Usage(input_tokens=10, cache_read_tokens=100, output_tokens=812)
    assert first.ts.isoformat() == "2026-03-01T10:00:02+00:00"
    assert (first.provider, first.model, first.project, first.session, first.agent, first.source,
            first.response_id) == ("anthropic", "claude-sonnet-4-5", "/home/dev/acme", "sess-1", "claude-code",
                                   "claude-code", "msg_a")
    assert result.offset == log.path.stat().st_size and result.lines == 4 and result.skipped == 0


def test_stop_reason_closes_a_call_at_once(tmp_path: Path) -> None:
    log = _write(tmp_path, _line("msg_a", "req_a", 5, stop="tool_use"))
    result = read(log)
    assert [e.usage.output_tokens for e in result.events] == [5]
    assert result.offset == log.path.stat().st_size


def test_user_line_closes_the_call_and_unrelated_lines_do_not(tmp_path: Path) -> None:
    user = json.dumps({"type": "user", "sessionId": "sess-1", "isSidechain": False,
                       "message": {"role": "user", "content": "ok"}})
    summary = json.dumps({"type": "summary", "summary": "x"})
    log = _write(tmp_path, _line("msg_a", "req_a", 5), summary)
    state: dict[str, Any] = {}
    open_ = read(log, state=state)
    assert [e.usage.output_tokens for e in open_.events] == [5] and open_.offset == 0   # emitted, still open
    assert state["open"] == {"msg_a req_a": [5 + 110, 1]}
    log = _write(tmp_path, _line("msg_a", "req_a", 5), summary, user)
    result = read(log)
    assert len(result.events) == 1 and result.skipped == 2 and result.offset == log.path.stat().st_size
    closing = read(log, open_.offset, state=state)
    assert (closing.events, closing.revised, closing.offset) == ([], [], log.path.stat().st_size)
    assert "open" not in state


def test_requestless_lines_get_a_session_scoped_id(tmp_path: Path) -> None:
    log = _write(tmp_path, _line("msg_gw", None, 1), _line("msg_gw", None, 40, stop="end_turn"))
    (event,) = read(log).events
    assert event.event_id == "claude-code:sess-1:msg_gw"
    assert event.usage.output_tokens == 40


def test_synthetic_error_and_non_assistant_lines_are_skipped(tmp_path: Path) -> None:
    synthetic = json.loads(_line("msg_s", "req_s", 0, stop="stop_sequence"))
    synthetic["message"]["model"] = "<synthetic>"
    log = _write(tmp_path,
                 json.dumps(synthetic),
                 _line("msg_e", "req_e", 0, stop="stop_sequence", isApiErrorMessage=True),
                 json.dumps({"type": "file-history-snapshot", "snapshot": {}}),
                 "")
    result = read(log)
    assert (result.events, result.skipped, result.malformed, result.lines) == ([], 4, 0, 4)


def test_bad_lines_are_counted_with_their_place(tmp_path: Path) -> None:
    negative = json.loads(_line("msg_n", "req_n", 5, stop="end_turn"))
    negative["message"]["usage"]["input_tokens"] = -1
    log = _write(tmp_path,
                 '{"type":"assistant",',
                 json.dumps(negative),
                 json.dumps({"type": "assistant", "message": {"model": "m", "usage": {}}}),
                 _line("msg_ok", "req_ok", 7, stop="end_turn"))
    result = read(log)
    assert [e.event_id for e in result.events] == ["claude-code:msg_ok:req_ok"]
    assert result.malformed == 3
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in result.problems] == ["1", "2", "3"]
    assert "must not be negative" in result.problems[1]


def test_unreadable_times_are_malformed_not_a_hang(tmp_path: Path) -> None:
    # json reads Infinity and huge numbers; a time made of them used to loop forever or crash.
    lines = [_line(f"msg_{n}", f"req_{n}", 5, stop="end_turn").replace('"2026-03-01T10:00:00.000Z"', value)
             for n, value in enumerate(["Infinity", "1e400", "9" * 400, "-Infinity", "NaN"])]
    log = _write(tmp_path, *lines, _line("msg_ok", "req_ok", 7, stop="end_turn"))
    result = read(log)
    assert [e.event_id for e in result.events] == ["claude-code:msg_ok:req_ok"]
    assert result.malformed == 5
    assert all(p.endswith("no readable timestamp within 2000-2100") for p in result.problems)


def test_a_bad_copy_is_malformed_once_and_its_valid_sibling_is_recorded(tmp_path: Path) -> None:
    # The larger copy has a broken cache split: it is counted as malformed on its own, and the
    # call is recorded from the valid copy it has (it used to be chosen, then dropped whole).
    bad = json.loads(_line("msg_x", "req_x", 40))
    bad["message"]["usage"]["cache_creation"] = {"ephemeral_5m_input_tokens": -2}
    log = _write(tmp_path, _line("msg_x", "req_x", 1), json.dumps(bad), _line("msg_ok", "req_ok", 7, stop="end_turn"))
    state: dict[str, Any] = {}
    result = read(log, state=state)
    assert [(e.event_id, e.usage.output_tokens) for e in result.events] == [
        ("claude-code:msg_x:req_x", 1), ("claude-code:msg_ok:req_ok", 7)]
    assert result.malformed == 1 and result.problems[0].startswith(f"{log.path}:2: message msg_x:")
    again = read(log, result.offset, state=state)
    assert (again.events, again.malformed) == ([], 0)


def test_sidechain_replay_is_counted_once(tmp_path: Path) -> None:
    log = _write(tmp_path,
                 _line("msg_a", "req_a", 50, stop="end_turn"),
                 _line("msg_a", "req_other", 50, stop="end_turn", isSidechain=True),
                 _line("msg_b", "req_b", 60, stop="end_turn", isSidechain=True))
    result = read(log)
    assert [e.event_id for e in result.events] == ["claude-code:msg_a:req_a", "claude-code:msg_b:req_b"]


def test_subagent_file_belongs_to_the_parent_session(tmp_path: Path) -> None:
    folder = tmp_path / "projects" / "-home-u-proj" / "parent-sess" / "subagents"
    folder.mkdir(parents=True)
    path = folder / "agent-a1b2.jsonl"
    rec = json.loads(_line("msg_s", "req_s", 5, stop="end_turn", isSidechain=True))
    del rec["cwd"]
    path.write_text(json.dumps(rec) + "\n")
    (event,) = read(LogFile("claude-code", path, tmp_path / "projects")).events
    # No cwd in the record: the project is decoded from the folder name (lossy).
    assert (event.session, event.agent, event.project) == ("parent-sess", "claude-code/agent-a1b2", "/home/u/proj")


def test_progress_lines_wrap_subagent_records(tmp_path: Path) -> None:
    inner = json.loads(_line("msg_p", "req_p", 3))
    inner2 = json.loads(_line("msg_p", "req_p", 90))
    wrap = [json.dumps({"type": "progress", "sessionId": "sess-1", "cwd": "/home/dev/acme", "timestamp": r["timestamp"],
                        "data": {"type": "agent_progress", "agentId": "xy", "message": r}}) for r in (inner, inner2)]
    done = json.dumps({"type": "progress", "sessionId": "sess-1",
                       "data": {"agentId": "xy", "message": {"type": "user", "message": {"role": "user"}}}})
    result = read(_write(tmp_path, *wrap, done))
    (event,) = result.events
    assert (event.event_id, event.agent, event.usage.output_tokens) == ("claude-code:msg_p:req_p",
                                                                       "claude-code/agent-xy", 90)


def test_cost_usd_is_kept_only_for_comparison(tmp_path: Path) -> None:
    log = _write(tmp_path, _line("msg_a", "req_a", 5, stop="end_turn", costUSD=0.1),
                 _line("msg_b", "req_b", 5, stop="end_turn", costUSD=0.2))
    result = read(log)
    assert result.logged_cost_usd == Decimal("0.3")   # exact: Decimal(str(x)) per call, not float sums


def test_fast_mode_cache_split_and_compaction_iterations_reach_the_usage(tmp_path: Path) -> None:
    rec = json.loads(_line("msg_f", "req_f", 20, stop="end_turn"))
    rec["message"]["usage"].update(
        speed="fast", cache_creation_input_tokens=300,
        cache_creation={"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
        server_tool_use={"web_search_requests": 2}, service_tier="standard",
        iterations=[{"type": "compaction", "usage": {"input_tokens": 1000, "output_tokens": 50}}])
    (event,) = read(_write(tmp_path, json.dumps(rec))).events
    assert event.usage == Usage(input_tokens=1010, cache_read_tokens=100, cache_write_5m_tokens=100,
                                cache_write_1h_tokens=200, output_tokens=70, web_search_requests=2,
                                service_tier="standard", speed="fast")


def test_rewritten_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    log = _write(tmp_path, _line("msg_a", "req_a", 5, stop="end_turn"), _line("msg_b", "req_b", 5, stop="end_turn"))
    first = read(log)
    log.path.write_text(_line("msg_c", "req_c", 5, stop="end_turn") + "\n")
    result = read(log, first.offset, state={})
    assert [e.event_id for e in result.events] == ["claude-code:msg_c:req_c"]
    assert result.problems[0].endswith(": re-read")


def test_folder_names_decode_to_paths() -> None:
    assert decode_folder("-home-u-proj") == "/home/u/proj"
    assert decode_folder("") is None


# -- reading in increments ------------------------------------------------------------------

def _complex_files(generated: Tree) -> list[bytes]:
    """Whole session files with progress lines, replays, malformed lines, an open call, a truncation."""
    picked = [f for f in generated.files if b'"progress"' in f.read_bytes()][:1]
    picked += [f for f in generated.files if b'"btw"' in f.read_bytes()][:1]
    picked += [f for f in generated.files if not f.read_bytes().endswith(b"\n")]
    picked += [f for f in generated.files if f.stem == generated.open_calls[0].session]
    return [f.read_bytes() for f in picked]


_TREE_DIR = tempfile.TemporaryDirectory(prefix="spendtag-cc-")   # removed at exit
_FILES = _complex_files(ClaudeTreeGenerator(seed=3).write(Path(_TREE_DIR.name) / "projects"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(_FILES) - 1), fractions=st.lists(st.floats(0, 1), max_size=12),
       final=st.booleans())
def test_reading_in_increments_gives_the_events_of_one_read(which: int, fractions: list[float], final: bool) -> None:
    data = _FILES[which]
    cuts = [int(f * len(data)) for f in fractions]
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        whole, whole_offset, whole_counts = read_whole("claude-code", data, where)
        revised: list[UsageEvent] = []
        pieces, offset, counts = grow_and_read("claude-code", data, cuts, where, revised=revised)
        if final:
            # The last read of the growing file, told the file is done, must match one final read.
            extra = read(LogFile("claude-code", where / "growing.jsonl", where), offset, state=None, final=True)
            done, _, _ = read_whole("claude-code", data, where, final=True)
            assert {e.event_id for e in pieces + extra.events} == {e.event_id for e in done}
    assert len({e.event_id for e in pieces}) == len(pieces), "an event was emitted twice"
    # A call emitted while still open comes back only as a revision of itself, each time grown
    # (or moved to a later copy of the same total); applied in order, they give one read's events.
    latest = {e.event_id: e for e in pieces}
    for e in revised:
        before = latest[e.event_id]
        assert (e.usage.total_tokens, e.ts) > (before.usage.total_tokens, before.ts)
        latest[e.event_id] = e
    assert {i: snapshot(e) for i, e in latest.items()} == {e.event_id: snapshot(e) for e in whole}
    assert offset == whole_offset
    assert counts == whole_counts

"""The newest Claude Code call, while it is still being written: recorded at once, corrected as it grows.

Claude Code writes one line per content block of a call, each with the call's usage, the
earlier ones with a placeholder output count (FORMATS.md 5.0). An import that runs right
after a line is written records the call with the copy it has; a later import that finds a
larger copy replaces the recorded event (the old usage and cost kept as a revision). Totals
never count a call twice, a re-import changes nothing, and the ledger ends as one import of
the finished files would leave it.
"""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agent_trees import ClaudeTreeGenerator
from click.testing import CliRunner
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_store_contract import got, naive

from spendtag.capture.agents import LogFile, read
from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.ledger.rollup_store import ImportPartBuilder
from spendtag.ledger.store import ImportState, Store
from spendtag.money import screen
from spendtag.periods import zone
from spendtag.pricing import PriceBook
from spendtag.pricing.pricer import Pricer
from spendtag.usage import PricedEvent, Usage, UsageEvent

SESSION = "0f3c9d1e-live-0000-0000-000000000001"
CWD = "/home/dev/clients/acme/api"
T0 = datetime(2026, 5, 4, 9, 59, 58, tzinfo=UTC)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def assistant(msg: str, out: int, at: datetime, *, stop: str | None = None, inp: int = 12, read: int = 30_000,
              write: int = 2_000) -> str:
    return json.dumps({
        "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": CWD, "sessionId": SESSION,
        "version": "2.1.12", "type": "assistant", "requestId": f"req_{msg}", "timestamp": _iso(at),
        "message": {"id": f"msg_{msg}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                    "content": [{"type": "text", "text": "..."}], "stop_reason": stop, "stop_sequence": None,
                    "usage": {"input_tokens": inp, "cache_creation_input_tokens": write,
                              "cache_read_input_tokens": read, "output_tokens": out, "service_tier": "standard",
                              "cache_creation": {"ephemeral_5m_input_tokens": write,
                                                 "ephemeral_1h_input_tokens": 0}}}})


def user(text: str, at: datetime) -> str:
    return json.dumps({"type": "user", "isSidechain": False, "cwd": CWD, "sessionId": SESSION, "timestamp": _iso(at),
                       "message": {"role": "user", "content": text}})


def transcript(tmp_path: Path) -> Path:
    folder = tmp_path / "claude" / "projects" / "-home-dev-clients-acme-api"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{SESSION}.jsonl"


def append(path: Path, *lines: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def run(*args: str, db: str | None = None, input: str | None = None) -> str:
    env = {"COLUMNS": "200", **({"SPENDTAG_DB": db} if db else {})}
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env, input=input)
    assert result.exit_code == 0, result.output
    return result.output


def ledger_of(db: str) -> tuple[dict[str, tuple[Any, ...]], dict[tuple[Any, ...], list[int]]]:
    """Every event (time and usage) and the totals per (day, hour, session, model): what a report reads."""
    store = open_store(db)
    try:
        events = {p.event.event_id: (p.event.ts, p.event.usage, p.cost.total) for p in store.events(Filters())}
        totals = {a.key: a.totals.values for a in store.aggregate(Filters(), ["hour", "session", "model"])}
        return events, totals
    finally:
        store.close()


def price(usage: Usage, ts: datetime) -> int:
    event = UsageEvent("x", ts, "anthropic", "claude-sonnet-4-5-20250929", usage)
    return Pricer(PriceBook([])).price(event).total


def usage(out: int, *, inp: int = 12, read: int = 30_000, write: int = 2_000) -> Usage:
    return Usage(input_tokens=inp, cache_read_tokens=read, cache_write_5m_tokens=write, output_tokens=out,
                 service_tier="standard")


# -- the reader ------------------------------------------------------------------------------

def test_a_call_being_written_is_emitted_at_once_and_revised_as_it_grows(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    log = LogFile("claude-code", path, path.parent.parent)
    state: dict[str, Any] = {}
    append(path, user("fix the bug", T0), assistant("a", 2, T0 + timedelta(seconds=1)))
    first = read(log, state=state)
    assert [(e.event_id, e.usage.output_tokens) for e in first.events] == [("claude-code:msg_a:req_a", 2)]
    assert first.revised == []
    # Nothing new written: nothing emitted, nothing revised.
    same = read(log, first.offset, state=state)
    assert (same.events, same.revised) == ([], [])
    # The next content block's line, with the final output count: the call comes back, grown.
    append(path, assistant("a", 481, T0 + timedelta(seconds=4)))
    grown = read(log, same.offset, state=state)
    assert grown.events == []
    assert [(e.event_id, e.usage, e.ts) for e in grown.revised] == [
        ("claude-code:msg_a:req_a", usage(481), T0 + timedelta(seconds=4))]
    # A later line of the same total (Claude Code often repeats the usage): the later copy, same usage.
    append(path, assistant("a", 481, T0 + timedelta(seconds=5)))
    moved = read(log, grown.offset, state=state)
    assert [(e.usage, e.ts) for e in moved.revised] == [(usage(481), T0 + timedelta(seconds=5))]
    # The tool result closes the call: nothing more about it, and it is no longer re-read.
    append(path, user("tool result", T0 + timedelta(seconds=9)))
    closed = read(log, moved.offset, state=state)
    assert (closed.events, closed.revised, closed.offset) == ([], [], path.stat().st_size)
    assert "open" not in state and state["emitted"] == ["msg_a req_a"]


def test_a_half_written_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    log = LogFile("claude-code", path, path.parent.parent)
    line = assistant("a", 90, T0, stop="end_turn")
    path.write_text(line[:40])
    state: dict[str, Any] = {}
    first = read(log, state=state)
    assert (first.events, first.offset, first.malformed) == ([], 0, 0)
    path.write_text(line + "\n")
    done = read(log, first.offset, state=state)
    assert [e.usage.output_tokens for e in done.events] == [90]


# -- the proof: an import right after a line is written records it ------------------------------

@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "live.db")


def test_the_newest_call_is_recorded_by_an_import_right_after_it_is_written(tmp_path: Path, db: str) -> None:
    path = transcript(tmp_path)
    append(path, user("fix the bug", T0),
           assistant("a", 3, T0 + timedelta(seconds=1)),
           assistant("a", 205, T0 + timedelta(seconds=2), stop="tool_use"),
           user("tool result", T0 + timedelta(seconds=3)),
           # The newest call: its first content block, a placeholder output count, nothing after it.
           assistant("b", 1, T0 + timedelta(seconds=4), inp=40, read=32_205))
    out = run("import", "claude-code", str(path), db=db)
    assert "2 new calls, 0 already recorded" in out
    events, _ = ledger_of(db)
    b = events["claude-code:msg_b:req_b"]
    assert b[:2] == (T0 + timedelta(seconds=4), usage(1, inp=40, read=32_205))
    assert b[2] == price(usage(1, inp=40, read=32_205), T0) > 0
    provisional_cost = b[2]

    # Its last block arrives with the final count (still no stop_reason, nothing after it).
    append(path, assistant("b", 1_387, T0 + timedelta(seconds=7), inp=40, read=32_205))
    out = run("import", "claude-code", str(path), db=db)
    assert "0 new calls, 1 updated as they grew, 0 already recorded" in out
    events, totals = ledger_of(db)
    final = usage(1_387, inp=40, read=32_205)
    assert events["claude-code:msg_b:req_b"] == (T0 + timedelta(seconds=7), final, price(final, T0))
    # Counted once: the totals are the two calls' final usage.
    store = open_store(db)
    try:
        whole = store.aggregate(Filters())[0].totals
        assert (whole.requests, whole["output_tokens"], whole["input_tokens"]) == (2, 205 + 1_387, 12 + 40)
        assert whole.cost == price(usage(205), T0) + price(final, T0)
        # The provisional copy is kept as a revision of the event.
        assert [r.cost.total for r in store.revisions("claude-code:msg_b:req_b")] == [provisional_cost]
    finally:
        store.close()

    # Importing again changes nothing; the ledger is what one import of the finished file gives.
    out = run("import", "claude-code", str(path), db=db)
    assert "0 new calls" in out and "updated" not in out
    assert ledger_of(db) == (events, totals)
    fresh = str(tmp_path / "fresh.db")
    run("import", "claude-code", str(path), db=fresh)
    assert ledger_of(fresh) == ledger_of(db)


# -- the ledger: revised copies -----------------------------------------------------------------

def _part(copies: list[PricedEvent], *, revised: bool, n: int) -> tuple[Any, ImportState]:
    builder = ImportPartBuilder()
    for p in copies:
        builder.add(p, revised=revised)
    return builder.part(), ImportState(f"/t{n}.jsonl", "claude-code", n, n, n, "h")


_RUNS = itertools.count()
_copy_st = st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(0, 90), st.sampled_from(["s1", "s2"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(_copy_st, max_size=6), later=st.lists(st.lists(_copy_st, max_size=5), max_size=4))
def test_the_ledger_keeps_the_largest_copy_of_a_revised_event(store: Store, first: list[tuple[int, int, int, str]],
                                                              later: list[list[tuple[int, int, int, str]]]) -> None:
    """Copies of calls (id, output tokens, minutes, session) recorded, then revised in any order, any number of times.

    Each id ends with its largest copy (more tokens, or as many at a later time), the rollups
    agree with the events, every change of usage left a revision, and applying the same
    copies again changes nothing.
    """
    base = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)   # copies cross an hour, a day and a month
    run_id = next(_RUNS)       # the store outlives one example: each uses its own ids

    def copy(c: tuple[int, int, int, str]) -> PricedEvent:
        i, out, minutes, session = c
        return make_event(f"r{run_id}-call{i}", base + timedelta(minutes=minutes),
                          usage=Usage(input_tokens=50, output_tokens=out), cost=1_000 + 7 * out, session=session,
                          project="/p")

    def mine() -> list[PricedEvent]:
        return [p for p in store.events(Filters()) if p.event.event_id.startswith(f"r{run_id}-")]

    best: dict[str, tuple[int, datetime, PricedEvent]] = {}

    def offer(p: PricedEvent, *, only_new: bool) -> None:
        key = p.event.event_id
        have = best.get(key)
        if have is None or (not only_new and (p.event.usage.output_tokens, p.event.ts) > have[:2]):
            best[key] = (p.event.usage.output_tokens, p.event.ts, p)

    store.record_import([_part([copy(c) for c in first], revised=False, n=0)])
    for c in first:
        offer(copy(c), only_new=True)
    changes = 0
    for n, batch in enumerate(later, 1):
        before = {k: (v[2].event.usage, v[2].cost) for k, v in best.items()}
        result = store.record_import([_part([copy(c) for c in batch], revised=True, n=n)])
        for c in batch:
            offer(copy(c), only_new=False)
        # A change of usage or price is kept as a revision (a later copy of the same usage
        # only moves the event in time).
        grew = sum(1 for k, v in best.items() if k in before and (v[2].event.usage, v[2].cost) != before[k])
        assert result.inserted == len(best) - len(before)
        assert result.updated == grew
        changes += grew
    kept = {p.event.event_id: (p.event.ts, p.event.usage, p.event.session, p.cost.total) for p in mine()}
    assert kept == {k: (v[2].event.ts, v[2].event.usage, v[2].event.session, v[2].cost.total)
                    for k, v in best.items()}
    everything = list(store.events(Filters()))
    for by in (["hour", "session"], ["day"], ["month", "model"]):
        assert got(store, Filters(), by, zone("UTC")) == naive(everything, Filters(), by, zone("UTC"))
    assert sum(len(store.revisions(k)) for k in best) == changes
    for n, batch in enumerate(later, 1):
        again = store.record_import([_part([copy(c) for c in batch], revised=True, n=n)])
        assert (again.inserted, again.updated) == (0, 0)
    assert {p.event.event_id: (p.event.ts, p.event.usage) for p in mine()} == {k: v[:2] for k, v in kept.items()}


# -- imports while the logs grow ----------------------------------------------------------------

_TREE = ClaudeTreeGenerator(seed=21)


@pytest.fixture(scope="module")
def session_files(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Whole session files: streamed calls, sub-agent progress lines, replays, an open call, a truncation."""
    tree = _TREE.write(tmp_path_factory.mktemp("tree") / "projects")
    picked = [f for f in tree.files if b'"progress"' in f.read_bytes()][:1]
    picked += [f for f in tree.files if f.stem == tree.open_calls[0].session]
    picked += [f for f in tree.files if not f.read_bytes().endswith(b"\n")]
    return [f.read_bytes() for f in picked]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 2), fractions=st.lists(st.floats(0, 1), min_size=1, max_size=6))
def test_importing_while_a_log_grows_ends_as_one_import_of_it(tmp_path_factory: pytest.TempPathFactory,
                                                             session_files: list[bytes], which: int,
                                                             fractions: list[float]) -> None:
    data = session_files[which]
    work = tmp_path_factory.mktemp("grow")
    path = transcript(work)
    path.write_bytes(b"")
    growing = str(work / "growing.db")
    written = 0
    for cut in sorted({int(f * len(data)) for f in fractions}):
        with open(path, "ab") as f:
            f.write(data[written:cut])
        written = cut
        run("import", "claude-code", str(path), db=growing)
    with open(path, "ab") as f:
        f.write(data[written:])
    run("import", "claude-code", str(path), db=growing)
    once = str(work / "once.db")
    run("import", "claude-code", str(path), db=once)
    assert ledger_of(growing) == ledger_of(once)
    again = run("import", "claude-code", str(path), db=growing)
    assert "0 new calls" in again and "updated" not in again


def test_a_rewritten_log_gives_its_larger_copies_to_the_ledger(tmp_path: Path, db: str) -> None:
    path = transcript(tmp_path)
    append(path, user("go", T0), assistant("a", 2, T0 + timedelta(seconds=1)))
    assert "1 new calls" in run("import", "claude-code", str(path), db=db)
    # Rewritten from the top (not an append): read again whole, its copy of the call is larger.
    path.write_text(user("go", T0) + "\n" + assistant("a", 2, T0 + timedelta(seconds=1)) + "\n"
                    + assistant("a", 640, T0 + timedelta(seconds=3), stop="end_turn") + "\n" + "\n")
    path.write_text(path.read_text().replace('"go"', '"GO"'))
    out = run("import", "claude-code", str(path), db=db)
    assert "0 new calls, 1 updated as they grew" in out
    events, _ = ledger_of(db)
    assert events["claude-code:msg_a:req_a"][1] == usage(640)


# -- the status line and watch show the call being written ------------------------------------

def test_statusline_and_watch_include_the_call_being_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spendtag.cli.fast import import_until_settled

    now = datetime.now(UTC).replace(microsecond=0)
    if now.hour == 0 and now.minute == 0:
        now += timedelta(minutes=1)    # every line today (watch shows today's cost)
    path = transcript(tmp_path)
    append(path, user("go", now - timedelta(seconds=30)),
           assistant("a", 2, now - timedelta(seconds=29)), assistant("a", 300, now - timedelta(seconds=28),
                                                                      stop="tool_use"),
           user("tool result", now - timedelta(seconds=20)),
           assistant("b", 1, now - timedelta(seconds=2)))     # the newest call, its first block only
    lock = tmp_path / "import.lock"
    lock.touch()
    import_until_settled([str(path), str(lock)])
    assert not lock.exists()
    payload = json.dumps({"session_id": SESSION, "transcript_path": str(path), "workspace": {"current_dir": CWD}})
    tokens = (12 + 30_000 + 2_000) * 2 + 300 + 1
    assert run("statusline", input=payload).strip().endswith(f" · {round(tokens / 1000)}K tok")
    # The same call, grown, as watch shows it: today's cost is both calls' final cost.
    append(path, assistant("b", 2_400, now - timedelta(seconds=1)))
    cost = price(usage(300), now) + price(usage(2_400), now)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    shown = run("watch", "--once")
    assert f"today: {screen(cost)}" in shown
    assert f"active session {SESSION[:12]}" in shown


def test_the_background_import_goes_on_while_the_transcript_grows(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines written while the status line's import runs are imported by it, with no refresh to start another."""
    from spendtag.cli import fast
    from spendtag.cli.main import cli as group

    path = transcript(tmp_path)
    append(path, user("go", T0), assistant("a", 1, T0 + timedelta(seconds=1)))
    imports: list[int] = []
    real = group.main

    def importing(*args: Any, **kwargs: Any) -> Any:
        imports.append(path.stat().st_size)
        result = real(*args, **kwargs)
        if len(imports) == 1:     # the call's last block lands while the first import runs
            append(path, assistant("a", 777, T0 + timedelta(seconds=2)))
        return result

    monkeypatch.setattr(group, "main", importing)
    monkeypatch.setattr(fast, "SETTLE_PAUSE", 0)
    lock = tmp_path / "import.lock"
    fast.import_until_settled([str(path), str(lock)])
    assert len(imports) == 2 and not lock.exists()
    events, _ = ledger_of(os.environ["SPENDTAG_DB"])
    assert events["claude-code:msg_a:req_a"][1] == usage(777)


def test_two_imports_at_once_keep_the_largest_copy(tmp_path: Path, db: str) -> None:
    """An import that saw the newest call still open commits after one that saw it finished, or before.

    (The status line's background import and `spendtag watch` run at the same time.) Each
    read from the same stored state; whichever order they commit in, the call ends with its
    final usage, once.
    """
    from spendtag.importing import ImportReport, _FileReader, _jobs

    now = datetime.now(UTC).replace(microsecond=0)
    path = transcript(tmp_path)
    log = LogFile("claude-code", path, path.parent.parent)
    for first_open in (True, False):
        name = f"race{first_open}"
        path.write_text(user("go", now - timedelta(seconds=9)) + "\n")
        store = open_store(db)
        try:
            store.record_import([])    # (the ledger exists before the imports race)
            reader = _FileReader(Pricer(PriceBook([])), None, False)
            append(path, assistant(name, 1, now - timedelta(seconds=5)))
            (open_job,) = _jobs(store, [log], ImportReport(), None)
            saw_open = reader(open_job)
            append(path, assistant(name, 900, now - timedelta(seconds=4)), user("result", now))
            (closed_job,) = _jobs(store, [log], ImportReport(), None)
            saw_closed = reader(closed_job)
            order = (saw_open, saw_closed) if first_open else (saw_closed, saw_open)
            for _report, state, part in order:
                store.record_import([(part, state)])
            (event,) = [p.event for p in store.events(Filters()) if p.event.event_id.endswith(f"req_{name}")]
            assert event.usage == usage(900)
            # Counted once (the ledger also holds the first round's call).
            whole = store.aggregate(Filters())[0].totals
            assert (whole.requests, whole["output_tokens"]) == (1 if first_open else 2, 900 * (1 if first_open else 2))
        finally:
            store.close()

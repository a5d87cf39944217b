"""`spendtag import` end to end on generated agent trees: totals, incremental reads, rewrites, a killed import."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from agent_trees import BUCKETS, ClaudeTreeGenerator, CodexTreeGenerator, Tree
from click.testing import CliRunner
from conftest import make_event

from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters


def run(*args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def ledger_totals(by: str) -> dict[str, Counter[str]]:
    store = open_store(os.environ["SPENDTAG_DB"])
    try:
        out: dict[str, Counter[str]] = {}
        for a in store.aggregate(Filters(), [by]):
            counter = Counter({b: a.totals[b] for b in BUCKETS})
            counter["calls"] = a.totals.requests
            out[str(a.key[0])] = +counter
        return out
    finally:
        store.close()


def expected(tree: Tree, by: str) -> dict[str, Counter[str]]:
    """What an import records: every call, the ones still open at the end of their file included."""
    return {k: +v for k, v in tree.totals(by, with_open=True).items()}


def calls(tree: Tree) -> int:
    return len(tree.calls) + len(tree.open_calls)


@pytest.fixture
def claude_tree(tmp_path: Path) -> Tree:
    return ClaudeTreeGenerator(seed=3).write(tmp_path / "claude" / "projects")


def test_claude_code_tree_totals_are_exact_and_reimport_changes_nothing(claude_tree: Tree) -> None:
    out = run("import", "claude-code", str(claude_tree.root))
    assert f"{calls(claude_tree):,} new calls" in out
    assert ledger_totals("model") == expected(claude_tree, "model")
    assert ledger_totals("session") == expected(claude_tree, "session")
    assert ledger_totals("project") == expected(claude_tree, "project")
    again = run("import", "claude-code", str(claude_tree.root))
    assert again.startswith(f"{len(claude_tree.files):,} files ({len(claude_tree.files):,} unchanged): 0 new calls")
    assert ledger_totals("model") == expected(claude_tree, "model")


def test_claude_code_import_on_postgresql(claude_tree: Tree, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDTAG_DB", pg_url)
    out = run("import", "claude-code", str(claude_tree.root))
    assert f"{calls(claude_tree):,} new calls" in out
    assert ledger_totals("model") == expected(claude_tree, "model")
    assert ledger_totals("session") == expected(claude_tree, "session")
    again = run("import", "claude-code", str(claude_tree.root))
    assert again.startswith(f"{len(claude_tree.files):,} files ({len(claude_tree.files):,} unchanged): 0 new calls")


def test_appended_and_rewritten_files_are_read_correctly(claude_tree: Tree) -> None:
    run("import", "claude-code", str(claude_tree.root))
    before = ledger_totals("model")
    # Appending a copy of a file's own lines adds no new calls (same ids), but is read.
    target = next(p for p in claude_tree.files if "subagents" not in str(p))
    target.write_text(target.read_text() + target.read_text())
    run("import", "claude-code", str(claude_tree.root))
    assert ledger_totals("model") == before
    # Truncating a file and writing something else: read again from the top, nothing counted twice.
    target.write_text("\n".join(target.read_text().splitlines()[:3]) + "\n")
    out = run("import", "claude-code", str(claude_tree.root))
    assert "0 new calls" in out
    assert ledger_totals("model") == before


def test_codex_tree_totals_are_exact(tmp_path: Path) -> None:
    tree = CodexTreeGenerator(seed=5).write(tmp_path / "codex")
    out = run("import", "codex", str(tree.root))
    assert f"{calls(tree):,} new calls" in out
    assert f"{tree.malformed} malformed" in out
    assert ledger_totals("model") == expected(tree, "model")
    assert ledger_totals("session") == expected(tree, "session")


def test_attribution_rules_retag_and_tag_session(claude_tree: Tree, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    run("import", "claude-code", str(claude_tree.root))
    acme = sum(c["calls"] for p, c in expected(claude_tree, "project").items() if p.startswith("/home/u/clients/acme"))
    assert json.loads(run("report", "--by", "client", "--format", "json"))["rows"][0]["client"] is None
    config = tmp_path / "spendtag.toml"
    config.write_text('[attribution]\n"/home/u/clients/acme/**" = { client = "acme" }\n')
    monkeypatch.setenv("SPENDTAG_CONFIG", str(config))
    assert run("retag") == f"retagged {acme:,} calls\n"
    rows = {r["client"]: r["requests"] for r in json.loads(run("report", "--by", "client", "--format", "json"))["rows"]}
    assert rows["acme"] == acme
    other = next(c for c in claude_tree.calls if not c.project.startswith("/home/u/clients/acme"))
    n = expected(claude_tree, "session")[other.session]["calls"]
    assert run("tag", "session", other.session, "client=globex") == f"tagged {n:,} calls of session {other.session}\n"
    rows = {r["client"]: r["requests"] for r in json.loads(run("report", "--by", "client", "--format", "json"))["rows"]}
    assert rows["globex"] == n and rows["acme"] == acme
    sessions = json.loads(run("sessions", "--tag", "client=globex", "--format", "json"))
    assert [s["session"] for s in sessions] == [other.session]
    # An id cut short, as the sessions table shows it, names the one session it begins.
    ids = {c.session for c in claude_tree.calls}
    short = next(other.session[:n] for n in range(1, len(other.session) + 1)
                 if sum(s.startswith(other.session[:n]) for s in ids) == 1)
    assert json.loads(run("session", short, "--format", "json"))["session"] == other.session
    assert run("tag", "session", short, "env=dev") == f"tagged {n:,} calls of session {other.session}\n"
    shared = next(p for p in (s[:1] for s in sorted(ids)) if sum(s.startswith(p) for s in ids) > 1)
    result = CliRunner().invoke(cli, ["session", shared])
    assert result.exit_code == 2 and "begins more than one session" in result.output
    result = CliRunner().invoke(cli, ["tag", "session", "no-such-session", "client=x"])
    assert result.exit_code == 2 and "no calls recorded for session 'no-such-session'" in result.output


def test_tag_session_makes_dims_rows_only_for_the_calls_it_moves(tmp_path: Path) -> None:
    """Tagging one session of a ledger with many projects and agents adds a dims row per row it moved, no more.

    (It once offered every dims row of the ledger to the change, made a tagged copy of each
    and scanned the events once per row: minutes on a 500k-call ledger.)
    """
    path = tmp_path / "ledger.db"
    store = open_store(f"sqlite:///{path}")
    store.record([make_event(f"e{i}", project=f"/p/{i}", agent=f"claude-code/agent-{i}", session="other")
                  for i in range(40)]
                 + [make_event("mine1", project="/p/0", session="mine"),
                    make_event("mine2", project="/p/1", session="mine"),
                    make_event("mine3", project="/p/1", session="mine")])

    def dims_rows() -> int:
        with sqlite3.connect(path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM dims").fetchone()[0])

    before = dims_rows()
    moved = store.retag(Filters(dims={"session": ("mine",)}), lambda d, t: {**t, "client": "acme"}, "tag session")
    assert moved == 3
    assert dims_rows() == before + 2
    tagged = {p.event.event_id for p in store.events(Filters()) if p.event.tags == {"client": "acme"}}
    assert tagged == {"mine1", "mine2", "mine3"}
    store.close()


def test_a_killed_import_is_completed_by_the_next_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = ClaudeTreeGenerator(seed=9).write(tmp_path / "big" / "projects", sessions_per_project=40,
                                             calls_per_session=60)
    killed_midway = False
    # Each try on a fresh ledger, until a kill lands before the import has written everything
    # (it may finish, or be killed only while closing, on a fast machine).
    for attempt, delay in enumerate((0.6, 0.3, 0.15, 0.45, 0.08, 0.9)):
        monkeypatch.setenv("SPENDTAG_DB", str(tmp_path / f"ledger{attempt}.db"))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-c", "from spendtag.cli.main import main; main()", "import",
                                 "claude-code", str(tree.root)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        time.sleep(delay)
        if proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = sum(c["calls"] for c in ledger_totals("model").values()) if Path(env["SPENDTAG_DB"]).exists() else 0
        store = open_store(os.environ["SPENDTAG_DB"])
        files_done = sum(store.import_state(str(p)) is not None for p in tree.files)
        store.close()
        # The import must really have been cut short (calls or offsets not yet written) for
        # this test to mean anything.
        if partial < calls(tree) or files_done < len(tree.files):
            killed_midway = True
            break
    assert killed_midway
    run("import", "claude-code", str(tree.root))
    assert ledger_totals("model") == expected(tree, "model")
    assert ledger_totals("session") == expected(tree, "session")


def test_statusline_imports_the_transcript_and_prints_one_line(claude_tree: Tree, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "spendtag.toml"
    config.write_text('[attribution]\n"/home/u/clients/acme/**" = { client = "acme" }\n')
    monkeypatch.setenv("SPENDTAG_CONFIG", str(config))
    call = next(c for c in claude_tree.calls if c.project == "/home/u/clients/acme/api" and c.agent == "claude-code")
    transcript = next(p for p in claude_tree.files if p.stem == call.session)
    payload = {"session_id": call.session, "transcript_path": str(transcript),
               "workspace": {"current_dir": call.project}}
    run("budget", "set", "acme", "--scope", "client=acme", "--monthly", "200")
    line = run("statusline", input=json.dumps(payload)).strip()
    parts = line.split(" · ")
    assert parts[0] == "acme" and parts[1].startswith("session $") and parts[2].endswith(" tok")
    assert parts[3].startswith("month ") and parts[3].endswith("% of $200")


def test_an_open_call_is_recorded_at_once_and_closed_once_its_file_goes_quiet(claude_tree: Tree) -> None:
    out = run("import", "claude-code", str(claude_tree.root))
    assert f"{calls(claude_tree):,} new calls" in out and claude_tree.open_calls
    assert ledger_totals("model") == expected(claude_tree, "model")      # the open call counted already
    assert "0 new calls" in run("import", "claude-code", str(claude_tree.root))
    old = time.time() - 2 * 3600
    for path in claude_tree.files:
        os.utime(path, (old, old))
    # Read once more, told the file is done: the call is closed, recorded nothing new.
    out = run("import", "claude-code", str(claude_tree.root))
    assert "0 new calls, 0 already recorded" in out
    assert ledger_totals("model") == expected(claude_tree, "model")
    assert "0 new calls, 0 already recorded" in run("import", "claude-code", str(claude_tree.root))


@pytest.mark.parametrize("workers", ["0", "2"])
def test_compare_logged_cost_shows_each_file_against_spendtags_price(tmp_path: Path, workers: str) -> None:
    """`import --compare-logged-cost`: per file, costUSD from the log next to spendtag's own price."""
    # 1k input x $3 + 100k cache reads x $0.30 + 3k output x $15 per MTok = $0.078 (Sonnet 4.5)
    usage = {"input_tokens": 1_000, "cache_read_input_tokens": 100_000, "output_tokens": 3_000}

    def line(msg: str, cost: str) -> str:
        return (json.dumps({"type": "assistant", "sessionId": "s", "cwd": "/w", "requestId": f"r{msg}",
                            "timestamp": "2026-09-01T10:00:00.000Z", "costUSD": "COST",
                            "message": {"id": msg, "model": "claude-sonnet-4-5", "stop_reason": "end_turn",
                                        "usage": usage}}).replace('"COST"', cost))

    folder = tmp_path / "projects" / "-w"
    folder.mkdir(parents=True)
    (folder / "same.jsonl").write_text(line("m1", "0.078") + "\n")
    (folder / "off.jsonl").write_text(line("m2", "0.128") + "\n" + line("m3", "0.078") + "\n")
    out = run("import", "claude-code", str(tmp_path / "projects"), "--compare-logged-cost", "--workers", workers)
    assert f"{folder / 'same.jsonl'}: logged $0.08, spendtag $0.08, difference $0.00" in out
    assert f"{folder / 'off.jsonl'}: logged $0.21, spendtag $0.16, difference -$0.05" in out

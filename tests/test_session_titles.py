"""Session titles: read from the agents' logs, kept by the importer, shown with each session."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from spendtag.capture.agents import LogFile, read
from spendtag.cli.main import cli
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.usage import SessionTitle, title_from_prompt

SESSION = "0b5e1c1e-1111-4222-8333-944455556666"
OTHER = "7c7c7c7c-2222-4333-8444-955566667777"


def run(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200", **(env or {})})
    assert result.exit_code == 0, result.output
    return result.output


def _user(session: str, content: Any, uuid: str, **extra: Any) -> str:
    return json.dumps({"type": "user", "sessionId": session, "uuid": uuid, "cwd": "/w/acme",
                       "timestamp": "2026-03-02T09:00:00.000Z", "message": {"role": "user", "content": content},
                       **extra})


def _assistant(session: str, n: int) -> str:
    return json.dumps({"type": "assistant", "sessionId": session, "requestId": f"req_{n}", "cwd": "/w/acme",
                       "timestamp": f"2026-03-02T09:0{n}:00.000Z",
                       "message": {"id": f"msg_{n}", "model": "claude-sonnet-4-5", "stop_reason": "end_turn",
                                   "usage": {"input_tokens": 10 * n, "output_tokens": n}}})


def transcript(root: Path, lines: list[str], session: str = SESSION) -> Path:
    path = root / "projects" / "-w-acme" / f"{session}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def titles_of(path: Path, offset: int = 0, state: dict[str, Any] | None = None) -> dict[str, SessionTitle]:
    return read(LogFile("claude-code", path, path.parent.parent), offset, state={} if state is None else state).titles


def test_title_from_prompt_takes_the_opening_words() -> None:
    assert title_from_prompt("  fix the\n login   bug  ") == "fix the login bug"
    long = "Please refactor the billing module so that invoices are computed from the ledger only, then test"
    title = title_from_prompt(long)
    assert title == "Please refactor the billing module so that invoices are…"
    assert title is not None and len(title) <= 61
    assert title_from_prompt("x" * 100) == "x" * 60 + "…"
    assert title_from_prompt(" \n ") is None


def test_claude_code_first_prompt_then_summary(tmp_path: Path) -> None:
    path = transcript(tmp_path, [
        _user(SESSION, "<command-name>/clear</command-name>", "u0"),                    # a slash command: not a title
        _user(SESSION, "Caveat: the messages below were generated", "u1", isMeta=True),  # meta: not a title
        _user(SESSION, [{"type": "text", "text": "Add retries to the HTTP client"}], "u2"),
        _assistant(SESSION, 1),
        _user(SESSION, [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}], "u3"),
        _user(SESSION, "now run the tests", "u4"),
        _assistant(SESSION, 2),
    ])
    assert titles_of(path) == {SESSION: SessionTitle("Add retries to the HTTP client", "prompt")}
    with path.open("a") as f:
        f.write(json.dumps({"type": "summary", "summary": "HTTP client retries  added", "leafUuid": "u4"}) + "\n")
    state: dict[str, Any] = {}
    first = read(LogFile("claude-code", path, tmp_path), 0, state=state)
    assert first.titles[SESSION] == SessionTitle("HTTP client retries added", "summary")  # the summary wins
    assert state.get("titled") is True
    assert len(first.events) == 2 and first.skipped >= 5        # the title lines count as they did


def test_sub_agent_files_give_no_title(tmp_path: Path) -> None:
    path = tmp_path / "projects" / "-w-acme" / SESSION / "subagents" / "agent-a1.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(_user(SESSION, "Search the codebase for retry helpers", "s1", isSidechain=True) + "\n"
                    + _assistant(SESSION, 3) + "\n")
    result = read(LogFile("claude-code", path, tmp_path), 0, state={})
    assert result.titles == {} and len(result.events) == 1


def test_import_keeps_titles_shows_them_and_reimport_records_nothing(tmp_path: Path) -> None:
    root = tmp_path / "claude"
    transcript(root, [_user(SESSION, "Add retries to the HTTP client", "u1"), _assistant(SESSION, 1)])
    transcript(root, [_user(OTHER, "Write the quarterly report for globex", "v1"), _assistant(OTHER, 2),
                      json.dumps({"type": "summary", "summary": "Globex quarterly report", "leafUuid": "v1"})],
               session=OTHER)
    out = run("import", "claude-code", str(root / "projects"))
    assert "2 new calls" in out
    store = SQLiteStore(os.environ["SPENDTAG_DB"])
    assert store.session_titles([SESSION, OTHER]) == {SESSION: "Add retries to the HTTP client",
                                                      OTHER: "Globex quarterly report"}
    before = store.count()
    out = run("import", "claude-code", str(root / "projects"))
    assert "0 new calls" in out and store.count() == before
    # A later prompt appended to the file does not replace the first.
    with (root / "projects" / "-w-acme" / f"{SESSION}.jsonl").open("a") as f:
        f.write(_user(SESSION, "something else entirely", "u9") + "\n" + _assistant(SESSION, 4) + "\n")
    assert "1 new calls" in run("import", "claude-code", str(root / "projects"))
    assert store.session_titles([SESSION]) == {SESSION: "Add retries to the HTTP client"}
    listed = json.loads(run("sessions", "--format", "json"))
    assert {s["session"]: s["title"] for s in listed} == {SESSION: "Add retries to the HTTP client",
                                                          OTHER: "Globex quarterly report"}
    assert {s["session"]: s["projects"] for s in listed} == {SESSION: ["/w/acme"], OTHER: ["/w/acme"]}
    table = run("sessions")
    assert "Globex quarterly report" in table and "/w/acme" in table
    detail = run("session", OTHER[:8])
    assert "/w/acme · Globex quarterly report" in detail
    # Titles off: none on screen (the ledger's are not shown) ...
    off = {"SPENDTAG_SESSION_TITLES": "off"}
    assert "Globex" not in run("sessions", env=off) and "Globex" not in run("session", OTHER[:8], env=off)
    assert [s["title"] for s in json.loads(run("sessions", "--format", "json", env=off))] == [None, None]


def test_titles_off_keeps_prompts_out_of_the_ledger(tmp_path: Path) -> None:
    root = tmp_path / "claude"
    transcript(root, [_user(SESSION, "A private prompt about a client", "u1"), _assistant(SESSION, 1)])
    run("import", "claude-code", str(root / "projects"), env={"SPENDTAG_SESSION_TITLES": "off"})
    store = SQLiteStore(os.environ["SPENDTAG_DB"])
    assert store.count() == 1 and store.session_titles([SESSION]) == {}
    (tmp_path / "config.toml").write_text('session_titles = "maybe"\n')
    result = CliRunner().invoke(cli, ["sessions"], env={"SPENDTAG_CONFIG": str(tmp_path / "config.toml")})
    assert result.exit_code != 0 and "session_titles" in result.output and "Traceback" not in result.output


def test_codex_first_user_message_is_the_title(tmp_path: Path) -> None:
    from spendtag.capture.agents.codex import read as read_codex

    path = tmp_path / "rollout-2026-03-02T09-00-00-0c0d0e0f-1111-4222-8333-944455556666.jsonl"
    lines = [
        {"timestamp": "2026-03-02T09:00:00Z", "type": "session_meta",
         "payload": {"id": "0c0d0e0f-1111-4222-8333-944455556666", "cwd": "/w/x", "timestamp": "2026-03-02T09:00:00Z"}},
        {"timestamp": "2026-03-02T09:00:01Z", "type": "event_msg",
         "payload": {"type": "user_message", "message": "add a retry to the HTTP client", "images": []}},
        {"timestamp": "2026-03-02T09:00:09Z", "type": "event_msg",
         "payload": {"type": "user_message", "message": "now run the tests", "images": []}},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    state: dict[str, Any] = {}
    result = read_codex(LogFile("codex", path, tmp_path), 0, state=state)
    assert result.titles == {"0c0d0e0f-1111-4222-8333-944455556666": SessionTitle("add a retry to the HTTP client",
                                                                                  "prompt")}
    assert state["titled"] is True


def test_gemini_cli_user_prompt_is_the_title(tmp_path: Path) -> None:
    from spendtag.capture.agents.gemini_cli import read as read_gemini

    path = tmp_path / "telemetry.log"
    records = [{"attributes": {"event.name": "gemini_cli.user_prompt", "session.id": "g-1",
                               "prompt": "summarise the design doc", "prompt_length": 24},
                "hrTime": [1772442000, 0]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = read_gemini(LogFile("gemini-cli", path, tmp_path), 0, state={})
    assert result.titles == {"g-1": SessionTitle("summarise the design doc", "prompt")}

"""``spendtag hook install AGENT``: each agent's settings file gets the budget hook on its own events; merged,
idempotent, backed up, undone by ``hook uninstall``; and ``spendtag hook AGENT`` refuses a prompt over budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from spendtag.cli.main import cli
from spendtag.guard.agent_hooks import TARGETS, settings_path


def _run(*args: str, input: str | None = None, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def test_default_settings_files(tmp_path: Path) -> None:
    where = {a: settings_path(t, env={}, home=tmp_path) for a, t in TARGETS.items()}
    assert where == {"claude-code": tmp_path / ".claude" / "settings.json",
                     "codex": tmp_path / ".codex" / "hooks.json",
                     "gemini-cli": tmp_path / ".gemini" / "settings.json",
                     "qwen-code": tmp_path / ".qwen" / "settings.json",
                     "droid": tmp_path / ".factory" / "settings.json"}
    assert settings_path(TARGETS["codex"], env={"CODEX_HOME": "/x"}, home=tmp_path) == Path("/x/hooks.json")


@pytest.mark.parametrize("agent", list(TARGETS))
def test_install_merges_is_idempotent_and_uninstall_restores(agent: str, tmp_path: Path) -> None:
    t = TARGETS[agent]
    path = tmp_path / agent / "settings.json"
    path.parent.mkdir()
    theirs = {"theme": "dark", "hooks": {t.events[1]: [{"hooks": [{"type": "command", "command": "lint.sh"}]}],
                                         "PreToolUse": [{"matcher": "Bash", "hooks": []}]}}
    path.write_text(json.dumps(theirs))
    assert _run("hook", "install", agent, "--settings", str(path)).startswith("installed in")
    data = json.loads(path.read_text())
    for event in t.events:
        ours = [h for g in data["hooks"][event] for h in g["hooks"] if h["command"] == f"spendtag hook {agent}"]
        assert ours == [{"type": "command", "command": f"spendtag hook {agent}", "timeout": t.timeout}]
    assert data["theme"] == "dark" and data["hooks"]["PreToolUse"] == theirs["hooks"]["PreToolUse"]
    assert data["hooks"][t.events[1]][0] == theirs["hooks"][t.events[1]][0]   # their hook first, kept
    assert json.loads(path.with_name("settings.json.bak").read_text()) == theirs
    written = path.read_bytes()
    assert _run("hook", "install", agent, "--settings", str(path)).startswith("already installed")
    assert path.read_bytes() == written
    assert _run("hook", "uninstall", agent, "--settings", str(path)).startswith("removed from")
    assert json.loads(path.read_text()) == theirs
    assert _run("hook", "uninstall", agent, "--settings", str(path)).startswith("not installed")


def test_install_without_an_agent_is_claude_code_in_its_default_place() -> None:
    out = _run("hook", "install")
    assert out.strip() == f"installed in {Path.home() / '.claude' / 'settings.json'}"


def test_each_agents_hook_refuses_a_prompt_over_a_blocking_budget(tmp_path: Path) -> None:
    _run("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage",
         '{"input_tokens": 400000, "output_tokens": 1000}', "--project", "/w/acme")
    _run("budget", "set", "cap", "--project", "/w/acme", "--monthly", "0.5", "--enforce", "block")
    for agent, t in TARGETS.items():
        start = json.loads(_run("hook", agent, input=json.dumps(
            {"hook_event_name": t.events[0], "cwd": "/w/acme", "session_id": "s"})))
        assert "budget cap" in start["systemMessage"], agent
        prompt = json.loads(_run("hook", agent, input=json.dumps(
            {"hook_event_name": t.events[1], "cwd": "/w/acme", "session_id": "s", "prompt": "go"})))
        assert prompt["decision"] == "block" and "stop threshold reached" in prompt["reason"], agent
        elsewhere = _run("hook", agent, input=json.dumps(
            {"hook_event_name": t.events[1], "cwd": "/w/other", "session_id": "s"}))
        assert elsewhere == "", agent


def test_a_settings_file_that_is_not_json_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{ nope")
    out = _run("hook", "install", "gemini-cli", "--settings", str(path), ok=False)
    assert "not plain JSON" in out and "Traceback" not in out and path.read_text() == "{ nope"

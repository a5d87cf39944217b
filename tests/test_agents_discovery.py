"""Finding agent logs: CLAUDE_CONFIG_DIR (a comma list), CODEX_HOME, the home defaults, explicit paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from spendtag.capture.agents import LogFile, discover, sniff_agent

CLAUDE_LINE = b'{"type":"user","sessionId":"s","parentUuid":null}\n'
CODEX_LINE = b'{"timestamp":"t","type":"session_meta","payload":{"id":"x"}}\n'
GEMINI_DOC = b'{"attributes":{"event.name":"gemini_cli.api_response"}}\n'


def _touch(path: Path, data: bytes = CLAUDE_LINE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _claude_tree(base: Path) -> list[Path]:
    return [
        _touch(base / "projects" / "-home-u-a" / "s1.jsonl"),
        _touch(base / "projects" / "-home-u-a" / "s1" / "subagents" / "agent-x.jsonl"),
        _touch(base / "projects" / "-home-u-b" / "s2.jsonl"),
    ]


def _paths(logs: list[LogFile]) -> list[Path]:
    return [log.path for log in logs]


def test_claude_defaults_are_both_config_dirs(tmp_path: Path) -> None:
    new = _claude_tree(tmp_path / ".config" / "claude")
    old = _claude_tree(tmp_path / ".claude")
    _touch(tmp_path / ".claude" / "projects" / "-home-u-a" / "notes.txt")          # not a transcript
    _touch(tmp_path / ".claude" / "projects" / "-home-u-a" / "s1" / "other" / "x.jsonl")   # not a sub-agent
    logs = discover("claude-code", env={}, home=tmp_path)
    assert _paths(logs) == sorted(new + old, key=str)
    assert {log.root for log in logs} == {tmp_path / ".config" / "claude" / "projects",
                                          tmp_path / ".claude" / "projects"}
    assert {log.agent for log in logs} == {"claude-code"}


def test_claude_config_dir_is_a_comma_list_replacing_the_defaults(tmp_path: Path) -> None:
    _claude_tree(tmp_path / ".claude")                      # ignored once the variable is set
    first = _claude_tree(tmp_path / "work-claude")          # holds projects/
    second = _claude_tree(tmp_path / "elsewhere")           # given as the projects folder itself
    env = {"CLAUDE_CONFIG_DIR": f"{tmp_path / 'work-claude'}, {tmp_path / 'elsewhere' / 'projects'},"
                                f"{tmp_path / 'missing'}"}
    logs = discover("claude-code", env=env, home=tmp_path)
    assert _paths(logs) == sorted(first + second, key=str)


def test_same_tree_through_a_symlink_is_listed_once(tmp_path: Path) -> None:
    files = _claude_tree(tmp_path / ".config" / "claude")
    (tmp_path / ".claude").symlink_to(tmp_path / ".config" / "claude")
    assert _paths(discover("claude-code", env={}, home=tmp_path)) == sorted(files, key=str)


def _codex_tree(base: Path) -> list[Path]:
    return [
        _touch(base / "sessions" / "2026" / "01" / "05" / "rollout-2026-01-05T09-00-00-aaa.jsonl", CODEX_LINE),
        _touch(base / "sessions" / "2026" / "01" / "06" / "rollout-2026-01-06T09-00-00-bbb.jsonl", CODEX_LINE),
        _touch(base / "archived_sessions" / "rollout-2025-12-01T09-00-00-ccc.jsonl", CODEX_LINE),
    ]


def test_codex_home_and_default(tmp_path: Path) -> None:
    default = _codex_tree(tmp_path / ".codex")
    _touch(tmp_path / ".codex" / "sessions" / "2026" / "01" / "05" / "notes.jsonl", CODEX_LINE)
    custom = _codex_tree(tmp_path / "ch")
    assert _paths(discover("codex", env={}, home=tmp_path)) == sorted(default, key=str)
    assert _paths(discover("codex", env={"CODEX_HOME": str(tmp_path / "ch")}, home=tmp_path)) == sorted(custom, key=str)
    assert {log.root for log in discover("codex", env={}, home=tmp_path)} == {tmp_path / ".codex"}


def test_gemini_outfiles(tmp_path: Path) -> None:
    default = _touch(tmp_path / ".gemini" / "telemetry.log", GEMINI_DOC)
    custom = _touch(tmp_path / "otel" / "gemini.json", GEMINI_DOC)
    assert _paths(discover("gemini-cli", env={}, home=tmp_path)) == [default]
    env = {"GEMINI_TELEMETRY_OUTFILE": str(custom)}
    assert _paths(discover("gemini-cli", env=env, home=tmp_path)) == sorted([default, custom], key=str)


def test_all_agents_sorted_by_agent_then_path(tmp_path: Path) -> None:
    claude = _claude_tree(tmp_path / ".claude")
    codex = _codex_tree(tmp_path / ".codex")
    gemini = _touch(tmp_path / ".gemini" / "telemetry.log", GEMINI_DOC)
    logs = discover(env={}, home=tmp_path)
    assert [(log.agent, log.path) for log in logs] == (
        [("claude-code", p) for p in sorted(claude, key=str)] + [("codex", p) for p in sorted(codex, key=str)]
        + [("gemini-cli", gemini)])


def test_explicit_path_overrides_the_roots(tmp_path: Path) -> None:
    _claude_tree(tmp_path / ".claude")
    elsewhere = _claude_tree(tmp_path / "backup")
    found = discover("claude-code", path=tmp_path / "backup", env={}, home=tmp_path)
    assert _paths(found) == sorted(elsewhere, key=str)
    single = elsewhere[0]
    found = discover("claude-code", path=single, env={}, home=tmp_path)
    assert found == [LogFile("claude-code", single, single.parent)]
    codex = _codex_tree(tmp_path / "cx")
    assert _paths(discover("codex", path=tmp_path / "cx", env={}, home=tmp_path)) == sorted(codex, key=str)
    assert discover("codex", path=tmp_path / "nothing-here", env={}, home=tmp_path) == []


def test_explicit_path_without_agent_sorts_files_by_their_look(tmp_path: Path) -> None:
    claude = _touch(tmp_path / "mixed" / "a.jsonl")
    codex = _touch(tmp_path / "mixed" / "rollout-1.jsonl", CODEX_LINE)
    gemini = _touch(tmp_path / "mixed" / "telemetry.log", GEMINI_DOC)
    _touch(tmp_path / "mixed" / "other.jsonl", b'{"hello":1}\n')
    logs = discover(path=tmp_path / "mixed", env={}, home=tmp_path)
    assert [(log.agent, log.path) for log in logs] == [
        ("claude-code", claude), ("codex", codex), ("gemini-cli", gemini)]
    assert sniff_agent(tmp_path / "mixed" / "other.jsonl") is None


def test_unknown_agent_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown agent 'no-such-agent'"):
        discover("no-such-agent", env={}, home=tmp_path)

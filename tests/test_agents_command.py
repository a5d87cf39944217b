"""``spendtag agents``: every agent, found or not, where, calls imported and when last."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import pytest
from agent_trees import ClaudeTreeGenerator
from click.testing import CliRunner

from spendtag.capture.agents import registry
from spendtag.cli.main import cli


def _bare_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """A machine with nothing but HOME and spendtag's own settings (no CLAUDE_CONFIG_DIR, XDG_*, APPDATA...)."""
    keep = {k: os.environ[k] for k in ("SPENDTAG_DB", "SPENDTAG_CONFIG", "PATH") if k in os.environ}
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for k, v in {**keep, "HOME": str(home)}.items():
        monkeypatch.setenv(k, v)


def _run(*args: str, columns: int = 160) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def _where_cells(table: str) -> list[str]:
    """The last column of the table, each row's lines joined with nothing between: its paths, end to end."""
    lines = table.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("agent"))
    start = lines[header].index("where")
    found = lines[header].index("found")
    cells: list[str] = []
    for line in lines[header + 2:]:
        if not line.strip():
            break
        piece = line[start:].rstrip()
        if line[found:found + 5].strip():   # a new row has its "found" cell (a long title folds too)
            cells.append(piece)
        else:                  # a folded path goes on, or the row's next path begins
            cells[-1] += piece
    return cells


def test_no_agent_installed_lists_every_agent_as_not_found_with_the_places_looked_at(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "empty-home"
    home.mkdir()
    _bare_env(monkeypatch, home)
    rows = json.loads(_run("agents", "--json"))
    every = registry.agents()
    assert [r["name"] for r in rows] == list(every)
    for r in rows:
        expected = [str(p) for p in dict.fromkeys(every[r["name"]].places({}, home, registry.platform()))]
        assert r["looked_in"] == expected and expected, r["name"]
        assert all(p.startswith(str(home)) for p in expected), r["name"]
        assert (r["found"], r["places"], r["calls"], r["last_call"], r["files_imported"]) == (False, [], 0, None, 0)
    claude = rows[0]
    assert claude["looked_in"] == [str(home / ".config" / "claude" / "projects"), str(home / ".claude" / "projects")]

    table = _run("agents", columns=60)
    assert max(len(line) for line in table.splitlines()[:-1]) <= 60   # the table fits; the last line is a note
    cells = _where_cells(table)
    # Every path whole, folded, never cut (a path folds at its spaces too: "Code - Insiders").
    assert [c.replace(" ", "") for c in cells] == ["".join(r["looked_in"]).replace(" ", "") for r in rows]
    assert re.search(rf"0 of {len(rows)} found", table)
    assert table.count(" no ") >= len(rows)


def test_an_imported_claude_code_tree_shows_found_where_calls_and_last(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    tree = ClaudeTreeGenerator(seed=3).write(home / ".claude" / "projects", sessions_per_project=2,
                                             calls_per_session=5)
    _bare_env(monkeypatch, home)
    assert "new calls" in _run("import")
    report = json.loads(_run("report", "--by", "source", "--format", "json"))
    calls = next(r["requests"] for r in report["rows"] if r["source"] == "claude-code")
    assert calls >= len(tree.calls) > 0
    rows = {r["name"]: r for r in json.loads(_run("agents", "--json"))}
    claude = rows["claude-code"]
    assert claude["found"] is True and claude["places"] == [str(home / ".claude" / "projects")]
    assert claude["calls"] == calls
    assert claude["files_imported"] == len(tree.files)
    last = max(c.ts for c in [*tree.calls, *tree.open_calls])
    assert datetime.fromisoformat(claude["last_call"]) == last
    assert claude["last_import"] is not None
    assert all(not r["found"] and r["calls"] == 0 for name, r in rows.items() if name != "claude-code")

    table = _run("agents", columns=60)
    line = next(line for line in table.splitlines() if "Claude Code" in line)
    assert re.search(rf"Claude Code\s+yes\s+{calls:,}\s+{last:%Y-%m-%d}\s", line), line
    assert _where_cells(table)[0] == str(home / ".claude" / "projects")


def test_every_registered_agent_has_a_row_in_docs_agents_md() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "agents.md").read_text(encoding="utf-8")
    table = text[text.index("## The agents"):text.index("## Hooks")]
    rows = {line.split("|")[1].strip().strip("`") for line in table.splitlines() if line.startswith("| `")}
    assert set(registry.names()) <= rows

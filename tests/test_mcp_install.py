"""``spendtag mcp install HOST``: merged into the host's own file, idempotent, backed up, undone by uninstall."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.cli.main import cli
from spendtag.config_files import ConfigFileError, update_toml_table
from spendtag.server.mcp import hosts


def _run(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def test_claude_code_keeps_every_other_setting_is_idempotent_and_backed_up(tmp_path: Path) -> None:
    home = Path.home()
    config = home / ".claude.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    mine = {"numStartups": 12, "mcpServers": {"github": {"type": "stdio", "command": "gh-mcp", "args": []}},
            "projects": {"/w": {"allowedTools": ["Bash"]}}}
    config.write_text(json.dumps(mine))
    out = _run("--db", str(tmp_path / "l.db"), "mcp", "install", "claude-code")
    assert out.startswith(f"added to {config} (Claude Code): ")
    data = json.loads(config.read_text())
    ours = data["mcpServers"].pop("spendtag")
    assert data == mine                                                # nothing else touched
    assert ours["type"] == "stdio" and ours["args"][-3:] == ["--db", str(tmp_path / "l.db"), "mcp"]
    assert json.loads((home / ".claude.json.bak").read_text()) == mine
    written = config.read_bytes()
    assert _run("--db", str(tmp_path / "l.db"), "mcp", "install", "claude-code").startswith("already in")
    assert config.read_bytes() == written
    assert _run("mcp", "uninstall", "claude-code").startswith("removed from")
    assert json.loads(config.read_text()) == mine
    assert _run("mcp", "uninstall", "claude-code").startswith("not in")


@pytest.mark.parametrize(("name", "keys", "shape"), [
    ("cursor", ("mcpServers",), {"command", "args"}),
    ("gemini-cli", ("mcpServers",), {"command", "args"}),
    ("qwen-code", ("mcpServers",), {"command", "args"}),
    ("droid", ("mcpServers",), {"type", "command", "args"}),
    ("copilot-cli", ("mcpServers",), {"type", "command", "args", "tools"}),
    ("windsurf", ("mcpServers",), {"command", "args"}),
    ("vscode", ("servers",), {"type", "command", "args"}),
    ("cline", ("mcpServers",), {"command", "args", "disabled"}),
    ("opencode", ("mcp",), {"type", "command", "enabled"}),
    ("crush", ("mcp",), {"type", "command", "args"}),
])
def test_each_json_host_gets_its_own_shape(name: str, keys: tuple[str, ...], shape: set[str], tmp_path: Path) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"theme": "dark", keys[0]: {"other": {"command": "x"}}}))
    _run("mcp", "install", name, "--config", str(path))
    data = json.loads(path.read_text())
    assert data["theme"] == "dark" and data[keys[0]]["other"] == {"command": "x"}
    entry = data[keys[0]]["spendtag"]
    assert set(entry) == shape
    command = entry["command"] if isinstance(entry["command"], str) else entry["command"][0]
    assert command.endswith(("spendtag", "python", "python3")) or "python" in command


def test_default_places_follow_each_hosts_documentation(tmp_path: Path) -> None:
    home = tmp_path
    where = {n: hosts.config_path(h, env={}, home=home, plat="linux") for n, h in hosts.HOSTS.items()}
    assert where["claude-code"] == home / ".claude.json"
    assert where["cursor"] == home / ".cursor" / "mcp.json"
    assert where["gemini-cli"] == home / ".gemini" / "settings.json"
    assert where["codex"] == home / ".codex" / "config.toml"
    assert where["vscode"] == home / ".config" / "Code" / "User" / "mcp.json"
    assert hosts.config_path(hosts.HOSTS["codex"], env={"CODEX_HOME": "/c"}, home=home, plat="linux") == \
        Path("/c/config.toml")
    assert hosts.config_path(hosts.HOSTS["vscode"], env={}, home=home, plat="darwin") == \
        home / "Library" / "Application Support" / "Code" / "User" / "mcp.json"


def test_codex_toml_keeps_the_users_text_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "codex" / "config.toml"   # (tmp_path/config.toml is spendtag's own, in the tests)
    path.parent.mkdir()
    mine = 'model = "gpt-5-codex"  # my model\n\n[mcp_servers.github]\ncommand = "gh"\nargs = ["mcp"]\n'
    path.write_text(mine)
    _run("--db", str(tmp_path / "l.db"), "mcp", "install", "codex", "--config", str(path))
    text = path.read_text()
    assert text.startswith(mine.rstrip("\n"))                          # the user's lines, comment and all
    data = tomllib.loads(text)
    assert data["model"] == "gpt-5-codex" and data["mcp_servers"]["github"] == {"command": "gh", "args": ["mcp"]}
    assert data["mcp_servers"]["spendtag"]["args"][-1] == "mcp"
    assert _run("--db", str(tmp_path / "l.db"), "mcp", "install", "codex", "--config", str(path)).startswith(
        "already in")
    assert path.read_text() == text
    _run("--db", str(tmp_path / "other.db"), "mcp", "install", "codex", "--config", str(path))   # replaced, once
    assert text.count("[mcp_servers.spendtag]") == path.read_text().count("[mcp_servers.spendtag]") == 1
    _run("mcp", "uninstall", "codex", "--config", str(path))
    assert tomllib.loads(path.read_text()) == tomllib.loads(mine)


def test_a_users_own_table_and_bad_files_are_refused_in_one_line(tmp_path: Path) -> None:
    toml = tmp_path / "codex.toml"
    toml.write_text('[mcp_servers.spendtag]\ncommand = "mine"\n')
    out = _run("mcp", "install", "codex", "--config", str(toml), ok=False)
    assert out.startswith("error: ") and "table of its own" in out and toml.read_text().endswith('"mine"\n')
    bad = tmp_path / "cursor.json"
    bad.write_text("{ // comment\n}")
    out = _run("mcp", "install", "cursor", "--config", str(bad), ok=False)
    assert out.startswith("error: ") and "not plain JSON" in out and "Traceback" not in out
    not_object = tmp_path / "list.json"
    not_object.write_text("[]")
    assert "a JSON object" in _run("mcp", "install", "cursor", "--config", str(not_object), ok=False)
    odd = tmp_path / "odd.json"
    odd.write_text('{"mcpServers": 3}')
    assert "is not an object" in _run("mcp", "install", "cursor", "--config", str(odd), ok=False)


def _toml(value: object) -> str:
    """The user's own file, written independently of the module under test."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in value) + '"'
    return str(value)


_keys = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)   # any text a file can hold
_values = st.one_of(st.integers(-10**6, 10**6), _text, st.booleans(), st.lists(_text, max_size=3))


@settings(max_examples=60, deadline=None)
@given(user=st.dictionaries(_keys, _values, max_size=5), ours=st.dictionaries(_keys, _values, min_size=1, max_size=4))
def test_a_toml_table_round_trips_and_leaves_the_rest_alone(tmp_path_factory: pytest.TempPathFactory,
                                                            user: dict[str, object], ours: dict[str, object]) -> None:
    path = tmp_path_factory.mktemp("toml") / "config.toml"
    path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in user.items()), encoding="utf-8")
    before = tomllib.loads(path.read_text())
    try:
        update_toml_table(path, ("mcp_servers", "spendtag"), ours, what="test")
    except ConfigFileError:
        assert "mcp_servers" in before   # only a clash with the user's own keys may refuse
        return
    after = tomllib.loads(path.read_text())
    assert after.pop("mcp_servers") == {"spendtag": ours}
    assert after == before
    update_toml_table(path, ("mcp_servers", "spendtag"), None, what="test")
    assert tomllib.loads(path.read_text()) == before

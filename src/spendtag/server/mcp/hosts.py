"""Adding ``spendtag mcp`` to MCP hosts whose configuration is a file (``spendtag mcp install HOST``).

Each host keeps its servers in its own file and shape, learned from each one's documentation
(the table is ``HOSTS`` below; docs/agents.md lists them): ``mcpServers.NAME`` in most JSON
files (``servers`` in VS Code's, ``mcp`` in OpenCode's and Crush's), ``[mcp_servers.NAME]`` in
Codex's ``config.toml``.

Installing is idempotent (an entry already as wanted is left, and the file not written),
keeps every other setting, and leaves the previous file as ``NAME.bak``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spendtag.capture.agents.discovery import codex_home
from spendtag.capture.agents.registry import config_home, expand
from spendtag.config_files import ConfigFileError, section, update_json, update_toml_table

SERVER_NAME = "spendtag"

Where = Callable[[Mapping[str, str], Path, str], Path]
Entry = Callable[[str, list[str]], dict[str, Any]]


@dataclass(frozen=True)
class Host:
    name: str
    title: str
    where: Where                       # (env, home, platform) -> the config file
    keys: tuple[str, ...]              # where the servers are in the file
    entry: Entry                       # (command, args) -> the server's entry
    toml: bool = False


def _plain(command: str, args: list[str]) -> dict[str, Any]:
    return {"command": command, "args": args}


def _typed(kind: str) -> Entry:
    return lambda command, args: {"type": kind, "command": command, "args": args}


def _vscode_user(env: Mapping[str, str], home: Path, plat: str) -> Path:
    if plat == "darwin":
        return home / "Library" / "Application Support" / "Code" / "User"
    return config_home(env, home, plat) / "Code" / "User"


def _claude_json(env: Mapping[str, str], home: Path, plat: str) -> Path:
    configured = env.get("CLAUDE_CONFIG_DIR", "").split(",")[0].strip()
    return expand(configured, home) / ".claude.json" if configured else home / ".claude.json"


HOSTS: dict[str, Host] = {h.name: h for h in (
    Host("claude-code", "Claude Code", _claude_json, ("mcpServers",), _typed("stdio")),
    Host("cursor", "Cursor", lambda env, home, plat: home / ".cursor" / "mcp.json", ("mcpServers",), _plain),
    Host("gemini-cli", "Gemini CLI", lambda env, home, plat: home / ".gemini" / "settings.json", ("mcpServers",),
         _plain),
    Host("qwen-code", "Qwen Code", lambda env, home, plat: home / ".qwen" / "settings.json", ("mcpServers",), _plain),
    Host("codex", "Codex CLI", lambda env, home, plat: codex_home(env, home) / "config.toml", ("mcp_servers",),
         _plain, toml=True),
    Host("droid", "Factory Droid", lambda env, home, plat: home / ".factory" / "mcp.json", ("mcpServers",),
         _typed("stdio")),
    Host("copilot-cli", "GitHub Copilot CLI", lambda env, home, plat: home / ".copilot" / "mcp-config.json",
         ("mcpServers",), lambda command, args: {"type": "local", "command": command, "args": args, "tools": ["*"]}),
    Host("windsurf", "Windsurf", lambda env, home, plat: home / ".codeium" / "windsurf" / "mcp_config.json",
         ("mcpServers",), _plain),
    Host("vscode", "VS Code", lambda env, home, plat: _vscode_user(env, home, plat) / "mcp.json", ("servers",),
         _typed("stdio")),
    Host("cline", "Cline", lambda env, home, plat: _vscode_user(env, home, plat) / "globalStorage"
         / "saoudrizwan.claude-dev" / "settings" / "cline_mcp_settings.json", ("mcpServers",),
         lambda command, args: {"command": command, "args": args, "disabled": False}),
    Host("opencode", "OpenCode", lambda env, home, plat: config_home(env, home, plat) / "opencode" / "opencode.json",
         ("mcp",), lambda command, args: {"type": "local", "command": [command, *args], "enabled": True}),
    Host("crush", "Crush", lambda env, home, plat: config_home(env, home, plat) / "crush" / "crush.json", ("mcp",),
         _typed("stdio")),
)}


def host(name: str) -> Host:
    if name not in HOSTS:
        raise ConfigFileError(f"unknown MCP host {name!r}; expected one of {', '.join(HOSTS)}")
    return HOSTS[name]


def config_path(h: Host, env: Mapping[str, str] | None = None, home: Path | None = None,
                plat: str | None = None) -> Path:
    import sys

    return h.where(os.environ if env is None else env, Path.home() if home is None else home,
                   sys.platform if plat is None else plat)


def install(h: Host, path: Path, command: str, args: list[str]) -> bool:
    """Add (or update) the spendtag server in ``path``; False when it was there already as wanted."""
    entry = h.entry(command, args)
    what = f"{h.title}'s MCP configuration"
    if h.toml:
        return update_toml_table(path, (*h.keys, SERVER_NAME), entry, what=what)

    def change(data: dict[str, Any]) -> bool:
        servers = section(data, *h.keys, path=path, what=what)
        if servers.get(SERVER_NAME) == entry:
            return False
        servers[SERVER_NAME] = entry
        return True

    return update_json(path, change, what=what)


def uninstall(h: Host, path: Path) -> bool:
    """Remove the spendtag server from ``path``; False when it was not there."""
    what = f"{h.title}'s MCP configuration"
    if h.toml:
        return update_toml_table(path, (*h.keys, SERVER_NAME), None, what=what)
    if not path.exists():
        return False

    def change(data: dict[str, Any]) -> bool:
        servers = section(data, *h.keys, path=path, what=what)
        return servers.pop(SERVER_NAME, None) is not None

    return update_json(path, change, what=what)

"""Which agents take spendtag's budget hook, in which settings file, on which events.

Each agent's hook settings were learned from its own documentation; all take Claude Code's
shape (``hooks.EVENT`` = a list of groups, each ``{"hooks": [{"type": "command", "command": ...}]}``)
and answer with its JSON (``systemMessage``; ``decision: block`` and ``reason``):

* Claude Code: ``$CLAUDE_CONFIG_DIR/settings.json`` or ``~/.claude/settings.json``;
  SessionStart and UserPromptSubmit; timeout in seconds.
* Codex CLI: ``$CODEX_HOME/hooks.json`` (``~/.codex``); SessionStart and UserPromptSubmit;
  seconds. Codex asks the user to trust a new hook once.
* Gemini CLI: ``~/.gemini/settings.json``; SessionStart and BeforeAgent (its prompt event);
  timeout in milliseconds.
* Qwen Code: ``~/.qwen/settings.json``; SessionStart and UserPromptSubmit; milliseconds.
* Factory Droid: ``~/.factory/settings.json``; SessionStart and UserPromptSubmit; seconds.

Agents whose hooks are not a user settings file (Copilot CLI reads ``.github/hooks/*.json`` per
repository; Cline runs scripts from a folder) are not wired: docs/agents.md says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from spendtag.capture.agents.discovery import codex_home
from spendtag.capture.agents.registry import expand


@dataclass(frozen=True)
class HookTarget:
    agent: str
    title: str
    settings: Callable[[Mapping[str, str], Path], Path]   # (env, home) -> the settings file
    events: tuple[str, str]                               # (session start, prompt submitted)
    timeout: int                                          # in the agent's unit

    @property
    def command(self) -> str:
        return f"spendtag hook {self.agent}"


def _claude(env: Mapping[str, str], home: Path) -> Path:
    config = env.get("CLAUDE_CONFIG_DIR", "").split(",")[0].strip()
    return (expand(config, home) if config else home / ".claude") / "settings.json"


def _codex(env: Mapping[str, str], home: Path) -> Path:
    return codex_home(env, home) / "hooks.json"


TARGETS: dict[str, HookTarget] = {t.agent: t for t in (
    HookTarget("claude-code", "Claude Code", _claude, ("SessionStart", "UserPromptSubmit"), 10),
    HookTarget("codex", "Codex CLI", _codex, ("SessionStart", "UserPromptSubmit"), 10),
    HookTarget("gemini-cli", "Gemini CLI", lambda env, home: home / ".gemini" / "settings.json",
               ("SessionStart", "BeforeAgent"), 10_000),
    HookTarget("qwen-code", "Qwen Code", lambda env, home: home / ".qwen" / "settings.json",
               ("SessionStart", "UserPromptSubmit"), 10_000),
    HookTarget("droid", "Factory Droid", lambda env, home: home / ".factory" / "settings.json",
               ("SessionStart", "UserPromptSubmit"), 10),
)}


def target(agent: str) -> HookTarget:
    if agent not in TARGETS:
        from spendtag.errors import SpendtagError

        raise SpendtagError(f"{agent!r} has no hooks spendtag can install; hooks: {', '.join(TARGETS)}")
    return TARGETS[agent]


def settings_path(t: HookTarget, env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    return t.settings(os.environ if env is None else env, Path.home() if home is None else home)

"""Budgets at the agent's door: what the agents' hooks answer.

An agent (Claude Code, Codex, Gemini CLI, Qwen Code, Factory Droid) runs ``spendtag hook AGENT``
with a JSON description of the event on stdin; they share Claude Code's shapes (``hook_event_name``,
``cwd``, ``session_id`` in; ``systemMessage`` and ``decision: block`` with a ``reason`` out), and
Gemini CLI names the prompt event ``BeforeAgent``. Before a session starts (SessionStart) the
answer is a message to the user; when a prompt is submitted (UserPromptSubmit) it can block it:

* a budget covering the project has reached its stop threshold and enforces ``block``:
  every prompt is refused with the budget, spent and limit;
* a notify threshold has passed: the first prompt of the session after that is held back
  once with spent/limit/remaining, and sending it again continues (the "ask"); a state file
  remembers which sessions were asked, per budget, period and threshold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.attribution import Rules
from spendtag.guard.budgets import Budget, status
from spendtag.ledger.store import Store
from spendtag.money import format_usd


def _remaining(b: Budget, spent: int) -> str:
    return format_usd(max(0, b.limit - spent))


START_EVENTS = ("SessionStart",)
PROMPT_EVENTS = ("UserPromptSubmit", "BeforeAgent")


def claude_code(payload: Mapping[str, Any], store: Store, budgets: Sequence[Budget], rules: Rules,
                tz: ZoneInfo, state_file: Path, now: datetime | None = None) -> dict[str, Any] | None:
    """The JSON to print for a Claude Code hook event, or None to stay silent."""
    return answer(payload, store, budgets, rules, tz, state_file, now, agent="claude-code")


def answer(payload: Mapping[str, Any], store: Store, budgets: Sequence[Budget], rules: Rules, tz: ZoneInfo,
           state_file: Path, now: datetime | None = None, *, agent: str) -> dict[str, Any] | None:
    """The JSON to print for ``agent``'s hook event, or None to stay silent."""
    now = now or datetime.now(UTC)
    event = str(payload.get("hook_event_name", ""))
    cwd = payload.get("cwd")
    project = str(cwd) if isinstance(cwd, str) else None
    tags = rules.tags_for(project)
    stops: list[str] = []
    notices: list[tuple[str, str]] = []
    for b in budgets:
        if not b.covers(tags, agent=None, project=project) and not b.covers(tags, agent=agent, project=project):
            continue
        if not b.in_effect(now, tz):
            continue   # a fixed range that has not started or has expired neither asks nor refuses
        st = status(store, b, now, tz, with_forecast=False)
        line = (f"budget {b.name} ({b.describe_scope()}, {st.period}): spent {format_usd(st.spent)} of "
                f"{format_usd(b.limit)} ({st.percent}%), {_remaining(b, st.spent)} left")
        if st.stopped and b.enforce == "block":
            stops.append(line + " — stop threshold reached")
        elif st.crossed:
            notices.append((f"{b.name}:{st.period}:{st.crossed[-1].label}", line))
    if event in START_EVENTS:
        lines = stops + [n for _, n in notices]
        return {"systemMessage": "spendtag: " + "; ".join(lines)} if lines else None
    if event not in PROMPT_EVENTS:
        return None
    if stops:
        return {"decision": "block", "reason": "spendtag: " + "; ".join(stops)}
    if not notices:
        return None
    session = str(payload.get("session_id", ""))
    asked = _load(state_file)
    new = [(k, n) for k, n in notices if f"{session}|{k}" not in asked]
    if not new:
        return {"systemMessage": "spendtag: " + "; ".join(n for _, n in notices)}
    asked.update(f"{session}|{k}" for k, _ in new)
    _save(state_file, asked)
    return {"decision": "block",
            "reason": "spendtag: " + "; ".join(n for _, n in new) + ". Send the prompt again to continue."}


def _load(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(data) if isinstance(data, list) else set()


def _save(path: Path, asked: set[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted(asked)[-5000:]), encoding="utf-8")
    tmp.replace(path)


HOOK_COMMAND = "spendtag hook claude-code"


_EVENTS = ("SessionStart", "UserPromptSubmit")


def install(settings_path: Path, command: str = HOOK_COMMAND, events: Sequence[str] = _EVENTS,
            timeout: int = 10) -> bool:
    """Add the hook to an agent's settings for ``events`` (Claude Code's shape); False if already there.

    A settings file that is a symlink (dotfiles) is updated where it points; anything but a
    regular file there (a FIFO, a device) is refused, never read or replaced. The previous file
    is kept as ``.bak``; every other setting and hook stays as it was.
    """
    from spendtag.config_files import ConfigFileError, update_json

    def change(settings: dict[str, Any]) -> bool:
        hooks = settings.setdefault("hooks", {})
        if not isinstance(hooks, dict) or not all(isinstance(hooks.get(e, []), list) for e in events):
            raise ValueError(f"{settings_path} does not hold the agent's settings (an object whose \"hooks\" maps "
                             "events to lists); fix it before installing the hook")
        changed = False
        for event in events:
            groups = hooks.setdefault(event, [])
            if not _has(groups, command):
                groups.append({"hooks": [{"type": "command", "command": command, "timeout": timeout}]})
                changed = True
        return changed

    try:
        return update_json(settings_path, change, what="the agent's settings")
    except ConfigFileError as exc:
        raise ValueError(str(exc)) from None


def uninstall(settings_path: Path, command: str, events: Sequence[str] = _EVENTS) -> bool:
    """Remove the hook ``command`` from ``events`` (and groups it leaves empty); False if it was not there."""
    from spendtag.config_files import ConfigFileError, update_json

    if not settings_path.exists():
        return False

    def change(settings: dict[str, Any]) -> bool:
        hooks = settings.get("hooks")
        if not isinstance(hooks, dict):
            return False
        changed = False
        for event in events:
            groups = hooks.get(event)
            if not isinstance(groups, list) or not _has(groups, command):
                continue
            kept = []
            for g in groups:
                if isinstance(g, dict) and isinstance(g.get("hooks"), list):
                    g = {**g, "hooks": [h for h in g["hooks"] if not (isinstance(h, dict)
                                                                      and h.get("command") == command)]}
                    if not g["hooks"]:
                        continue
                kept.append(g)
            if kept:
                hooks[event] = kept
            else:
                del hooks[event]
            changed = True
        return changed

    try:
        return update_json(settings_path, change, what="the agent's settings")
    except ConfigFileError as exc:
        raise ValueError(str(exc)) from None


def _has(groups: list[Any], command: str) -> bool:
    return any(isinstance(h, dict) and h.get("command") == command
               for g in groups if isinstance(g, dict) for h in g.get("hooks", []) or [])

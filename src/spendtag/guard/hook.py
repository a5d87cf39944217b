"""Budgets at the agent's door: what the Claude Code hook answers.

Claude Code runs ``spendtag hook claude-code`` with a JSON description of the event on
stdin. Before a session starts (SessionStart) the answer is a message to the user; when a
prompt is submitted (UserPromptSubmit) it can block it:

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


def claude_code(payload: Mapping[str, Any], store: Store, budgets: Sequence[Budget], rules: Rules,
                tz: ZoneInfo, state_file: Path, now: datetime | None = None) -> dict[str, Any] | None:
    """The JSON to print for a Claude Code hook event, or None to stay silent."""
    now = now or datetime.now(UTC)
    event = str(payload.get("hook_event_name", ""))
    cwd = payload.get("cwd")
    project = str(cwd) if isinstance(cwd, str) else None
    tags = rules.tags_for(project)
    stops: list[str] = []
    notices: list[tuple[str, str]] = []
    for b in budgets:
        if not b.covers(tags, agent=None, project=project) and not b.covers(tags, agent="claude-code",
                                                                              project=project):
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
    if event == "SessionStart":
        lines = stops + [n for _, n in notices]
        return {"systemMessage": "spendtag: " + "; ".join(lines)} if lines else None
    if event != "UserPromptSubmit":
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


def install(settings_path: Path, command: str = HOOK_COMMAND) -> bool:
    """Add the hook to Claude Code's settings.json for SessionStart and UserPromptSubmit; False if already there.

    A settings file that is a symlink (dotfiles) is updated where it points; anything but a
    regular file there (a FIFO, a device) is refused, never read or replaced.
    """
    if settings_path.is_symlink():
        settings_path = settings_path.resolve()
    if settings_path.exists() and not settings_path.is_file():
        raise ValueError(f"{settings_path} is not a regular file; give the path of Claude Code's settings.json")
    try:
        settings = json.loads(settings_path.read_text(encoding="utf-8")) if settings_path.exists() else {}
    except ValueError as exc:
        raise ValueError(f"{settings_path} is not valid JSON ({exc}); fix it before installing the hook") from None
    hooks = settings.setdefault("hooks", {}) if isinstance(settings, dict) else None
    if not isinstance(hooks, dict) or not all(isinstance(hooks.get(e, []), list) for e in _EVENTS):
        raise ValueError(f"{settings_path} does not hold Claude Code settings (an object whose \"hooks\" maps "
                         "events to lists); fix it before installing the hook")
    changed = False
    for event in _EVENTS:
        groups = hooks.setdefault(event, [])
        present = any(isinstance(h, dict) and h.get("command") == command
                      for g in groups if isinstance(g, dict) for h in g.get("hooks", []) or [])
        if not present:
            groups.append({"hooks": [{"type": "command", "command": command, "timeout": 10}]})
            changed = True
    if changed:
        settings_path.parent.mkdir(parents=True, exist_ok=True)
        if settings_path.exists():
            settings_path.with_name(settings_path.name + ".bak").write_text(
                settings_path.read_text(encoding="utf-8"), encoding="utf-8")
        tmp = settings_path.with_name(settings_path.name + ".tmp")
        tmp.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        tmp.replace(settings_path)
    return changed

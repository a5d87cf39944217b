"""Crush (charmbracelet/crush) sessions into usage events, from each project's ``.crush/crush.db``.

Crush keeps its database in the project (``<project>/.crush/crush.db``) and lists the
projects it has seen in ``projects.json`` beside its global data (``$CRUSH_GLOBAL_DATA``,
``$XDG_DATA_HOME/crush``, ``~/.local/share/crush``; ``%LOCALAPPDATA%\\crush`` on Windows).
It records no usage per model call: table ``sessions`` has ``prompt_tokens`` and
``completion_tokens`` of the session's latest call (they are overwritten, not added) and
``cost``, the sum of every call's cost as Crush priced it (OpenRouter's own figure when it
gives one). So one session is one event, ``crush:<session id>``, at the session's start,
charged the cost Crush recorded (kept as the provider-reported cost, and beside for
``--compare-logged-cost``); its tokens are the latest call's. A session whose cost is 0
(a flat-rate plan, a local model) is priced from those tokens. The model is the one of the
session's latest assistant message (``messages.model``/``provider``). A sub-agent's session
(``parent_session_id``) goes to its parent. The project is the folder holding ``.crush``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from spendtag.capture.agents import registry
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult
from spendtag.capture.agents.records import Calls, call, columns, count, ms_time, read_sqlite, usd
from spendtag.errors import UsageFormatError
from spendtag.money import from_decimal

SOURCE = "crush"
_QUERY = """
SELECT s.id, {parent}, s.prompt_tokens, s.completion_tokens, s.cost, s.created_at,
  (SELECT m.model FROM messages m WHERE m.session_id = s.id AND m.role = 'assistant' AND m.model IS NOT NULL
   ORDER BY m.created_at DESC LIMIT 1),
  {provider}
FROM sessions s ORDER BY s.created_at, s.id
"""
_PROVIDER = ("(SELECT m.provider FROM messages m WHERE m.session_id = s.id AND m.role = 'assistant' "
             "AND m.model IS NOT NULL ORDER BY m.created_at DESC LIMIT 1)")


def _call(values: tuple[Any, ...], project: str | None) -> tuple[AgentCall, Decimal | None] | None:
    sid, parent, prompt, completion, cost, created, model, provider = values
    if not isinstance(sid, str) or not sid:
        raise UsageFormatError("a session without an id")
    inp, out = count(prompt, "prompt_tokens"), count(completion, "completion_tokens")
    logged = usd(cost)
    if not (inp or out or logged):
        return None
    if not isinstance(model, str) or not model:
        raise UsageFormatError(f"session {sid}: no assistant message names its model")
    ts = ms_time(created)
    if ts is None:
        raise UsageFormatError(f"session {sid}: no readable created_at")
    sub = isinstance(parent, str) and parent != ""
    found = call(f"{SOURCE}:{sid}", ts, provider if isinstance(provider, str) else None, model, input=inp,
                 output=out, reported=from_decimal(logged) if logged else None, project=project,
                 session=parent if isinstance(parent, str) and sub else sid,
                 agent=f"{SOURCE}/subagent" if sub else SOURCE, source=SOURCE)
    return found, logged


def read_db(log: LogFile, *, compact: bool = True) -> ReadResult:
    folder = log.path.parent
    project = str(folder.parent) if folder.name == ".crush" else None

    def body(con: sqlite3.Connection, found: Calls) -> None:
        have = columns(con, "sessions")
        if not {"id", "prompt_tokens", "completion_tokens", "cost", "created_at"} <= have:
            found.tally.note(0, "no Crush sessions table here (not a Crush database?)")
            return
        query = _QUERY.format(parent="s.parent_session_id" if "parent_session_id" in have else "NULL",
                              provider=_PROVIDER if "provider" in columns(con, "messages") else "NULL")
        for number, values in enumerate(con.execute(query), 1):
            found.add(number, partial(_call, values, project), f"session {values[0]}: ")

    return read_sqlite(log, compact, body)


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read_db(log, compact=compact)


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    """``projects.json``, the list of the projects Crush has seen (each holds a database)."""
    configured = env.get("CRUSH_GLOBAL_DATA", "").strip()
    if configured:
        return [registry.expand(configured, home) / "projects.json"]
    return [registry.data_home(env, home, "win32" if plat == "win32" else "linux") / "crush" / "projects.json"]


def files(place: Path) -> list[LogFile]:
    if place.is_dir():
        found = place / ".crush" / "crush.db" if (place / ".crush").is_dir() else place / "crush.db"
        return [LogFile(SOURCE, found, found.parent)] if found.is_file() else []
    if place.name != "projects.json":
        return [LogFile(SOURCE, place, place.parent)] if place.is_file() else []
    try:
        listed = json.loads(place.read_text(encoding="utf-8")).get("projects") or []
    except (OSError, ValueError, AttributeError):
        return []
    out = []
    for project in listed if isinstance(listed, list) else []:
        if not isinstance(project, dict) or not isinstance(project.get("path"), str):
            continue
        data = project.get("data_dir")
        db = Path(project["path"]) / (data if isinstance(data, str) and data else ".crush") / "crush.db"
        if db.is_file():
            out.append(LogFile(SOURCE, db, db.parent))
    return out


def sniff(path: Path, head: bytes) -> bool:
    return path.name == "crush.db" and head.startswith(b"SQLite format 3")


AGENT = registry.Agent(
    name="crush", title="Crush", places=places, files=files, read=_read, sniff=sniff, whole=True, logs_cost=True,
    stamp=registry.sqlite_stamp, patterns=("crush.db",), notes="<project>/.crush/crush.db, cost per session",
)

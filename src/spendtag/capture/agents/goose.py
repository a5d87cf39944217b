"""Goose (block/goose) sessions into usage events, from its ``sessions.db``.

Goose keeps no usage per model call: each row of table ``sessions`` carries the session's
running totals (``accumulated_input_tokens``, ``accumulated_output_tokens``,
``accumulated_total_tokens``; ``input_tokens``... are the last turn's, used when the
accumulated ones are null), ``provider_name``, ``model_config_json`` (``model_name``),
``working_dir``, ``created_at`` and, in recent versions, ``accumulated_cost`` and
``parent_session_id``. So one session is one event, ``goose:<session id>`` at the session's
start; as the session grows its row is read again and recorded as a revised copy (the ledger
keeps the copy with the most usage). Cache reads and writes are not recorded by Goose; a
total above input + output is billed as output (reasoning).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from spendtag.capture.agents import registry
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult
from spendtag.capture.agents.records import Calls, call, columns, count, ms_time, read_sqlite, usd
from spendtag.errors import UsageFormatError

SOURCE = "goose"
_WANTED = ("id", "working_dir", "created_at", "provider_name", "model_config_json", "accumulated_input_tokens",
           "accumulated_output_tokens", "accumulated_total_tokens", "input_tokens", "output_tokens", "total_tokens",
           "accumulated_cost", "parent_session_id")


@lru_cache(maxsize=1024)
def _model(config: str) -> str | None:
    """``model_name`` of a ``model_config_json`` (the same few configs repeat across sessions)."""
    try:
        found = json.loads(config) if config.strip() else None
    except (ValueError, RecursionError):
        return None
    model = found.get("model_name") if isinstance(found, dict) else None
    return model.strip() if isinstance(model, str) and model.strip() else None


def _call(row: Mapping[str, Any]) -> tuple[AgentCall, Decimal | None] | None:
    sid = row["id"]
    if not isinstance(sid, str) or not sid:
        raise UsageFormatError("a session without an id")

    def pick(accumulated: str, last: str) -> int:
        value = row.get(accumulated)
        return count(value if value is not None else row.get(last), accumulated)

    inp = pick("accumulated_input_tokens", "input_tokens")
    out = pick("accumulated_output_tokens", "output_tokens")
    total = pick("accumulated_total_tokens", "total_tokens")
    extra = max(0, total - inp - out)
    if not (inp or out or extra):
        return None
    raw = row.get("model_config_json")
    model = _model(raw) if isinstance(raw, str) else None
    if model is None:
        raise UsageFormatError(f"session {sid}: no model_config_json.model_name")
    ts = ms_time(row.get("created_at"))
    if ts is None:
        raise UsageFormatError(f"session {sid}: no readable created_at")
    provider = row.get("provider_name")
    parent = row.get("parent_session_id")
    sub = isinstance(parent, str) and parent != ""
    cwd = row.get("working_dir")
    found = call(f"{SOURCE}:{sid}", ts, provider if isinstance(provider, str) else None, model, input=inp,
                 output=out + extra, reasoning=extra, project=cwd if isinstance(cwd, str) else None,
                 session=parent if isinstance(parent, str) and sub else sid,
                 agent=f"{SOURCE}/subagent" if sub else SOURCE, source=SOURCE)
    return found, usd(row.get("accumulated_cost"))


def read_db(log: LogFile, *, compact: bool = True) -> ReadResult:
    def body(con: sqlite3.Connection, found: Calls) -> None:
        have = columns(con, "sessions")
        if "id" not in have:
            found.tally.note(0, "no Goose sessions table here (not a Goose database?)")
            return
        picked = ", ".join(c if c in have else f"NULL AS {c}" for c in _WANTED)
        for number, values in enumerate(con.execute(f"SELECT {picked} FROM sessions ORDER BY created_at, id"), 1):
            row = dict(zip(_WANTED, values, strict=True))
            found.add(number, partial(_call, row), f"session {row['id']}: ")

    return read_sqlite(log, compact, body)


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read_db(log, compact=compact)


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    root = env.get("GOOSE_PATH_ROOT", "").strip()
    if root:
        return [registry.expand(root, home) / "data" / "sessions" / "sessions.db"]
    if plat == "win32":
        return [registry.config_home(env, home, plat) / "Block" / "goose" / "data" / "sessions" / "sessions.db"]
    found = [registry.data_home(env, home, "linux") / "goose" / "sessions" / "sessions.db"]
    if plat == "darwin":
        found.append(home / "Library" / "Application Support" / "goose" / "sessions" / "sessions.db")
    return found


def files(place: Path) -> list[LogFile]:
    if place.is_dir():
        place = place / "sessions.db"
    return [LogFile(SOURCE, place, place.parent)] if place.is_file() else []


def sniff(path: Path, head: bytes) -> bool:
    return path.name == "sessions.db" and head.startswith(b"SQLite format 3")


AGENT = registry.Agent(
    name="goose", title="Goose", places=places, files=files, read=_read, sniff=sniff, whole=True, logs_cost=True,
    stamp=registry.sqlite_stamp, patterns=("sessions.db",), notes="sessions.db, totals per session",
)

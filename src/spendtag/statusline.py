"""Claude Code's status line: ``acme · session $0.45 · 32K tok · month 64% of $200``.

Claude Code runs the status-line command often, with a JSON description of the session
on stdin. Before answering, the session's own transcript is imported incrementally (just
the bytes appended since last time), so the cost shown is live without a separate import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.attribution import Rules
from spendtag.budgets import Budget, status
from spendtag.capture.agents import LogFile
from spendtag.importing import import_files
from spendtag.ledger.query import Filters
from spendtag.money import format_usd
from spendtag.recording import Recorder


def _tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M tok"
    if n >= 1_000:
        return f"{round(n / 1_000)}K tok"
    return f"{n} tok"


def line(payload: Mapping[str, Any], recorder: Recorder, budgets: Sequence[Budget], rules: Rules, tz: ZoneInfo,
         *, client_key: str = "client", now: datetime | None = None) -> str:
    store = recorder.store
    transcript = payload.get("transcript_path")
    if isinstance(transcript, str) and Path(transcript).is_file():
        path = Path(transcript)
        import_files(recorder, [LogFile("claude-code", path, path.parent.parent)], rules)
    workspace = payload.get("workspace")
    cwd = (workspace.get("current_dir") if isinstance(workspace, Mapping) else None) or payload.get("cwd")
    project = str(cwd) if isinstance(cwd, str) else None
    tags = rules.tags_for(project)
    parts: list[str] = []
    session = payload.get("session_id")
    if isinstance(session, str) and session:
        by_client = store.aggregate(Filters(dims={"session": (session,)}), [f"tag:{client_key}"])
        cost = sum(a.totals.cost for a in by_client)
        tokens = sum(a.totals.tokens for a in by_client)
        named = [a.key[0] for a in by_client if a.key[0]]
        if client_key not in tags and named:
            tags[client_key] = named[0]
        parts += [f"session {format_usd(cost)}", _tokens(tokens)]
    if tags.get(client_key):
        parts.insert(0, tags[client_key])
    now = now or datetime.now(UTC)
    for b in budgets:
        if b.period == "monthly" and b.covers(tags, agent=None, project=project):
            st = status(store, b, now, tz, with_forecast=False)
            parts.append(f"month {st.percent.quantize(1)}% of {format_usd(b.limit, places=0)}")
            break
    return " · ".join(parts) if parts else "spendtag: no usage yet"

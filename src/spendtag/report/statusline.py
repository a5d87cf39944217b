"""Claude Code's status line: ``acme · session $0.45 · 32K tok · month 64% of $200``.

Claude Code runs the status-line command often, with a JSON description of the session
on stdin, and waits for it. The answer comes straight from the ledger (tens of
milliseconds); when the session's transcript has grown since it was last imported, an
import of just that file is started in the background, so the next refresh shows the new
calls (the one still being written included) without this one paying for loading prices.
The background import goes on importing while the transcript keeps growing, and a lock
file it holds meanwhile keeps a second one from starting: the last lines written are
imported seconds after they are, even when no refresh follows them.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.attribution import Rules
from spendtag.guard.budgets import Budget, status
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.money import format_cost, format_usd


def _tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M tok"
    if n >= 1_000:
        return f"{round(n / 1_000)}K tok"
    return f"{n} tok"


def stale(store: Store, transcript: Path) -> bool:
    """Whether the transcript changed since it was last imported."""
    try:
        stat = transcript.stat()
    except OSError:
        return False
    saved = store.import_state(str(transcript))
    return saved is None or saved.size != stat.st_size or saved.mtime_ns != stat.st_mtime_ns


# A lock older than this belongs to a background import that died: start another.
LOCK_SECONDS = 60


def lock_path(transcript: Path, lock_dir: Path | None = None) -> Path:
    import hashlib

    lock_dir = lock_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    return lock_dir / f"spendtag-import-{hashlib.sha256(str(transcript).encode()).hexdigest()[:16]}.lock"


def import_in_background(transcript: Path, env: Mapping[str, str] | None = None, lock_dir: Path | None = None) -> bool:
    """Start importing TRANSCRIPT detached, until it stops growing, unless such an import is running."""
    import subprocess  # only when an import is started: ~4 ms of the status line's start-up

    lock = lock_path(transcript, lock_dir)
    try:
        if time.time() - lock.stat().st_mtime < LOCK_SECONDS:
            return False
    except OSError:
        pass
    lock.touch()
    subprocess.Popen(  # noqa: S603 - our own interpreter and module, arguments are not from a shell
        [sys.executable, "-c", "from spendtag.cli.fast import import_until_settled; import_until_settled()",
         str(transcript), str(lock)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, env=dict(env) if env is not None else None)
    return True


def line(payload: Mapping[str, Any], store: Store, budgets: Sequence[Budget], rules: Rules, tz: ZoneInfo,
         *, client_key: str = "client", now: datetime | None = None) -> str:
    transcript = payload.get("transcript_path")
    if isinstance(transcript, str) and transcript and stale(store, Path(transcript)):
        import_in_background(Path(transcript))
    workspace = payload.get("workspace")
    cwd = (workspace.get("current_dir") if isinstance(workspace, Mapping) else None) or payload.get("cwd")
    project = str(cwd) if isinstance(cwd, str) else None
    tags = rules.tags_for(project)
    parts: list[str] = []
    session = payload.get("session_id")
    if isinstance(session, str) and session:
        by_client = store.aggregate(Filters(dims={"session": (session,)}), [f"tag:{client_key}"])
        cost = sum(a.totals.cost for a in by_client)
        calls = sum(a.totals.requests for a in by_client)
        unpriced = sum(a.totals["unpriced_requests"] for a in by_client)
        tokens = sum(a.totals.tokens for a in by_client)
        named = [a.key[0] for a in by_client if a.key[0]]
        if client_key not in tags and named:
            tags[client_key] = named[0]
        parts += [f"session {format_cost(cost, calls, unpriced)}", _tokens(tokens)]
    if tags.get(client_key):
        parts.insert(0, tags[client_key])
    now = now or datetime.now(UTC)
    for b in budgets:
        if b.period == "monthly" and b.covers(tags, agent=None, project=project):
            st = status(store, b, now, tz, with_forecast=False)
            parts.append(f"month {st.percent.quantize(1)}% of {format_usd(b.limit, places=0)}")
            break
    return " · ".join(parts) if parts else "spendtag: no usage yet"

"""Session titles: what each session is about, kept beside the events (which carry only its id).

Agent-log readers report titles (:class:`~spendtag.usage.SessionTitle`); an import saves
them with the files' offsets, in the same transaction. An agent's own title (``summary``)
replaces what a session had; a first prompt's opening words (``prompt``) are kept only when
the session has none, so reading a log again, or later parts of it, changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from spendtag.ledger.dialect import Dialect
from spendtag.ledger.migration import Migration
from spendtag.usage import SessionTitle

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0013_session_titles", (
        "CREATE TABLE session_titles (session TEXT PRIMARY KEY, title TEXT NOT NULL, kind TEXT NOT NULL, "
        "updated_at BIGINT NOT NULL)",
    )),
)

_UPSERT = ("INSERT INTO session_titles (session, title, kind, updated_at) VALUES (?, ?, ?, ?) "
           "ON CONFLICT (session) DO UPDATE SET title = excluded.title, kind = excluded.kind, "
           "updated_at = excluded.updated_at WHERE excluded.kind = 'summary'")


class SessionTables(Dialect):
    """Mixin for both stores (through the hooks of :class:`~spendtag.ledger.dialect.Dialect`)."""

    def save_session_titles(self, titles: Mapping[str, SessionTitle]) -> None:
        """Keep these titles (session id -> title) as the module docstring says, in one transaction."""
        with self._transaction():
            self._put_session_titles(titles)

    def _put_session_titles(self, titles: Mapping[str, SessionTitle]) -> None:
        rows = [(session, t.text, t.kind, int(time.time() * 1_000_000)) for session, t in sorted(titles.items())
                if session and t.text and t.kind in ("summary", "prompt")]
        if rows:
            self._run_many(_UPSERT, rows)

    def session_titles(self, sessions: Sequence[str]) -> dict[str, str]:
        """The titles of these sessions (those that have one)."""
        out: dict[str, str] = {}
        wanted = sorted(set(sessions))
        for chunk in self._chunks(wanted):
            condition, args = self._in("session", list(chunk))
            out.update((s, t) for s, t in self._run(f"SELECT session, title FROM session_titles WHERE {condition}",
                                                    args))
        return out

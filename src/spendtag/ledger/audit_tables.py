"""The audit log: who changed what from the dashboard, and when.

Every change made from the dashboard (a budget, an invoice, a link, a key, a price override,
an attribution rule, billing details) adds one row: the time, who (``admin``, ``local`` for an
open loopback dashboard, or a token's name), the action (``budget.save``), its target (the
budget's name) and the details as JSON. Rows are only ever added; secrets never go in them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spendtag.ledger.dialect import Dialect
from spendtag.ledger.migration import Migration
from spendtag.periods import from_us, to_us

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0011_audit_log", (
        "CREATE TABLE audit_log (entry_id TEXT PRIMARY KEY, at BIGINT NOT NULL, who TEXT NOT NULL, "
        "action TEXT NOT NULL, target TEXT NOT NULL, details TEXT NOT NULL)",
        "CREATE INDEX audit_log_at ON audit_log (at)",
    )),
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change: ``action`` (``budget.save``) on ``target`` (``acme``) by ``who`` at ``at`` (UTC)."""

    who: str
    action: str
    target: str
    details: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    entry_id: str = field(default_factory=lambda: "au_" + secrets.token_hex(8))


_COLUMNS = "entry_id, at, who, action, target, details"


class AuditTables(Dialect):
    """Mixin for both stores (through the hooks of :class:`~spendtag.ledger.dialect.Dialect`)."""

    def add_audit(self, entry: AuditEntry) -> None:
        with self._transaction():
            self._run(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                      (entry.entry_id, to_us(entry.at), entry.who, entry.action, entry.target,
                       json.dumps(dict(entry.details), sort_keys=True, default=str)))

    def audit_log(self, *, limit: int | None = None, offset: int = 0) -> list[AuditEntry]:
        """Newest first."""
        sql = f"SELECT {_COLUMNS} FROM audit_log ORDER BY at DESC, entry_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [AuditEntry(who, action, target, json.loads(details), from_us(int(at)), entry_id)
                for entry_id, at, who, action, target, details in self._run(sql)]
